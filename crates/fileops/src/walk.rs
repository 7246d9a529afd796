//! The walk over one copy source, deciding what is selected. Copying and
//! checksumming share it, so a cache key covers exactly what a copy reads.
//!
//! It follows fsutil's `copier.copy`: entries are visited depth first in name order
//! and never through symlinks. The source itself is always selected; below it, with
//! include patterns an entry is selected if it matches one (a directory that matches
//! selects everything below it), and an entry matching an exclude pattern is not
//! selected. Directories that are not selected are still searched, because a pattern
//! like `a/*/c` selects `a/b/c` without selecting `a` or `a/b`; such a directory is
//! only created — just before its first selected descendant — and is then reported
//! to the visitor as a *parent*. Patterns are matched against the path relative to
//! the source with moby/patternmatcher's rules, each directory passing its results
//! down to its entries as patternmatcher's `MatchesUsingParentResults` does.

use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use hearth_dockerignore::{MatchInfo, PatternMatcher};

use crate::error::FileOpError;

/// One visited entry.
pub(crate) struct Node<'a> {
    /// Host path of the source entry.
    pub(crate) src: &'a Path,
    /// Path relative to the walked source; empty for the source itself.
    pub(crate) rel: &'a Path,
    /// `lstat` of the source entry.
    pub(crate) meta: &'a Metadata,
}

/// What a walk reports, in order.
pub(crate) trait Visitor {
    /// A directory that is not selected itself but is needed because something below
    /// it is; reported once, just before that first selected descendant.
    fn parent(&mut self, node: &Node<'_>) -> Result<(), FileOpError>;
    /// A selected directory, before its entries.
    fn enter_dir(&mut self, node: &Node<'_>) -> Result<(), FileOpError>;
    /// Any directory after its entries, and whether it was selected.
    fn leave_dir(&mut self, node: &Node<'_>, selected: bool) -> Result<(), FileOpError>;
    /// A selected non-directory.
    fn leaf(&mut self, node: &Node<'_>) -> Result<(), FileOpError>;
}

/// Include and exclude patterns, compiled.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    include: Option<PatternMatcher>,
    exclude: Option<PatternMatcher>,
}

impl Filter {
    /// Compiles the patterns; empty lists mean "no filter".
    ///
    /// # Errors
    ///
    /// A malformed pattern.
    pub(crate) fn new(include: &[String], exclude: &[String]) -> Result<Self, FileOpError> {
        let compile = |kind: &'static str, patterns: &[String]| {
            if patterns.is_empty() {
                return Ok(None);
            }
            PatternMatcher::new(patterns)
                .map(Some)
                .map_err(|source| FileOpError::Pattern {
                    kind,
                    patterns: patterns.to_vec(),
                    source,
                })
        };
        Ok(Self {
            include: compile("include", include)?,
            exclude: compile("exclude", exclude)?,
        })
    }

    /// Whether `rel` is selected, whether an exclude pattern matched it, and the match
    /// results to hand to its entries.
    fn decide(
        &self,
        rel: &str,
        parent_include: &MatchInfo,
        parent_exclude: &MatchInfo,
    ) -> Result<Decision, FileOpError> {
        let mut selected = true;
        let mut excluded = false;
        let mut include_info = MatchInfo::default();
        let mut exclude_info = MatchInfo::default();
        if let Some(include) = &self.include {
            let (hit, info) = include
                .matches_using_parent_results(rel, parent_include)
                .map_err(|source| self.pattern_error("include", source))?;
            selected = hit;
            include_info = info;
        }
        if let Some(exclude) = &self.exclude {
            let (hit, info) = exclude
                .matches_using_parent_results(rel, parent_exclude)
                .map_err(|source| self.pattern_error("exclude", source))?;
            if hit {
                selected = false;
                excluded = true;
            }
            exclude_info = info;
        }
        Ok(Decision {
            selected,
            excluded,
            include_info,
            exclude_info,
        })
    }

    /// No patterns at all: everything is selected.
    fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// Whether nothing below an excluded directory can be selected: without `!`
    /// patterns an exclusion covers every path below it.
    fn prunes_excluded(&self) -> bool {
        self.exclude.as_ref().is_some_and(|e| !e.exclusions())
    }

    fn pattern_error(&self, kind: &'static str, source: hearth_dockerignore::Error) -> FileOpError {
        let matcher = if kind == "include" {
            &self.include
        } else {
            &self.exclude
        };
        FileOpError::Pattern {
            kind,
            patterns: matcher
                .as_ref()
                .map(|m| m.patterns().iter().map(|p| p.as_str().to_owned()).collect())
                .unwrap_or_default(),
            source,
        }
    }
}

/// The outcome of matching one path.
struct Decision {
    selected: bool,
    excluded: bool,
    include_info: MatchInfo,
    exclude_info: MatchInfo,
}

/// A directory on the current path that was not selected, waiting to be reported as
/// a parent if something below it is selected.
struct Pending {
    src: PathBuf,
    rel: PathBuf,
    meta: Metadata,
    reported: bool,
}

/// Walks the source at `src` (whose `lstat` is `meta`). `shown` maps host paths to
/// in-root paths for error messages.
///
/// # Errors
///
/// Whatever the visitor returns, and I/O errors while reading directories.
pub(crate) fn walk(
    src: &Path,
    meta: &Metadata,
    filter: &Filter,
    visitor: &mut dyn Visitor,
    shown: &dyn Fn(&Path) -> String,
) -> Result<(), FileOpError> {
    let mut walker = Walker {
        filter,
        visitor,
        pending: Vec::new(),
        shown,
    };
    let mut src_buf = src.to_path_buf();
    let mut rel = PathBuf::new();
    walker.visit(
        &mut src_buf,
        &mut rel,
        meta,
        &MatchInfo::default(),
        &MatchInfo::default(),
    )
}

struct Walker<'a> {
    filter: &'a Filter,
    visitor: &'a mut dyn Visitor,
    pending: Vec<Pending>,
    shown: &'a dyn Fn(&Path) -> String,
}

impl Walker<'_> {
    fn visit(
        &mut self,
        src: &mut PathBuf,
        rel: &mut PathBuf,
        meta: &Metadata,
        parent_include: &MatchInfo,
        parent_exclude: &MatchInfo,
    ) -> Result<(), FileOpError> {
        let decision = if rel.as_os_str().is_empty() || self.filter.is_empty() {
            Decision {
                selected: true,
                excluded: false,
                include_info: MatchInfo::default(),
                exclude_info: MatchInfo::default(),
            }
        } else {
            self.filter
                .decide(&rel.to_string_lossy(), parent_include, parent_exclude)?
        };
        let selected = decision.selected;
        if selected {
            self.report_parents()?;
        }
        let node = Node {
            src: src.as_path(),
            rel: rel.as_path(),
            meta,
        };
        if !meta.is_dir() {
            if selected {
                self.visitor.leaf(&node)?;
            }
            return Ok(());
        }
        if selected {
            self.visitor.enter_dir(&node)?;
        }
        // Only an exclusion (not a missing include) makes the whole subtree dead.
        let excluded_for_good = decision.excluded && self.filter.prunes_excluded();
        if !excluded_for_good {
            self.pending.push(Pending {
                src: src.clone(),
                rel: rel.clone(),
                meta: meta.clone(),
                reported: selected,
            });
            let names = read_dir_sorted(src)
                .map_err(|e| FileOpError::io("read directory", (self.shown)(src), e))?;
            for name in names {
                src.push(&name);
                rel.push(&name);
                let child = std::fs::symlink_metadata(&*src)
                    .map_err(|e| FileOpError::io("lstat", (self.shown)(src), e));
                let result = child.and_then(|child| {
                    self.visit(
                        src,
                        rel,
                        &child,
                        &decision.include_info,
                        &decision.exclude_info,
                    )
                });
                src.pop();
                rel.pop();
                result?;
            }
            self.pending.pop();
        }
        let node = Node {
            src: src.as_path(),
            rel: rel.as_path(),
            meta,
        };
        self.visitor.leave_dir(&node, selected)
    }

    /// fsutil's `createParentDirs`: every waiting ancestor, outermost first.
    fn report_parents(&mut self) -> Result<(), FileOpError> {
        for pending in self.pending.iter_mut().filter(|p| !p.reported) {
            pending.reported = true;
            self.visitor.parent(&Node {
                src: &pending.src,
                rel: &pending.rel,
                meta: &pending.meta,
            })?;
        }
        Ok(())
    }
}

/// Directory entries sorted bytewise, as Go's `os.ReadDir` returns them.
pub(crate) fn read_dir_sorted(dir: &Path) -> std::io::Result<Vec<OsString>> {
    let mut names: Vec<OsString> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl Visitor for Recorder {
        fn parent(&mut self, node: &Node<'_>) -> Result<(), FileOpError> {
            self.0.push(format!("parent {}", node.rel.display()));
            Ok(())
        }
        fn enter_dir(&mut self, node: &Node<'_>) -> Result<(), FileOpError> {
            self.0.push(format!("dir {}", node.rel.display()));
            Ok(())
        }
        fn leave_dir(&mut self, _: &Node<'_>, _: bool) -> Result<(), FileOpError> {
            Ok(())
        }
        fn leaf(&mut self, node: &Node<'_>) -> Result<(), FileOpError> {
            self.0.push(format!("leaf {}", node.rel.display()));
            Ok(())
        }
    }

    fn record(include: &[&str], exclude: &[&str]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a/b", "a/x", "c"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for f in ["a/b/c.txt", "a/b/d.md", "a/x/c.txt", "c/e.txt", "top.txt"] {
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        let to_vec = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let filter = Filter::new(&to_vec(include), &to_vec(exclude)).unwrap();
        let meta = std::fs::symlink_metadata(dir.path()).unwrap();
        let mut recorder = Recorder::default();
        walk(dir.path(), &meta, &filter, &mut recorder, &|p| {
            p.display().to_string()
        })
        .unwrap();
        recorder.0
    }

    #[test]
    fn everything_without_patterns() {
        assert_eq!(
            record(&[], &[]),
            [
                "dir ",
                "dir a",
                "dir a/b",
                "leaf a/b/c.txt",
                "leaf a/b/d.md",
                "dir a/x",
                "leaf a/x/c.txt",
                "dir c",
                "leaf c/e.txt",
                "leaf top.txt"
            ]
        );
    }

    #[test]
    fn include_creates_parents_lazily() {
        assert_eq!(
            record(&["a/*/c.txt"], &[]),
            [
                "dir ",
                "parent a",
                "parent a/b",
                "leaf a/b/c.txt",
                "parent a/x",
                "leaf a/x/c.txt"
            ]
        );
        assert_eq!(record(&["c"], &[]), ["dir ", "dir c", "leaf c/e.txt"]);
    }

    #[test]
    fn exclude_with_and_without_reinclusion() {
        // `*.txt` is anchored: it excludes `top.txt` but not `c/e.txt`.
        assert_eq!(
            record(&[], &["a", "*.txt"]),
            ["dir ", "dir c", "leaf c/e.txt"]
        );
        assert_eq!(
            record(&[], &["a", "!a/b/d.md"]),
            [
                "dir ",
                "parent a",
                "parent a/b",
                "leaf a/b/d.md",
                "dir c",
                "leaf c/e.txt",
                "leaf top.txt"
            ]
        );
        assert_eq!(
            record(&["**/*.txt"], &["a/x"]),
            [
                "dir ",
                "parent a",
                "parent a/b",
                "leaf a/b/c.txt",
                "parent c",
                "leaf c/e.txt",
                "leaf top.txt"
            ]
        );
    }
}
