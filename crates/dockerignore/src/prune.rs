//! When a walker may skip an ignored directory altogether, following the rule
//! BuildKit's context transfer (tonistiigi/fsutil) applies.
//!
//! An ignored directory must still be walked if a `!` pattern might re-include
//! something inside it. fsutil only trusts a cheap prefix test for that when
//! every `!` pattern is a plain path (optionally ending in `/*` or `/**`);
//! otherwise it walks every ignored directory.

use crate::PatternMatcher;

/// Characters that make a `!` pattern more than a plain path (Unix set).
const GLOB_CHARS: &[char] = &['*', '[', ']', '?', '^', '\\'];

/// Decides, for a directory the matcher ignores, whether its contents can be
/// skipped without losing anything a `!` pattern would bring back.
#[derive(Clone, Debug)]
pub struct DirPruner {
    /// Whether every `!` pattern is a plain path, so the prefix test is exact
    /// enough to rely on.
    only_plain_exceptions: bool,
    /// Whether there is any `!` pattern at all.
    exclusions: bool,
    /// Each `!` pattern without a trailing `/*` or `/**`, followed by `/`.
    exception_dirs: Vec<String>,
}

impl DirPruner {
    /// Precomputes the decision data for `matcher`.
    pub fn new(matcher: &PatternMatcher) -> Self {
        let exception_dirs: Vec<String> = matcher
            .patterns()
            .iter()
            .filter(|p| p.exclusion())
            .map(|p| format!("{}/", without_trailing_glob(p.as_str())))
            .collect();
        let only_plain_exceptions = exception_dirs
            .iter()
            .all(|d| !d[..d.len() - 1].contains(GLOB_CHARS));
        DirPruner {
            only_plain_exceptions,
            exclusions: matcher.exclusions(),
            exception_dirs,
        }
    }

    /// Whether a walker may skip everything below `dir`, a directory the
    /// matcher reported as ignored. `dir` is slash-separated and relative to
    /// the context root, without a trailing slash.
    pub fn can_skip(&self, dir: &str) -> bool {
        if !self.only_plain_exceptions {
            return false;
        }
        if !self.exclusions {
            return true;
        }
        !self.exception_dirs.iter().any(|exception| {
            exception.starts_with(dir) && exception.as_bytes().get(dir.len()) == Some(&b'/')
        })
    }
}

/// Drops one trailing `/**`, then one trailing `/*`, as fsutil does.
fn without_trailing_glob(pattern: &str) -> &str {
    let p = pattern.strip_suffix("/**").unwrap_or(pattern);
    p.strip_suffix("/*").unwrap_or(p)
}
