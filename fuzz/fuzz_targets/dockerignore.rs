//! Fuzzes ignore-file parsing and path matching. The input is an ignore file,
//! a NUL byte, then NUL-separated paths; the target checks properties that
//! patternmatcher's semantics guarantee rather than comparing with Go.

#![no_main]

use hearth_dockerignore::{DirPruner, Error, MatchInfo, PatternMatcher, read_ignore_file};
use libfuzzer_sys::fuzz_target;

/// Keeps regex compilation cheap: a long line of `?{1000}` is legal but slow.
const MAX_IGNORE_FILE: usize = 512;
const MAX_PATHS: usize = 8;
const MAX_PATH_LEN: usize = 128;

fuzz_target!(|data: &[u8]| {
    let (file, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if file.len() > MAX_IGNORE_FILE {
        return;
    }
    let Ok(patterns) = read_ignore_file(file) else {
        return;
    };
    let Ok(matcher) = PatternMatcher::new(&patterns) else {
        return;
    };
    let pruner = DirPruner::new(&matcher);
    let plain_exceptions = matcher
        .patterns()
        .iter()
        .filter(|p| p.exclusion())
        .all(|p| is_plain(p.as_str()));

    for raw in rest.split(|&b| b == 0).take(MAX_PATHS) {
        if raw.len() > MAX_PATH_LEN {
            continue;
        }
        let path = String::from_utf8_lossy(raw);
        check_path(&matcher, &path);
        let clean: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != "." && *c != "..")
            .collect();
        if !clean.is_empty() {
            check_walk(&matcher, &pruner, plain_exceptions, &clean);
        }
    }
});

/// Properties of a single, arbitrary path.
fn check_path(matcher: &PatternMatcher, path: &str) {
    let full = matcher.matches_or_parent_matches(path);
    no_engine_error(&full);
    // Without parent information the walking API falls back to exactly the
    // same evaluation.
    let no_context = matcher
        .matches_using_parent_results(path, &MatchInfo::default())
        .map(|(ignored, _)| ignored);
    assert_eq!(full.ok(), no_context.ok(), "path {path:?}");
}

/// Walks the components of a clean relative path top-down.
fn check_walk(
    matcher: &PatternMatcher,
    pruner: &DirPruner,
    plain_exceptions: bool,
    parts: &[&str],
) {
    let mut info = MatchInfo::default();
    let mut prefix = String::new();
    // (depth, walker result) of the first ignored directory the pruner
    // would let a walker skip.
    let mut skipped_at: Option<usize> = None;
    for (depth, part) in parts.iter().enumerate() {
        if depth > 0 {
            prefix.push('/');
        }
        prefix.push_str(part);
        let walked = matcher.matches_using_parent_results(&prefix, &info);
        no_engine_error(&walked);
        let Ok((ignored, next)) = walked else {
            return;
        };
        info = next;
        let full = matcher.matches_or_parent_matches(&prefix);
        if !matcher.exclusions() {
            // With nothing to re-include, skipping never happens in a way
            // that matters: the walk agrees with the full evaluation, and an
            // ignored directory hides everything below it.
            assert_eq!(full.ok(), Some(ignored), "walk vs full at {prefix:?}");
        }
        if let Some(at) = skipped_at {
            assert!(
                ignored,
                "{prefix:?} re-included below skippable {:?}",
                parts[..=at].join("/")
            );
        }
        if ignored && skipped_at.is_none() && plain_exceptions && pruner.can_skip(&prefix) {
            skipped_at = Some(depth);
        }
        if !matcher.exclusions() && ignored {
            assert!(
                pruner.can_skip(&prefix),
                "no exclusions, yet {prefix:?} is not skippable"
            );
        }
    }
}

/// Exception patterns the pruner's prefix test is meant for: plain path
/// characters, optionally followed by `/*` or `/**`. Characters such as `|`
/// or `{` turn the Go regex into something a prefix test cannot reason about.
fn is_plain(pattern: &str) -> bool {
    let base = pattern.strip_suffix("/**").unwrap_or(pattern);
    let base = base.strip_suffix("/*").unwrap_or(base);
    base.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'))
}

/// The translation into Rust regex syntax must always be accepted by the
/// regex engine; inputs are far too small to hit its size limit.
fn no_engine_error<T>(result: &Result<T, Error>) {
    if let Err(err @ Error::Regex { .. }) = result {
        panic!("translated pattern rejected by the regex engine: {err}");
    }
}
