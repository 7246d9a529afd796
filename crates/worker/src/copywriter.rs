//! Writing a synced context copy: `hearth_fsroot::TreeWriter` with the copy's rules.
//!
//! A context copy is shaped by whoever owns the context: a daemon's client may list a
//! directory in one build and, in the next, a symlink at the same path that points at a
//! directory of the daemon's host. The tree writer never writes, reads, removes or
//! re-times anything through a link; this module adds what a copy is made of: entries
//! owned by root (what BuildKit's file sync produces), the source's modification times,
//! and the sha256 of every file taken while it is written.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use hearth_core::Digest;
use hearth_fsroot::{Attrs, RelPath, TreeWriter};
use rustix::fs::{Stat, Timespec, Timestamps};
use sha2::Digest as _;

/// Changes the copy rooted at a directory.
pub(crate) struct CopyWriter(TreeWriter);

/// A `stat` result's modification time, in nanoseconds since the epoch.
pub(crate) fn mtime_ns(st: &Stat) -> i128 {
    i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec)
}

fn timestamps(mtime_ns: i128) -> Timestamps {
    let time = Timespec {
        tv_sec: i64::try_from(mtime_ns.div_euclid(1_000_000_000)).unwrap_or(0),
        tv_nsec: i64::try_from(mtime_ns.rem_euclid(1_000_000_000)).unwrap_or(0),
    };
    Timestamps {
        last_access: time,
        last_modification: time,
    }
}

fn rel(path: &str) -> RelPath {
    RelPath::from_bytes(path.as_bytes().to_vec())
}

fn owned_by_root(mode: u32, times: Option<Timestamps>) -> Attrs {
    Attrs {
        mode,
        owner: Some((0, 0)),
        times,
    }
}

impl CopyWriter {
    /// Opens (creating it) the copy at `dir`.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        TreeWriter::open(dir, Some((0, 0))).map(Self)
    }

    /// `lstat` of `path` in the copy; `None` when it is not there.
    pub(crate) fn lstat(&mut self, path: &str) -> io::Result<Option<Stat>> {
        self.0.lstat(&rel(path))
    }

    /// Makes `path` a directory with `mode`, replacing a non-directory.
    pub(crate) fn dir(&mut self, path: &str, mode: u32) -> io::Result<()> {
        self.0.dir(&rel(path), &owned_by_root(mode, None))
    }

    /// Makes `path` a symlink to `target`, replacing whatever was there.
    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        self.0
            .symlink(&rel(path), target.as_bytes(), &owned_by_root(0o777, None))
    }

    /// Writes `content` as the regular file `path` with `mode` and `mtime_ns`, replacing
    /// whatever was there; returns its size and digest.
    pub(crate) fn file(
        &mut self,
        path: &str,
        mode: u32,
        mtime_ns: i128,
        content: &mut dyn Read,
    ) -> io::Result<(u64, Digest)> {
        let mut hashing = Hashing {
            inner: content,
            hasher: sha2::Sha256::new(),
        };
        let attrs = owned_by_root(mode, Some(timestamps(mtime_ns)));
        let size = self.0.file(&rel(path), &attrs, &mut hashing)?;
        Ok((
            size,
            Digest::from_sha256_bytes(hashing.hasher.finalize().into()),
        ))
    }

    /// Opens the regular file `path` of the copy for reading, never through a link.
    pub(crate) fn open_file(&mut self, path: &str) -> io::Result<Option<File>> {
        self.0.open_file(&rel(path))
    }

    /// Removes `path` and whatever is below it; false when nothing was there.
    pub(crate) fn remove(&mut self, path: &str) -> io::Result<bool> {
        self.0.remove(&rel(path))
    }

    /// Sets a directory's times, once everything inside it is written.
    pub(crate) fn set_dir_mtime(&mut self, path: &str, mtime_ns: i128) {
        let _ = self.0.set_times(&rel(path), &timestamps(mtime_ns));
    }
}

/// Hashes what is read through it.
struct Hashing<'a> {
    inner: &'a mut dyn Read,
    hasher: sha2::Sha256,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn files_are_root_owned_timed_and_hashed() {
        use std::os::unix::fs::MetadataExt as _;
        let t = tempfile::tempdir().unwrap();
        let mut w = CopyWriter::open(t.path()).unwrap();
        let (size, digest) = w
            .file("a/b", 0o640, 1_500_000_000_123, &mut &b"data"[..])
            .unwrap();
        assert_eq!((size, digest), (4, Digest::of(b"data")));
        let meta = std::fs::metadata(t.path().join("a/b")).unwrap();
        assert_eq!(
            (
                meta.uid(),
                meta.mode() & 0o7777,
                meta.mtime(),
                meta.mtime_nsec()
            ),
            (0, 0o640, 1500, 123)
        );
        assert_eq!(
            mtime_ns(&rustix::fs::stat(t.path().join("a/b")).unwrap()),
            1_500_000_000_123
        );
    }
}
