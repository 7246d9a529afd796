//! Behaviour of the matcher, ported from moby/patternmatcher's test suite as
//! tables, plus the quirks found by comparing against the Go code.

// Shared helpers sit outside `#[test]` functions, where clippy's test
// exemption does not reach; a panic in them is still just a failed test.
#![allow(clippy::unwrap_used)]

use hearth_dockerignore::{DirPruner, Error, MatchInfo, PatternMatcher};

/// Evaluates `path` the way a top-down walk does: every ancestor first, each
/// feeding its results to the next.
fn walk(matcher: &PatternMatcher, path: &str) -> Result<bool, Error> {
    let mut info = MatchInfo::default();
    if let Some(end) = path.rfind('/') {
        let parent = &path[..end];
        for (i, _) in parent.match_indices('/').chain([(parent.len(), "")]) {
            info = matcher.matches_using_parent_results(&parent[..i], &info)?.1;
        }
    }
    Ok(matcher.matches_using_parent_results(path, &info)?.0)
}

/// Asserts one row through every matching entry point.
fn check(patterns: &[&str], path: &str, expected: bool) {
    let matcher = PatternMatcher::new(patterns).unwrap();
    let ctx = format!("patterns {patterns:?}, path {path:?}");
    assert_eq!(
        matcher.matches_or_parent_matches(path).unwrap(),
        expected,
        "full: {ctx}"
    );
    let (no_context, _) = matcher
        .matches_using_parent_results(path, &MatchInfo::default())
        .unwrap();
    assert_eq!(no_context, expected, "without parent info: {ctx}");
    assert_eq!(walk(&matcher, path).unwrap(), expected, "walk: {ctx}");
}

#[test]
fn single_patterns() {
    let rows: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("a\\*b", "a*b", true),
    ];
    for &(pattern, path, expected) in rows {
        check(&[pattern], path, expected);
    }
}

#[test]
fn pattern_lists() {
    let rows: &[(&[&str], &str, bool)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (
            &[
                "**",
                "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            ],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        (
            &["**", "!dist/*.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        // The last matching rule wins, whichever way round.
        (&["*"], "fileutils.go", true),
        (&["*.go"], "fileutils.go", true),
        (&["!fileutils.go", "*.go"], "fileutils.go", true),
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&["docs", "!docs/README.md"], "docs/other.md", true),
        (&["*.go"], ".", false),
        (&[], "any/path/there", false),
        // A pattern that matches a parent directory matches everything below.
        (&["target"], "target/debug/build/x.o", true),
        (&["a/b"], "a/b/c/d", true),
        (&["a/b"], "a/bc", false),
    ];
    for &(patterns, path, expected) in rows {
        check(patterns, path, expected);
    }
}

/// Cases from Go's own `filepath.Match` tests, which patternmatcher reuses.
#[test]
fn go_filepath_match_cases() {
    let rows: &[(&str, &str, bool)] = &[
        ("abc", "abc", true),
        ("*", "abc", true),
        ("*c", "abc", true),
        ("a*", "a", true),
        ("a*", "abc", true),
        ("a*", "ab/c", true),
        ("a*/b", "abc/b", true),
        ("a*/b", "a/c/b", false),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true),
        ("a*b?c*x", "abxbbxdbxebxczzy", false),
        ("ab[c]", "abc", true),
        ("ab[b-d]", "abc", true),
        ("ab[e-g]", "abc", false),
        ("ab[^c]", "abc", false),
        ("ab[^b-d]", "abc", false),
        ("ab[^e-g]", "abc", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "ab", false),
        ("a?b", "a☺b", true),
        ("a[^a]b", "a☺b", true),
        ("a???b", "a☺b", false),
        ("a[^a][^a][^a]b", "a☺b", false),
        ("[a-ζ]*", "α", true),
        ("*[a-ζ]", "A", false),
        ("a?b", "a/b", false),
        ("a*b", "a/b", false),
        ("[\\]a]", "]", true),
        ("[\\-]", "-", true),
        ("[x\\-]", "x", true),
        ("[x\\-]", "-", true),
        ("[x\\-]", "z", false),
        ("[\\-x]", "x", true),
        ("[\\-x]", "-", true),
        ("[\\-x]", "a", false),
        ("*x", "xxx", true),
    ];
    for &(pattern, path, expected) in rows {
        check(&[pattern], path, expected);
    }
}

#[test]
fn malformed_globs_are_rejected_up_front() {
    let patterns = [
        "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "a/b\\",
        // The whole pattern is checked, not just what matching "." needed.
        "x[",
    ];
    for pattern in patterns {
        let err = PatternMatcher::new([pattern]).unwrap_err();
        assert!(
            matches!(&err, Error::BadPattern { pattern: p, .. } if p == pattern),
            "{pattern:?}: {err}"
        );
        assert!(
            err.to_string().starts_with("syntax error in pattern"),
            "{err}"
        );
    }
}

#[test]
fn lone_exclamation_mark_is_an_error() {
    // Cleaning happens before the `!` is looked at, so `!/` is a lone `!`.
    for patterns in [&["!"][..], &["docs", "!"], &["!/"], &["  !  "]] {
        let err = PatternMatcher::new(patterns).unwrap_err();
        assert!(matches!(err, Error::IllegalExclusion), "{patterns:?}");
        assert_eq!(err.to_string(), "illegal exclusion pattern: \"!\"");
    }
}

#[test]
fn patterns_are_trimmed_cleaned_and_flagged() {
    // (input, cleaned patterns with their exclusion flag, any exclusions)
    type Row<'a> = (&'a [&'a str], &'a [(&'a str, bool)], bool);
    let rows: &[Row<'_>] = &[
        (
            &["docs", "config"],
            &[("docs", false), ("config", false)],
            false,
        ),
        (
            &["docs", "config", ""],
            &[("docs", false), ("config", false)],
            false,
        ),
        (
            &["docs", "!docs/README.md"],
            &[("docs", false), ("docs/README.md", true)],
            true,
        ),
        (
            &["docs", "  !docs/README.md"],
            &[("docs", false), ("docs/README.md", true)],
            true,
        ),
        (
            &["docs", "!docs/README.md  "],
            &[("docs", false), ("docs/README.md", true)],
            true,
        ),
        (
            &["  ", "\t", "a//b/./c/", "x/../y"],
            &[("a/b/c", false), ("y", false)],
            false,
        ),
        // The whole line is cleaned first, so `!foo/..` eats the `!` along
        // with `foo`, and `! x` keeps its space after the `!`.
        (&["!foo/../bar"], &[("bar", false)], false),
        (&["! x"], &[(" x", true)], true),
        (&["/abs"], &[("/abs", false)], false),
    ];
    for &(input, expected, exclusions) in rows {
        let matcher = PatternMatcher::new(input).unwrap();
        let got: Vec<(String, bool)> = matcher
            .patterns()
            .iter()
            .map(|p| (p.to_string(), p.exclusion()))
            .collect();
        let want: Vec<(String, bool)> = expected.iter().map(|&(s, e)| (s.to_owned(), e)).collect();
        assert_eq!(got, want, "{input:?}");
        assert_eq!(matcher.exclusions(), exclusions, "{input:?}");
    }
}

#[test]
fn invalid_regex_is_reported_only_when_evaluated() {
    // `l-O` is a valid glob range but not a valid regex range.
    let matcher = PatternMatcher::new(["[Local-Only]/"]).unwrap();
    for _ in 0..2 {
        let err = matcher.matches_or_parent_matches("x").unwrap_err();
        assert!(
            matches!(&err, Error::BadPattern { pattern, .. } if pattern == "[Local-Only]"),
            "{err}"
        );
        assert!(matches!(
            matcher.matches_using_parent_results("x", &MatchInfo::default()),
            Err(Error::BadPattern { .. })
        ));
    }

    // Once an earlier pattern has matched, a later plain pattern is skipped
    // and its error never surfaces; an exclusion is skipped until something
    // matched.
    let rows: &[(&[&str], &str, Option<bool>)] = &[
        (&["*", "[z-a]*"], "x", Some(true)),
        (&["*", "[z-a]*"], "a/b", Some(true)),
        (&["[z-a]*", "*"], "x", None),
        (&["!x[z-a]"], "x", Some(false)),
        (&["*", "!x[z-a]"], "x", None),
        (&["[[:foo:]]"], "a", None),
        (&["\\q*"], "a", None),
    ];
    for &(patterns, path, expected) in rows {
        let matcher = PatternMatcher::new(patterns).unwrap();
        let got = matcher.matches_or_parent_matches(path).ok();
        assert_eq!(got, expected, "{patterns:?} on {path:?}");
        assert_eq!(
            walk(&matcher, path).ok(),
            expected,
            "walk: {patterns:?} on {path:?}"
        );
    }
}

/// Behaviour that follows from patternmatcher building a Go regex by plain
/// text substitution; every expectation here was checked against the Go code.
#[test]
fn regex_translation_quirks() {
    let rows: &[(&str, &str, bool)] = &[
        // `|` is not escaped: `a|b*` means "starts with a, or is b…".
        ("a|b*", "a", true),
        ("a|b*", "anything/else", true),
        ("a|b*", "bcd", true),
        ("a|b*", "c", false),
        // Without a wildcard the pattern is compared literally.
        ("a|b", "a|b", true),
        ("a|b", "a", false),
        // `{` and `}` are not escaped either: a counted repeat…
        ("x{2}*", "xx", true),
        ("x{2}*", "xxy", true),
        ("x{2}*", "x{2}", false),
        // …unless there is no wildcard.
        ("x{2}", "x{2}", true),
        ("x{2}", "xx", false),
        // Escapes become regex escapes.
        ("file\\d*", "file1", true),
        ("file\\d*", "filed", false),
        ("a\\b*", "a b", true),
        ("a\\b*", "ab", false),
        ("\\x41*", "A", true),
        ("\\x41*", "x41", false),
        // `\Q` quotes the rest of the regex, including what `*` became.
        ("\\Q*.go", "main.go", false),
        ("\\Q*.go", "[^/]*\\.go$", true),
        ("\\Q*.go", "[^/]*\\.go$more", true),
        // Wildcards are rewritten inside brackets too.
        ("[*]", "*", false),
        ("[*]", "]", true),
        ("[*]", "[[]", true),
        ("[?]", "?", false),
        ("[?]", "[]", true),
        // POSIX classes exist in the regex syntax.
        ("[[:alpha:]]", "a", true),
        ("[[:alpha:]]", ":", false),
        // `^` in the middle is an anchor that can never match there.
        ("a^b*", "a^b", false),
        // `?` and classes match a newline, `**` does not cross one.
        ("?", "\n", true),
        ("a*b", "a\nb", true),
        ("a**b", "a\nb", false),
        ("a**b", "a/c/b", true),
        // Non-ASCII characters are single characters.
        ("?", "é", true),
        ("?", "ab", false),
    ];
    for &(pattern, path, expected) in rows {
        check(&[pattern], path, expected);
    }
}

#[test]
fn byte_order_mark_inside_a_pattern() {
    // The regex compiler drops a leading U+FEFF; the literal comparisons
    // keep it; the `**` shortcut slices into it and so matches nothing real.
    check(&["\u{feff}a*"], "ab", true);
    check(&["\u{feff}a*"], "\u{feff}ab", false);
    check(&["\u{feff}ab"], "ab", false);
    check(&["\u{feff}ab"], "\u{feff}ab", true);
    check(&["\u{feff}**/foo"], "foo", false);
    check(&["\u{feff}**/foo"], "a/foo", false);
}

#[test]
fn paths_are_not_cleaned_but_their_parents_are() {
    let rows: &[(&[&str], &str, bool)] = &[
        (&["foo"], "/foo", false),
        (&["foo"], "foo/", true),
        (&["foo"], "./foo", false),
        (&["foo"], "foo/./bar", true),
        (&["foo"], "foo//bar", true),
        (&["/foo"], "/foo", true),
        (&["/foo"], "foo", false),
        (&["**"], "", true),
    ];
    for &(patterns, path, expected) in rows {
        let matcher = PatternMatcher::new(patterns).unwrap();
        assert_eq!(
            matcher.matches_or_parent_matches(path).unwrap(),
            expected,
            "{patterns:?} {path:?}"
        );
    }
}

#[test]
fn walk_can_disagree_with_full_match_when_exclusions_are_present() {
    // The second `x` is skipped while evaluating `x` (already matched), so
    // the walk does not know it matched the parent of `x/y`.
    let matcher = PatternMatcher::new(["x", "!x/y", "x"]).unwrap();
    assert!(matcher.matches_or_parent_matches("x/y").unwrap());
    assert!(!walk(&matcher, "x/y").unwrap());
    assert!(matcher.matches_or_parent_matches("x/y/z").unwrap());
    assert!(!walk(&matcher, "x/y/z").unwrap());
    assert!(walk(&matcher, "x").unwrap());
}

#[test]
fn walk_reuses_parent_results() {
    let matcher = PatternMatcher::new(["build", "!build/keep", "*.tmp"]).unwrap();
    let (ignored, build) = matcher
        .matches_using_parent_results("build", &MatchInfo::default())
        .unwrap();
    assert!(ignored);
    let (ignored, keep) = matcher
        .matches_using_parent_results("build/keep", &build)
        .unwrap();
    assert!(!ignored);
    // The parent's result for `build` carries over without re-testing it.
    let (ignored, _) = matcher
        .matches_using_parent_results("build/keep/a", &keep)
        .unwrap();
    assert!(!ignored);
    let (ignored, _) = matcher
        .matches_using_parent_results("build/other", &build)
        .unwrap();
    assert!(ignored);
    let (ignored, _) = matcher
        .matches_using_parent_results("x.tmp", &MatchInfo::default())
        .unwrap();
    assert!(ignored);
}

#[test]
fn match_info_from_another_matcher_is_rejected() {
    let two = PatternMatcher::new(["a", "b"]).unwrap();
    let three = PatternMatcher::new(["a", "b", "c"]).unwrap();
    let (_, info) = two
        .matches_using_parent_results("a", &MatchInfo::default())
        .unwrap();
    let err = three
        .matches_using_parent_results("a/x", &info)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MatchInfoMismatch {
                expected: 3,
                actual: 2
            }
        ),
        "{err}"
    );
    // A matcher without patterns returns empty info, which means "unknown".
    let empty = PatternMatcher::new(Vec::<String>::new()).unwrap();
    let (ignored, info) = empty
        .matches_using_parent_results("a", &MatchInfo::default())
        .unwrap();
    assert!(!ignored);
    assert_eq!(info, MatchInfo::default());
}

#[test]
fn many_patterns_spill_match_info_to_the_heap() {
    let mut patterns: Vec<String> = (0..100).map(|i| format!("p{i}")).collect();
    patterns.push("!p99/keep".to_owned());
    let matcher = PatternMatcher::new(&patterns).unwrap();
    let (ignored, info) = matcher
        .matches_using_parent_results("p99", &MatchInfo::default())
        .unwrap();
    assert!(ignored);
    let (ignored, _) = matcher
        .matches_using_parent_results("p99/keep", &info)
        .unwrap();
    assert!(!ignored);
    let (ignored, _) = matcher
        .matches_using_parent_results("p99/other", &info)
        .unwrap();
    assert!(ignored);
    let (ignored, _) = matcher
        .matches_using_parent_results("p7/x", &MatchInfo::default())
        .unwrap();
    assert!(ignored);
}

#[test]
fn pruner_follows_fsutil() {
    // (patterns, ignored directory, may the walker skip it)
    let rows: &[(&[&str], &str, bool)] = &[
        (&["docs"], "docs", true),
        (&["docs", "!other"], "docs", true),
        (&["docs", "!docs/README.md"], "docs", false),
        (&["docs", "!docs/keep/**"], "docs", false),
        (&["docs", "!docs/keep/**"], "docs/other", true),
        (&["docs", "!docs/keep/*"], "docs/keep", false),
        (&["docs", "!docs"], "docs", false),
        (&["docs", "!doc"], "docs", true),
        (&["docs", "!docsx/a"], "docs", true),
        // An exception with a wildcard could match anything: never skip.
        (&["docs", "!docs/*.md"], "docs", false),
        (&["docs", "!*.md"], "docs", false),
        (&["docs", "!other/[ab]"], "docs", false),
    ];
    for &(patterns, dir, expected) in rows {
        let matcher = PatternMatcher::new(patterns).unwrap();
        assert_eq!(
            DirPruner::new(&matcher).can_skip(dir),
            expected,
            "{patterns:?} {dir:?}"
        );
    }
}

#[test]
fn matcher_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<PatternMatcher>();
    shareable::<MatchInfo>();
}
