//! Small filesystem primitives with the exact effects BuildKit's Go code has.
//!
//! buildkitd runs with umask 0, so a directory it creates with mode 0o775 really is
//! 0o775. hearth may run with any umask and must not change it (it is process-wide),
//! so every creation whose mode is not fixed up afterwards goes through
//! [`mkdir_exact`], which sets the bits explicitly. None of these helpers follow a
//! symlink in the last component unless they say so.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, FileType, Mode};

use crate::owner::Ids;

/// `S_IFMT`: the file-type bits of `st_mode`.
pub(crate) const S_IFMT: u32 = 0o170_000;
/// `S_IFSOCK`.
const S_IFSOCK: u32 = 0o140_000;
/// `S_ISGID`.
const S_ISGID: u32 = 0o2000;
/// Permission, setuid, setgid and sticky bits.
pub(crate) const MODE_BITS: u32 = 0o7777;

/// The kind of a filesystem object, from `st_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    /// Devices, FIFOs and sockets.
    Special,
}

impl Kind {
    pub(crate) fn of(meta: &Metadata) -> Self {
        let ft = meta.file_type();
        if ft.is_dir() {
            Self::Dir
        } else if ft.is_symlink() {
            Self::Symlink
        } else if ft.is_file() {
            Self::File
        } else {
            Self::Special
        }
    }
}

/// `lstat`, with "does not exist" as `None`.
pub(crate) fn lstat_opt(path: &Path) -> io::Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether an error means a path (or a component of it) does not exist.
pub(crate) fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error())
}

/// `lchown`.
pub(crate) fn lchown(path: &Path, ids: Ids) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(ids.uid), Some(ids.gid))
}

/// `chmod` with all twelve mode bits (follows links: never call it on one).
pub(crate) fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & MODE_BITS))
}

/// Creates one directory whose permission bits are exactly `perm & 0o777` (plus a
/// setgid bit inherited from the parent, as the kernel adds), i.e. what `mkdir` gives
/// under umask 0.
pub(crate) fn mkdir_exact(path: &Path, perm: u32) -> io::Result<()> {
    rustix::fs::mkdirat(CWD, path, Mode::from_raw_mode(perm & 0o777))?;
    let got = std::fs::symlink_metadata(path)?.mode();
    let want = (perm & 0o777) | (got & S_ISGID);
    if got & MODE_BITS != want {
        chmod(path, want)?;
    }
    Ok(())
}

/// fsutil's `MkdirAll`: creates `path` and missing parents with mode `perm`, chowns
/// each directory it creates to `owner` when given, and returns them. An existing
/// directory (or a link to one) is fine; an existing non-directory is `ENOTDIR`.
/// `path` must already be resolved inside its root.
pub(crate) fn mkdir_all(path: &Path, perm: u32, owner: Option<Ids>) -> io::Result<Vec<PathBuf>> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Ok(Vec::new()),
        Ok(_) => {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::NOTDIR.raw_os_error(),
            ));
        }
        Err(_) => {}
    }
    let mut created = match path.parent() {
        Some(parent) if parent != Path::new("/") && !parent.as_os_str().is_empty() => {
            mkdir_all(parent, perm, owner)?
        }
        _ => Vec::new(),
    };
    if let Some(meta) = lstat_opt(path)?
        && meta.is_dir()
    {
        return Ok(created);
    }
    if let Err(e) = mkdir_exact(path, perm) {
        // Someone else made it in between (or the name is `foo/.`).
        if let Ok(meta) = std::fs::symlink_metadata(path)
            && meta.is_dir()
        {
            return Ok(created);
        }
        return Err(e);
    }
    if let Some(ids) = owner {
        lchown(path, ids)?;
    }
    created.push(path.to_path_buf());
    Ok(created)
}

/// Copies a regular file's bytes into a new file `dst` (which must not exist).
/// `std::io::copy` uses `copy_file_range` with the same fallbacks fsutil has.
pub(crate) fn copy_file_contents(src: &Path, dst: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut input = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(src)?;
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(dst)?;
    io::copy(&mut input, &mut output)?;
    Ok(())
}

/// fsutil's `copyDevice`: `mknod` with the source's mode after clearing the `S_IFSOCK`
/// bits. That turns a socket into an empty regular file (the intended stub) and — a
/// BuildKit quirk kept for identical images — a block device into a character device
/// with the same numbers, since `S_IFBLK` shares a bit with `S_IFSOCK`.
pub(crate) fn copy_special(dst: &Path, meta: &Metadata) -> io::Result<()> {
    let raw = meta.mode() & !S_IFSOCK;
    let file_type = match raw & S_IFMT {
        0 => FileType::RegularFile,
        other => FileType::from_raw_mode(other),
    };
    let dev = match file_type {
        FileType::CharacterDevice | FileType::BlockDevice => meta.rdev(),
        _ => 0,
    };
    rustix::fs::mknodat(CWD, dst, file_type, Mode::from_raw_mode(raw & 0o777), dev)
        .map_err(io::Error::from)
}
