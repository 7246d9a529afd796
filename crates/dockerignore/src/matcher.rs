//! The ordered list of patterns from an ignore file and the rules for testing
//! paths against it, ported from moby/patternmatcher.
//!
//! Patterns are evaluated in order and the last one that matches decides: a
//! plain pattern excludes, a `!` pattern re-includes. A pattern matches a path
//! when it matches the path itself or any of its parent directories.

use crate::clean::{clean, dir, prefixes};
use crate::pattern::Pattern;
use crate::{Error, glob};

/// A compiled list of ignore patterns.
///
/// Paths passed to the matching methods are slash-separated and relative to
/// the build context, e.g. `src/main.rs`.
#[derive(Clone, Debug, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

/// Per-pattern results for a directory, handed back to
/// [`PatternMatcher::matches_using_parent_results`] for its entries so that a
/// top-down walk never re-tests parent directories.
///
/// The default value carries no information; the matcher then tests the
/// parents itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchInfo {
    /// Number of patterns covered; zero means "no information".
    len: usize,
    bits: Bits,
}

/// A fixed-size bit set that stays inline for up to 64 patterns, so a walk
/// over a typical context allocates nothing per path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Bits {
    Inline(u64),
    Heap(Box<[u64]>),
}

impl Default for Bits {
    fn default() -> Self {
        Bits::Inline(0)
    }
}

impl MatchInfo {
    fn new(len: usize) -> Self {
        let bits = if len <= 64 {
            Bits::Inline(0)
        } else {
            Bits::Heap(vec![0; len.div_ceil(64)].into_boxed_slice())
        };
        MatchInfo { len, bits }
    }

    fn get(&self, i: usize) -> bool {
        let word = match &self.bits {
            Bits::Inline(w) if i < 64 => *w,
            Bits::Inline(_) => 0,
            Bits::Heap(words) => words.get(i / 64).copied().unwrap_or(0),
        };
        word & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: usize) {
        match &mut self.bits {
            Bits::Inline(w) if i < 64 => *w |= 1 << i,
            Bits::Inline(_) => {}
            Bits::Heap(words) => {
                if let Some(w) = words.get_mut(i / 64) {
                    *w |= 1 << (i % 64);
                }
            }
        }
    }
}

impl PatternMatcher {
    /// Builds a matcher from patterns as produced by
    /// [`read_ignore_file`](crate::read_ignore_file) (or given directly).
    ///
    /// Each pattern is trimmed, skipped if empty, and cleaned like a Go path
    /// *before* a leading `!` is looked at, exactly as patternmatcher does.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalExclusion`] for a lone `!`, and [`Error::BadPattern`]
    /// for a pattern that is not a valid Go glob. A pattern that is a valid
    /// glob but translates to an invalid regular expression is accepted here
    /// and reported by the matching methods, as in Go.
    pub fn new<I, S>(patterns: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut matcher = PatternMatcher::default();
        for raw in patterns {
            let trimmed = raw.as_ref().trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = clean(trimmed);
            let (exclusion, text) = match cleaned.strip_prefix('!') {
                Some("") => return Err(Error::IllegalExclusion),
                Some(rest) => (true, rest),
                None => (false, cleaned.as_ref()),
            };
            glob::check(text).map_err(|reason| Error::BadPattern {
                pattern: text.to_owned(),
                reason: reason.to_owned(),
            })?;
            matcher.exclusions |= exclusion;
            matcher
                .patterns
                .push(Pattern::new(text.to_owned(), exclusion));
        }
        Ok(matcher)
    }

    /// The patterns, in evaluation order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether any pattern is an exclusion (`!`) pattern. Without one, nothing
    /// below an ignored directory can be re-included, so a walker may skip it.
    pub fn exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `path` is ignored: the last pattern matching the path or one of
    /// its parent directories decides.
    ///
    /// # Errors
    ///
    /// [`Error::BadPattern`] or [`Error::Regex`] when a pattern whose regular
    /// expression is invalid has to be evaluated for this path.
    pub fn matches_or_parent_matches(&self, path: &str) -> Result<bool, Error> {
        let mut parent = None;
        let mut matched = false;
        for pattern in &self.patterns {
            // An exclusion can only undo a match and a plain pattern can only
            // create one, so the others need not be evaluated.
            if pattern.exclusion() != matched {
                continue;
            }
            let tester = pattern.tester()?;
            let hit = tester.is_match(path) || {
                let parent = parent.get_or_insert_with(|| dir(path));
                parent.as_ref() != "." && prefixes(parent).any(|prefix| tester.is_match(prefix))
            };
            if hit {
                matched = !pattern.exclusion();
            }
        }
        Ok(matched)
    }

    /// Like [`matches_or_parent_matches`](Self::matches_or_parent_matches),
    /// but reuses the per-pattern results of the parent directory instead of
    /// re-testing every ancestor. Returns whether `path` is ignored and the
    /// results to pass in for `path`'s own entries if it is a directory.
    ///
    /// Pass `MatchInfo::default()` for a path whose parent was not visited (a
    /// top-level entry, or a path tested out of walk order).
    ///
    /// Like patternmatcher, a pattern that was skipped while evaluating the
    /// parent counts as not having matched it, so with `!` patterns present a
    /// walk can disagree with `matches_or_parent_matches`; BuildKit's context
    /// transfer walks, so this is the behaviour to follow for a walk.
    ///
    /// # Errors
    ///
    /// [`Error::MatchInfoMismatch`] if `parent` came from a matcher with a
    /// different number of patterns, and the errors of
    /// [`matches_or_parent_matches`](Self::matches_or_parent_matches).
    pub fn matches_using_parent_results(
        &self,
        path: &str,
        parent: &MatchInfo,
    ) -> Result<(bool, MatchInfo), Error> {
        let known = parent.len != 0;
        if known && parent.len != self.patterns.len() {
            return Err(Error::MatchInfoMismatch {
                expected: self.patterns.len(),
                actual: parent.len,
            });
        }
        let mut info = MatchInfo::new(self.patterns.len());
        let mut parent_dir = None;
        let mut matched = false;
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = known && parent.get(i);
            if !hit {
                if pattern.exclusion() != matched {
                    continue;
                }
                let tester = pattern.tester()?;
                hit = tester.is_match(path);
                if !hit && !known {
                    let parent_dir = parent_dir.get_or_insert_with(|| dir(path));
                    hit = parent_dir.as_ref() != "."
                        && prefixes(parent_dir).any(|prefix| tester.is_match(prefix));
                }
            }
            if hit {
                info.set(i);
                matched = !pattern.exclusion();
            }
        }
        Ok((matched, info))
    }
}
