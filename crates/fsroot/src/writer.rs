//! Filling a directory tree that may already hold links, without going through them.
//!
//! A context copy and an output directory are shaped by someone else: a daemon's client
//! may list a directory in one build and a symlink at the same path in the next, an
//! earlier export may have left a link to a host file where this export writes a file.
//! [`TreeWriter`] changes such a tree only through descriptors opened from its root
//! with `O_NOFOLLOW`: writing replaces a parent that is not a real directory; removing
//! finds nothing below a link; a file or link is made under a temporary name in its
//! parent and renamed over whatever was there (a rename replaces a link, never follows
//! it); owners, modes and times are set on the new descriptor or with
//! `AT_SYMLINK_NOFOLLOW`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timestamps};
use rustix::io::Errno;

use crate::root::{DirCreate, OpenError, Root};
use crate::{RelPath, at, remove};

/// Prefix of the name an entry is made under before it is renamed into place.
const PARTIAL_PREFIX: &[u8] = b".hearth-partial-";

/// Owner, permission bits and, optionally, times of an entry to write.
#[derive(Debug, Clone)]
pub struct Attrs {
    /// Permission bits (the file type bits are ignored).
    pub mode: u32,
    /// Owner; `None` keeps the writing process's.
    pub owner: Option<(u32, u32)>,
    /// Access and modification times; `None` leaves them as the write made them.
    pub times: Option<Timestamps>,
}

/// Writes into the tree at a directory; remembers the last parent it opened, since
/// entries mostly come in walk order and share it.
#[derive(Debug)]
pub struct TreeWriter {
    root: Root,
    parent_owner: Option<(u32, u32)>,
    parent: Option<(RelPath, OwnedFd)>,
}

impl TreeWriter {
    /// Opens the tree at `dir`, creating it (following links: the path is the caller's).
    /// Directories the writer has to create on the way to an entry get `parent_owner`.
    pub fn open(dir: &Path, parent_owner: Option<(u32, u32)>) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            root: Root::open(dir)?,
            parent_owner,
            parent: None,
        })
    }

    /// The parent directory of `path`; `None` when it does not exist or is not a real
    /// directory. With `create`, missing directories are made and anything else in the
    /// way replaced.
    fn parent(&mut self, path: &RelPath, create: bool) -> io::Result<Option<&OwnedFd>> {
        let parent = path.parent();
        if self.parent.as_ref().is_none_or(|(at, _)| *at != parent) {
            self.parent = None;
            let how = DirCreate {
                owner: self.parent_owner,
                replace: true,
                ..DirCreate::exact(0o755)
            };
            match self
                .root
                .open_dir(&parent, create.then_some(&how), &mut |_| {})
            {
                Ok(fd) => self.parent = Some((parent, fd)),
                Err(OpenError::Io(e)) if !at::is_not_found(&e) => return Err(e),
                Err(_) if !create => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.parent.as_ref().map(|(_, fd)| fd))
    }

    fn parent_for_write(&mut self, path: &RelPath) -> io::Result<&OwnedFd> {
        if path.is_root() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the tree's root cannot be replaced",
            ));
        }
        // What replaces `path` may be the remembered parent or above it.
        if self
            .parent
            .as_ref()
            .is_some_and(|(at, _)| at.starts_with(path))
        {
            self.parent = None;
        }
        self.parent(path, true)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no parent directory"))
    }

    /// `lstat` of `path`; `None` when nothing is there (or it lies below something that is
    /// not a directory).
    pub fn lstat(&mut self, path: &RelPath) -> io::Result<Option<Stat>> {
        if path.is_root() {
            return Ok(Some(rustix::fs::fstat(&self.root)?));
        }
        let Some(parent) = self.parent(path, false)? else {
            return Ok(None);
        };
        at::lstat_at(parent, path.file_name())
    }

    /// Makes `path` a directory with `attrs`, replacing a non-directory. Its times are
    /// best set after everything inside it is written ([`TreeWriter::set_times`]).
    pub fn dir(&mut self, path: &RelPath, attrs: &Attrs) -> io::Result<()> {
        let dir = if path.is_root() {
            rustix::io::fcntl_dupfd_cloexec(&self.root, 0)?
        } else {
            let parent = self.parent_for_write(path)?;
            let name = path.file_name();
            match at::lstat_at(parent, name)? {
                Some(st) if at::file_type(&st) == FileType::Directory => {}
                Some(_) => {
                    rustix::fs::unlinkat(parent, name, AtFlags::empty())?;
                    mkdir(parent, name)?;
                }
                None => mkdir(parent, name)?,
            }
            at::open_dir_at(parent, name)?
        };
        // Owner first: changing it clears setuid and setgid.
        if let Some((uid, gid)) = attrs.owner {
            rustix::fs::fchown(
                &dir,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )?;
        }
        rustix::fs::fchmod(&dir, Mode::from_raw_mode(attrs.mode & 0o7777))?;
        Ok(())
    }

    /// Makes `path` a symlink to `target`, replacing whatever was there.
    pub fn symlink(&mut self, path: &RelPath, target: &[u8], attrs: &Attrs) -> io::Result<()> {
        let parent = self.parent_for_write(path)?;
        let name = path.file_name();
        let partial = partial_name(name);
        remove::remove_all_at(parent, &partial)?;
        rustix::fs::symlinkat(target, parent, partial.as_slice())?;
        let placed = (|| {
            if let Some((uid, gid)) = attrs.owner {
                rustix::fs::chownat(
                    parent,
                    partial.as_slice(),
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
            if let Some(times) = &attrs.times {
                rustix::fs::utimensat(
                    parent,
                    partial.as_slice(),
                    times,
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
            replace_with(parent, &partial, name)
        })();
        if placed.is_err() {
            let _ = rustix::fs::unlinkat(parent, partial.as_slice(), AtFlags::empty());
        }
        placed
    }

    /// Writes `content` as the regular file `path`, replacing whatever was there; returns
    /// how many bytes it wrote.
    pub fn file(
        &mut self,
        path: &RelPath,
        attrs: &Attrs,
        content: &mut dyn Read,
    ) -> io::Result<u64> {
        let parent = self.parent_for_write(path)?;
        let name = path.file_name();
        let partial = partial_name(name);
        // One a killed writer left.
        remove::remove_all_at(parent, &partial)?;
        let fd = rustix::fs::openat(
            parent,
            partial.as_slice(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let mut out = File::from(fd);
        let placed = (|| {
            let size = io::copy(content, &mut out)?;
            out.flush()?;
            if let Some((uid, gid)) = attrs.owner {
                rustix::fs::fchown(
                    &out,
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                )?;
            }
            rustix::fs::fchmod(&out, Mode::from_raw_mode(attrs.mode & 0o7777))?;
            if let Some(times) = &attrs.times {
                rustix::fs::futimens(&out, times)?;
            }
            replace_with(parent, &partial, name)?;
            Ok(size)
        })();
        if placed.is_err() {
            let _ = rustix::fs::unlinkat(parent, partial.as_slice(), AtFlags::empty());
        }
        placed
    }

    /// Opens the regular file `path` for reading; `None` when it is not a regular file
    /// reached without links.
    pub fn open_file(&mut self, path: &RelPath) -> io::Result<Option<File>> {
        let Some(parent) = self.parent(path, false)? else {
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
    /// link there is nothing of the tree's to remove.
    pub fn remove(&mut self, path: &RelPath) -> io::Result<bool> {
        if self
            .parent
            .as_ref()
            .is_some_and(|(at, _)| at.starts_with(path))
        {
            self.parent = None;
        }
        let Some(parent) = self.parent(path, false)? else {
            return Ok(false);
        };
        if at::lstat_at(parent, path.file_name())?.is_none() {
            return Ok(false);
        }
        remove::remove_all_at(parent, path.file_name())?;
        Ok(true)
    }

    /// Sets the times of `path` (a link's own), e.g. of a directory once everything
    /// inside it is written. Nothing happens when it is not there.
    pub fn set_times(&mut self, path: &RelPath, times: &Timestamps) -> io::Result<()> {
        if path.is_root() {
            return Ok(rustix::fs::futimens(&self.root, times)?);
        }
        let Some(parent) = self.parent(path, false)? else {
            return Ok(());
        };
        match rustix::fs::utimensat(parent, path.file_name(), times, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn partial_name(name: &[u8]) -> Vec<u8> {
    let mut partial = PARTIAL_PREFIX.to_vec();
    partial.extend_from_slice(name);
    partial
}

/// Renames `partial` over `name`, first removing a directory there (a rename cannot
/// replace a directory with a non-directory).
fn replace_with(parent: &OwnedFd, partial: &[u8], name: &[u8]) -> io::Result<()> {
    if let Some(st) = at::lstat_at(parent, name)?
        && at::file_type(&st) == FileType::Directory
    {
        remove::remove_all_at(parent, name)?;
    }
    rustix::fs::renameat(parent, partial, parent, name)?;
    Ok(())
}

fn mkdir(parent: &OwnedFd, name: &[u8]) -> io::Result<()> {
    match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::fs;

    use super::*;

    fn rel(p: &str) -> RelPath {
        RelPath::from_bytes(p.as_bytes().to_vec())
    }

    const PLAIN: Attrs = Attrs {
        mode: 0o644,
        owner: None,
        times: None,
    };

    #[test]
    fn nothing_is_written_or_removed_through_a_link() {
        let t = tempfile::tempdir().unwrap();
        let host = t.path().join("host");
        fs::create_dir(&host).unwrap();
        fs::write(host.join("f"), "host").unwrap();
        let tree = t.path().join("tree");
        let mut w = TreeWriter::open(&tree, None).unwrap();
        w.dir(&rel("d"), &PLAIN).unwrap();
        w.file(&rel("d/f"), &PLAIN, &mut &b"ctx"[..]).unwrap();
        // `d` becomes a link to the host directory...
        w.symlink(&rel("d"), host.to_str().unwrap().as_bytes(), &PLAIN)
            .unwrap();
        // ... and the stale `d/f` is removed: nothing happens.
        assert!(!w.remove(&rel("d/f")).unwrap());
        assert!(w.open_file(&rel("d/f")).unwrap().is_none());
        assert_eq!(fs::read_to_string(host.join("f")).unwrap(), "host");
        // Writing below the link replaces it with a directory of the tree's.
        w.file(&rel("d/f"), &PLAIN, &mut &b"new"[..]).unwrap();
        assert_eq!(fs::read_to_string(host.join("f")).unwrap(), "host");
        assert_eq!(fs::read_to_string(tree.join("d/f")).unwrap(), "new");
        // A file written where a link to a host file is replaces the link; the file's
        // mode is not applied to the target either.
        std::os::unix::fs::symlink(host.join("f"), tree.join("l")).unwrap();
        let size = w
            .file(
                &rel("l"),
                &Attrs {
                    mode: 0o777,
                    ..PLAIN
                },
                &mut &b"data"[..],
            )
            .unwrap();
        assert_eq!(size, 4);
        assert_eq!(fs::read_to_string(host.join("f")).unwrap(), "host");
        use std::os::unix::fs::PermissionsExt as _;
        assert_ne!(
            fs::metadata(host.join("f")).unwrap().permissions().mode() & 0o777,
            0o777
        );
        assert!(fs::symlink_metadata(tree.join("l")).unwrap().is_file());
        // A directory replaces a file, a file a directory.
        w.dir(&rel("l"), &PLAIN).unwrap();
        assert!(tree.join("l").is_dir());
        w.file(&rel("l"), &PLAIN, &mut &b"x"[..]).unwrap();
        assert!(tree.join("l").is_file());
        assert!(
            fs::read_dir(&tree).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".hearth-partial")),
            "no partial entry is left"
        );
    }
}
