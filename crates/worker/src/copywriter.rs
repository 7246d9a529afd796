//! Writing a synced context copy through descriptors that cannot leave it.
//!
//! A context copy is shaped by whoever owns the context: a daemon's client may list a
//! directory in one build and, in the next, a symlink at the same path that points at a
//! directory of the daemon's host. So every change to the copy goes through descriptors
//! opened from the copy's root with `O_NOFOLLOW`: writing replaces a parent that is not a
//! real directory of the copy; removing finds nothing below a link; a file is written
//! under a temporary name in its parent and renamed over whatever was there. Nothing is
//! ever written, read, removed or re-timed through a link.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use hearth_core::Digest;
use hearth_fsroot::{DirCreate, OpenError, RelPath, Root};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;
use sha2::Digest as _;

/// Prefix of the name a file is written under before it is renamed into place.
const PARTIAL_PREFIX: &str = ".hearth-sync-";

/// Changes a copy rooted at a directory; remembers the last parent it opened, since
/// entries come in walk order and mostly share it.
pub(crate) struct CopyWriter {
    root: Root,
    parent: Option<(RelPath, OwnedFd)>,
}

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

impl CopyWriter {
    /// Opens (creating it) the copy at `dir`.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            root: Root::open(dir)?,
            parent: None,
        })
    }

    /// The parent directory of `path`; `None` when it does not exist or is not a real
    /// directory of the copy. With `create`, missing directories are made and anything
    /// else in the way replaced.
    fn parent(&mut self, path: &RelPath, create: bool) -> io::Result<Option<&OwnedFd>> {
        let parent = path.parent();
        if self.parent.as_ref().is_none_or(|(at, _)| *at != parent) {
            self.parent = None;
            let how = DirCreate {
                owner: Some((0, 0)),
                replace: true,
                ..DirCreate::exact(0o755)
            };
            let opened = self
                .root
                .open_dir(&parent, create.then_some(&how), &mut |_| {});
            match opened {
                Ok(fd) => self.parent = Some((parent, fd)),
                Err(OpenError::Io(e)) if !hearth_fsroot::is_not_found(&e) => return Err(e),
                Err(OpenError::Io(_) | OpenError::Symlink(_) | OpenError::NotDir(_)) if !create => {
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.parent.as_ref().map(|(_, fd)| fd))
    }

    /// Forgets the remembered parent (after something may have replaced it).
    fn forget_parent_below(&mut self, path: &RelPath) {
        if self
            .parent
            .as_ref()
            .is_some_and(|(at, _)| at.starts_with(path))
        {
            self.parent = None;
        }
    }

    /// `lstat` of `path` in the copy; `None` when it is not there (or lies below
    /// something that is not a directory).
    pub(crate) fn lstat(&mut self, path: &str) -> io::Result<Option<Stat>> {
        let path = rel(path);
        let Some(parent) = self.parent(&path, false)? else {
            return Ok(None);
        };
        hearth_fsroot::lstat_at(parent, path.file_name())
    }

    /// Makes `path` a directory owned by root with `mode`, replacing a non-directory.
    pub(crate) fn dir(&mut self, path: &str, mode: u32) -> io::Result<()> {
        let path = rel(path);
        let dir = {
            let parent = self.parent(&path, true)?.ok_or_else(missing)?;
            let name = path.file_name();
            match hearth_fsroot::lstat_at(parent, name)? {
                Some(st) if hearth_fsroot::file_type(&st) == FileType::Directory => {}
                Some(_) => {
                    rustix::fs::unlinkat(parent, name, AtFlags::empty())?;
                    make_dir(parent, name)?;
                }
                None => make_dir(parent, name)?,
            }
            hearth_fsroot::open_dir_at(parent, name)?
        };
        rustix::fs::fchown(
            &dir,
            Some(rustix::fs::Uid::ROOT),
            Some(rustix::fs::Gid::ROOT),
        )?;
        rustix::fs::fchmod(&dir, Mode::from_raw_mode(mode & 0o7777))?;
        Ok(())
    }

    /// Makes `path` a symlink to `target` owned by root, replacing whatever was there.
    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        let path = rel(path);
        self.forget_parent_below(&path);
        let parent = self.parent(&path, true)?.ok_or_else(missing)?;
        let name = path.file_name();
        hearth_fsroot::remove_all_at(parent, name)?;
        rustix::fs::symlinkat(target, parent, name)?;
        rustix::fs::chownat(
            parent,
            name,
            Some(rustix::fs::Uid::ROOT),
            Some(rustix::fs::Gid::ROOT),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(())
    }

    /// Writes `content` as the regular file `path` (owned by root, `mode`, `mtime_ns`),
    /// replacing whatever was there; returns its size and digest.
    pub(crate) fn file(
        &mut self,
        path: &str,
        mode: u32,
        mtime_ns: i128,
        content: &mut dyn Read,
    ) -> io::Result<(u64, Digest)> {
        let path = rel(path);
        self.forget_parent_below(&path);
        let parent = self.parent(&path, true)?.ok_or_else(missing)?;
        let name = path.file_name();
        let mut partial = PARTIAL_PREFIX.as_bytes().to_vec();
        partial.extend_from_slice(name);
        // One left by a killed sync.
        hearth_fsroot::remove_all_at(parent, &partial)?;
        let fd = rustix::fs::openat(
            parent,
            partial.as_slice(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let mut out = File::from(fd);
        let written = copy_hashing(content, &mut out);
        let finished = written.and_then(|(size, digest)| {
            rustix::fs::fchown(
                &out,
                Some(rustix::fs::Uid::ROOT),
                Some(rustix::fs::Gid::ROOT),
            )?;
            rustix::fs::fchmod(&out, Mode::from_raw_mode(mode & 0o7777))?;
            rustix::fs::futimens(&out, &timestamps(mtime_ns))?;
            if let Some(st) = hearth_fsroot::lstat_at(parent, name)?
                && hearth_fsroot::file_type(&st) == FileType::Directory
            {
                hearth_fsroot::remove_all_at(parent, name)?;
            }
            // A rename replaces a link or file at `name` itself; it never follows one.
            rustix::fs::renameat(parent, partial.as_slice(), parent, name)?;
            Ok((size, digest))
        });
        if finished.is_err() {
            let _ = rustix::fs::unlinkat(parent, partial.as_slice(), AtFlags::empty());
        }
        finished
    }

    /// Opens the regular file `path` of the copy for reading; `None` when it is not a
    /// regular file reached without links.
    pub(crate) fn open_file(&mut self, path: &str) -> io::Result<Option<File>> {
        let path = rel(path);
        let Some(parent) = self.parent(&path, false)? else {
            return Ok(None);
        };
        match rustix::fs::openat(
            parent,
            path.file_name(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => {
                let st = rustix::fs::fstat(&fd)?;
                Ok(
                    (FileType::from_raw_mode(st.st_mode) == FileType::RegularFile)
                        .then(|| File::from(fd)),
                )
            }
            Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes `path` and whatever is below it; false when nothing was there. Below a
    /// link there is nothing of the copy's to remove.
    pub(crate) fn remove(&mut self, path: &str) -> io::Result<bool> {
        let path = rel(path);
        self.forget_parent_below(&path);
        let Some(parent) = self.parent(&path, false)? else {
            return Ok(false);
        };
        if hearth_fsroot::lstat_at(parent, path.file_name())?.is_none() {
            return Ok(false);
        }
        hearth_fsroot::remove_all_at(parent, path.file_name())?;
        Ok(true)
    }

    /// Sets a directory's times, once everything inside it is written.
    pub(crate) fn set_dir_mtime(&mut self, path: &str, mtime_ns: i128) {
        let path = rel(path);
        if let Ok(dir) = self.root.open_dir(&path, None, &mut |_| {}) {
            let _ = rustix::fs::futimens(&dir, &timestamps(mtime_ns));
        }
    }
}

fn make_dir(parent: &OwnedFd, name: &[u8]) -> io::Result<()> {
    match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn missing() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "the parent directory is missing")
}

fn copy_hashing(input: &mut dyn Read, output: &mut File) -> io::Result<(u64, Digest)> {
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok((total, Digest::from_sha256_bytes(hasher.finalize().into())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::fs;

    use super::*;

    #[test]
    fn nothing_is_written_or_removed_through_a_link_in_the_copy() {
        let t = tempfile::tempdir().unwrap();
        let host = t.path().join("host");
        fs::create_dir(&host).unwrap();
        fs::write(host.join("f"), "host").unwrap();
        let copy = t.path().join("copy");
        let mut w = CopyWriter::open(&copy).unwrap();
        w.dir("d", 0o755).unwrap();
        w.file("d/f", 0o644, 0, &mut &b"ctx"[..]).unwrap();
        // The client turns `d` into a link to the host directory...
        w.symlink("d", host.to_str().unwrap()).unwrap();
        // ... and the stale `d/f` of the last listing is removed: nothing happens.
        assert!(!w.remove("d/f").unwrap());
        assert!(w.open_file("d/f").unwrap().is_none());
        assert_eq!(fs::read_to_string(host.join("f")).unwrap(), "host");
        // Writing below the link replaces it with a directory of the copy's.
        w.file("d/f", 0o600, 0, &mut &b"new"[..]).unwrap();
        assert_eq!(fs::read_to_string(host.join("f")).unwrap(), "host");
        assert_eq!(fs::read_to_string(copy.join("d/f")).unwrap(), "new");
        // A file written where a link is replaces the link, not its target.
        std::os::unix::fs::symlink(host.join("f"), copy.join("l")).unwrap();
        let (size, digest) = w.file("l", 0o644, 0, &mut &b"data"[..]).unwrap();
        assert_eq!((size, digest), (4, Digest::of(b"data")));
        assert_eq!(fs::read_to_string(host.join("f")).unwrap(), "host");
        assert!(fs::symlink_metadata(copy.join("l")).unwrap().is_file());
    }
}
