//! Depth-first walk of a directory tree in Go's `filepath.Walk` order: a directory before
//! its contents, siblings sorted bytewise by name.
//!
//! Every layer writer in containerd and BuildKit walks this way, and the order of entries
//! is part of a layer's bytes. The walk is iterative (no recursion depth limit) and never
//! follows symlinks.

use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::LayerError;
use hearth_fsroot::RelPath;

/// One visited path.
#[derive(Debug)]
pub(crate) struct WalkEntry {
    pub(crate) rel: RelPath,
    pub(crate) meta: Metadata,
}

/// The iterator; call [`Walker::skip_children`] right after a directory is returned to
/// leave its contents out.
pub(crate) struct Walker {
    root: PathBuf,
    stack: Vec<Frame>,
    pending: Option<RelPath>,
}

struct Frame {
    dir: RelPath,
    /// Sorted in reverse, so `pop` yields the smallest name.
    names: Vec<Vec<u8>>,
}

impl Walker {
    /// Walks everything below `root` (the root itself is not returned).
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            stack: Vec::new(),
            pending: Some(RelPath::root()),
        }
    }

    /// The on-disk path of `rel`.
    pub(crate) fn abs(&self, rel: &RelPath) -> PathBuf {
        abs_path(&self.root, rel)
    }

    /// Does not descend into the directory returned last.
    pub(crate) fn skip_children(&mut self) {
        self.pending = None;
    }

    /// Like [`Walker::skip_children`] when `entry` (the entry returned last) is a directory.
    pub(crate) fn skip_children_if_dir(&mut self, entry: &WalkEntry) {
        if entry.meta.is_dir() {
            self.skip_children();
        }
    }

    fn descend(&mut self, dir: RelPath) -> Result<(), LayerError> {
        let path = self.abs(&dir);
        let read_err = |source| LayerError::ReadTree {
            path: path.clone(),
            source,
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&path).map_err(read_err)? {
            names.push(entry.map_err(read_err)?.file_name().as_bytes().to_vec());
        }
        names.sort_unstable_by(|a, b| b.cmp(a));
        self.stack.push(Frame { dir, names });
        Ok(())
    }
}

impl Iterator for Walker {
    type Item = Result<WalkEntry, LayerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(dir) = self.pending.take()
            && let Err(e) = self.descend(dir)
        {
            return Some(Err(e));
        }
        loop {
            let frame = self.stack.last_mut()?;
            let Some(name) = frame.names.pop() else {
                self.stack.pop();
                continue;
            };
            let rel = frame.dir.join(&name);
            let path = self.abs(&rel);
            return Some(match std::fs::symlink_metadata(&path) {
                Ok(meta) => {
                    if meta.is_dir() {
                        self.pending = Some(rel.clone());
                    }
                    Ok(WalkEntry { rel, meta })
                }
                Err(source) => Err(LayerError::ReadTree { path, source }),
            });
        }
    }
}

/// `root/rel` as a path.
pub(crate) fn abs_path(root: &Path, rel: &RelPath) -> PathBuf {
    rel.under(root)
}

/// Orders two walk paths the way the walk visits them: like bytes, except that `/` sorts
/// before every other byte (continuity's `directoryCompare`).
pub(crate) fn walk_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let map = |c: u8| if c == b'/' { 0 } else { u16::from(c) + 1 };
    a.iter().map(|&c| map(c)).cmp(b.iter().map(|&c| map(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_is_depth_first_with_sorted_siblings() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a", "a/b", "a-b", "c"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        for f in ["a/z", "a/b/y", "a-b/x", "B"] {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        std::os::unix::fs::symlink("a", dir.path().join("link")).unwrap();
        let seen: Vec<String> = Walker::new(dir.path())
            .map(|e| e.unwrap().rel.display())
            .collect();
        assert_eq!(
            seen,
            ["B", "a", "a/b", "a/b/y", "a/z", "a-b", "a-b/x", "c", "link"]
        );
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| walk_order(a.as_bytes(), b.as_bytes()));
        assert_eq!(sorted, seen, "walk_order agrees with the walk");
    }

    #[test]
    fn skip_children_prunes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("c"), b"").unwrap();
        let mut walker = Walker::new(dir.path());
        let mut seen = Vec::new();
        while let Some(entry) = walker.next() {
            let entry = entry.unwrap();
            if entry.rel.as_bytes() == b"a" {
                walker.skip_children();
            }
            seen.push(entry.rel.display());
        }
        assert_eq!(seen, ["a", "c"]);
    }
}
