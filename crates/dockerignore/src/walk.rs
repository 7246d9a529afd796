//! A build context walked the way builds see it: sorted by name, a directory before its
//! entries, `.dockerignore` and follow paths applied with BuildKit's rules, whole subtrees
//! skipped where nothing below can be included. The one definition of what a context
//! holds, shared by the worker's local sync and a daemon's client listing its files.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{DirPruner, Error as PatternError, MatchInfo, PatternMatcher};

/// Why walking a context failed.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A `.dockerignore` pattern is invalid.
    #[error("invalid .dockerignore: {0}")]
    Pattern(#[source] PatternError),
    /// An entry could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The entry.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl WalkError {
    fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The context paths a build reads (BuildKit's follow paths), as matchers.
struct FollowPaths {
    full: Vec<PatternMatcher>,
    /// For each path, matchers of its leading components (`sub/*` for `sub/*/leaf`), to
    /// know which directories lead to a match.
    prefixes: Vec<Vec<PatternMatcher>>,
    /// Paths with a `**` component, which any directory below that point may lead to.
    double_star_at: Vec<usize>,
}

impl FollowPaths {
    fn new(raw: &[String]) -> Self {
        let mut full = Vec::new();
        let mut prefixes = Vec::new();
        let mut double_star_at = Vec::new();
        for path in raw {
            let path = path.trim_start_matches("./").trim_start_matches('/');
            if let Ok(m) = PatternMatcher::new([path]) {
                full.push(m);
            }
            let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            if let Some(i) = components.iter().position(|c| *c == "**") {
                double_star_at.push(i);
            }
            prefixes.push(
                (1..components.len())
                    .filter_map(|k| PatternMatcher::new([components[..k].join("/")]).ok())
                    .collect(),
            );
        }
        Self {
            full,
            prefixes,
            double_star_at,
        }
    }

    fn is_empty(&self) -> bool {
        self.full.is_empty() && self.prefixes.is_empty()
    }

    /// Whether `rel` is needed: it matches a path (or is below a match), or it is a
    /// directory on the way to one.
    fn needs(&self, rel: &str, is_dir: bool) -> bool {
        if self.is_empty()
            || self
                .full
                .iter()
                .any(|m| m.matches_or_parent_matches(rel).unwrap_or(false))
        {
            return true;
        }
        if !is_dir {
            return false;
        }
        let depth = rel.split('/').count();
        // A `**` matches any number of directories, so every directory at or below its
        // position may lead to a match.
        if self.double_star_at.iter().any(|&i| i < depth) {
            return true;
        }
        self.prefixes.iter().any(|p| {
            p.get(depth - 1)
                .is_some_and(|m| m.matches_or_parent_matches(rel).unwrap_or(false))
        })
    }
}

/// What the context filter decides for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Part of the synced context.
    Include,
    /// Not part of it, but entries below it may be.
    Skip,
    /// Neither it nor anything below it.
    SkipSubtree,
}

/// `.dockerignore` and follow paths, applied to entries in walk order (a directory before
/// its contents): the one definition of what a synced context holds, whether its files
/// are walked here or listed by a remote client.
pub struct ContextFilter {
    ignore: PatternMatcher,
    pruner: DirPruner,
    follow: FollowPaths,
    infos: BTreeMap<String, MatchInfo>,
}

impl ContextFilter {
    /// A filter for `.dockerignore` patterns and follow paths (empty: everything).
    pub fn new(excludes: &[String], follow_paths: &[String]) -> Result<Self, WalkError> {
        let ignore = PatternMatcher::new(excludes).map_err(WalkError::Pattern)?;
        Ok(Self {
            pruner: DirPruner::new(&ignore),
            ignore,
            follow: FollowPaths::new(follow_paths),
            infos: BTreeMap::new(),
        })
    }

    /// The decision for `rel`, given in walk order (a directory before its entries).
    pub fn decide(&mut self, rel: &str, is_dir: bool) -> Result<Decision, WalkError> {
        let parent_info = Path::new(rel)
            .parent()
            .and_then(|p| self.infos.get(p.to_string_lossy().as_ref()))
            .cloned()
            .unwrap_or_default();
        let (ignored, info) = self
            .ignore
            .matches_using_parent_results(rel, &parent_info)
            .map_err(WalkError::Pattern)?;
        if is_dir {
            self.infos.insert(rel.to_owned(), info);
        }
        if ignored {
            let prunable = is_dir && self.pruner.can_skip(rel);
            return Ok(if prunable {
                Decision::SkipSubtree
            } else {
                Decision::Skip
            });
        }
        if !self.follow.needs(rel, is_dir) {
            return Ok(if is_dir {
                Decision::SkipSubtree
            } else {
                Decision::Skip
            });
        }
        Ok(Decision::Include)
    }
}

/// Directories a filter skipped but whose entries may still be included (`docs`
/// ignored, `!docs/keep.md` re-included). BuildKit's file sync sends such a directory,
/// with its own metadata, just before the first entry below it that is included; a
/// directory left without one is not sent.
pub struct SkippedParents<T> {
    stack: Vec<(String, T)>,
}

impl<T> Default for SkippedParents<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> SkippedParents<T> {
    /// Nothing skipped yet.
    pub fn new() -> Self {
        Self { stack: Vec::new() }
    }

    /// Called with every entry in walk order, before its decision: forgets skipped
    /// directories whose subtree the walk has left.
    pub fn enter(&mut self, rel: &str) {
        while self
            .stack
            .last()
            .is_some_and(|(dir, _)| !is_below(rel, dir))
        {
            self.stack.pop();
        }
    }

    /// Remembers a directory the filter skipped.
    pub fn skip(&mut self, rel: &str, item: T) {
        self.stack.push((rel.to_owned(), item));
    }

    /// The skipped directories above an included entry, outermost first; each is
    /// handed out once.
    pub fn include(&mut self) -> std::vec::Drain<'_, (String, T)> {
        self.stack.drain(..)
    }
}

/// Whether `rel` lies below the directory `dir`.
fn is_below(rel: &str, dir: &str) -> bool {
    rel.len() > dir.len() && rel.starts_with(dir) && rel.as_bytes()[dir.len()] == b'/'
}

/// Walks `root` in the order builds see a context (sorted by name, a directory before
/// its entries) and calls `visit` with the path below `root`, the full path and the
/// entry's own metadata (links not followed) for every entry `filter` includes, and for
/// every skipped directory above an included entry (see [`SkippedParents`]), skipping
/// whole subtrees where it can. Local syncs and a daemon's client list contexts with it.
pub fn walk_filtered<E: From<WalkError>>(
    root: &Path,
    filter: &mut ContextFilter,
    mut visit: impl FnMut(&str, &Path, &fs::Metadata) -> Result<(), E>,
) -> Result<(), E> {
    let mut walker = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    let mut skipped = SkippedParents::new();
    while let Some(entry) = walker.next() {
        let entry = entry.map_err(|e| WalkError::io(root, io::Error::other(e.to_string())))?;
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        skipped.enter(&rel);
        let is_dir = entry.file_type().is_dir();
        match filter.decide(&rel, is_dir)? {
            Decision::Include => {}
            Decision::Skip => {
                if is_dir {
                    skipped.skip(&rel, entry.path().to_path_buf());
                }
                continue;
            }
            Decision::SkipSubtree => {
                walker.skip_current_dir();
                continue;
            }
        }
        for (dir, path) in skipped.include() {
            let meta = path
                .symlink_metadata()
                .map_err(|e| WalkError::io(&path, e))?;
            visit(&dir, &path, &meta)?;
        }
        let meta = entry
            .path()
            .symlink_metadata()
            .map_err(|e| WalkError::io(entry.path(), e))?;
        visit(&rel, entry.path(), &meta)?;
    }
    Ok(())
}
