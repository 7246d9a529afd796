//! Lexical path cleaning with the exact rules of Go's `path.Clean` and
//! `filepath.Dir` on Unix, which patternmatcher applies to patterns and to the
//! parents of tested paths.

use std::borrow::Cow;

/// Returns the shortest path equivalent to `path` by purely lexical processing:
/// repeated slashes collapse, `.` elements vanish, `..` removes the element
/// before it (and is dropped right after the root), a trailing slash goes, and
/// an empty result becomes `"."`.
///
/// Borrows when `path` is already clean, which is the common case for paths
/// produced by a directory walk.
pub(crate) fn clean(path: &str) -> Cow<'_, str> {
    if is_clean(path) {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(clean_slow(path))
    }
}

/// Returns everything but the last element of `path`, cleaned; `"."` when there
/// is no slash at all.
pub(crate) fn dir(path: &str) -> Cow<'_, str> {
    match path.rfind('/') {
        // A trailing slash is an empty element that cleaning drops anyway, so
        // leaving it out keeps already-clean parents borrowed.
        Some(0) => Cow::Borrowed("/"),
        Some(i) => clean(&path[..i]),
        None => Cow::Borrowed("."),
    }
}

/// Yields every prefix of `dir` that ends just before a `/`, then `dir` itself:
/// the same strings as joining the first 1, 2, … elements of `dir` split on `/`.
pub(crate) fn prefixes(dir: &str) -> impl Iterator<Item = &str> {
    dir.match_indices('/')
        .map(move |(i, _)| &dir[..i])
        .chain(std::iter::once(dir))
}

/// Whether `clean` would return `path` unchanged.
fn is_clean(path: &str) -> bool {
    if path.is_empty() {
        return false;
    }
    if path == "/" || path == "." {
        return true;
    }
    if path.ends_with('/') {
        return false;
    }
    // A leading slash is the root, not an empty element.
    let body = path.strip_prefix('/').unwrap_or(path);
    body.split('/')
        .all(|elem| !elem.is_empty() && elem != "." && elem != "..")
        // Without a root, leading `..` elements are kept verbatim by Go, so a
        // relative path made of `..`s followed by normal names is still clean.
        || (!path.starts_with('/') && leading_dotdots_then_names(body))
}

/// True for `../../a/b`-shaped relative paths, which cleaning leaves alone.
fn leading_dotdots_then_names(body: &str) -> bool {
    let mut seen_name = false;
    for elem in body.split('/') {
        match elem {
            "" | "." => return false,
            ".." if seen_name => return false,
            ".." => {}
            _ => seen_name = true,
        }
    }
    true
}

fn clean_slow(path: &str) -> String {
    let bytes = path.as_bytes();
    let n = bytes.len();
    let rooted = bytes.first() == Some(&b'/');
    let mut out = String::with_capacity(n);
    // `floor` is the length of `out` that `..` may not backtrack past: the root
    // slash, or a run of leading `..` elements in a relative path.
    let mut floor = 0;
    let mut r = 0;
    if rooted {
        out.push('/');
        r = 1;
        floor = 1;
    }
    while r < n {
        let rest = &bytes[r..];
        let elem_end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        let elem = &path[r..r + elem_end];
        match elem {
            "" | "." => r += elem_end.max(1),
            ".." => {
                r += 2;
                if out.len() > floor {
                    let keep = out[floor..].rfind('/').map_or(floor, |i| floor + i);
                    out.truncate(keep);
                } else if !rooted {
                    if !out.is_empty() {
                        out.push('/');
                    }
                    out.push_str("..");
                    floor = out.len();
                }
            }
            _ => {
                if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                    out.push('/');
                }
                out.push_str(elem);
                r += elem_end;
            }
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, Go's `filepath.Clean`, Go's `filepath.Dir`), checked against Go.
    const CASES: &[(&str, &str, &str)] = &[
        ("", ".", "."),
        ("abc", "abc", "."),
        ("abc/def", "abc/def", "abc"),
        ("a/b/c", "a/b/c", "a/b"),
        (".", ".", "."),
        ("..", "..", "."),
        ("../..", "../..", ".."),
        ("../../abc", "../../abc", "../.."),
        ("/abc", "/abc", "/"),
        ("/", "/", "/"),
        ("abc/", "abc", "abc"),
        ("a/b/c/", "a/b/c", "a/b/c"),
        ("/abc/", "/abc", "/abc"),
        ("abc//def//ghi", "abc/def/ghi", "abc/def"),
        ("//abc", "/abc", "/"),
        ("///abc", "/abc", "/"),
        ("//abc//", "/abc", "/abc"),
        ("abc//", "abc", "abc"),
        ("abc/./def", "abc/def", "abc"),
        ("/./abc/def", "/abc/def", "/abc"),
        ("abc/.", "abc", "abc"),
        ("abc/def/ghi/../jkl", "abc/def/jkl", "abc/def"),
        ("abc/def/../ghi/../jkl", "abc/jkl", "abc"),
        ("abc/def/..", "abc", "abc/def"),
        ("abc/def/../..", ".", "abc"),
        ("/abc/def/../..", "/", "/abc"),
        ("abc/def/../../..", "..", "."),
        ("/abc/def/../../..", "/", "/"),
        (
            "abc/def/../../../ghi/jkl/../../../mno",
            "../../mno",
            "../..",
        ),
        ("abc/./../def", "def", "."),
        ("abc//./../def", "def", "."),
        ("abc/../../././../def", "../../def", "../.."),
        ("!/", "!", "!"),
        ("!./", "!.", "!."),
        ("./", ".", "."),
        ("/..", "/", "/"),
        ("a/../..", "..", "."),
        ("../a/..", "..", "../a"),
        ("!foo/../bar", "bar", "."),
        ("..a/b", "..a/b", "..a"),
        ("a/..b/../c", "a/c", "a"),
        ("é//ü/./", "é/ü", "é/ü"),
        ("...", "...", "."),
        ("a/.../b", "a/.../b", "a/..."),
    ];

    #[test]
    fn clean_and_dir_match_go() {
        for &(input, cleaned, parent) in CASES {
            assert_eq!(clean(input), cleaned, "clean({input:?})");
            assert_eq!(dir(input), parent, "dir({input:?})");
        }
    }

    #[test]
    fn clean_paths_are_borrowed() {
        for path in [
            "a",
            "a/b/c",
            "/",
            "/a/b",
            ".",
            "..",
            "../../a/b",
            "a/...",
            "é/ü",
        ] {
            assert!(matches!(clean(path), Cow::Borrowed(_)), "{path:?}");
        }
        assert!(matches!(dir("a/b/c"), Cow::Borrowed("a/b")));
    }

    #[test]
    fn prefixes_are_the_joined_leading_elements() {
        let cases: &[(&str, &[&str])] = &[
            ("a", &["a"]),
            ("a/b/c", &["a", "a/b", "a/b/c"]),
            ("/a", &["", "/a"]),
            ("/", &["", "/"]),
            ("../x", &["..", "../x"]),
        ];
        for &(input, expected) in cases {
            assert_eq!(prefixes(input).collect::<Vec<_>>(), expected, "{input:?}");
        }
    }
}
