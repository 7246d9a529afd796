//! The destination of an extraction, reached only through directory descriptors.
//!
//! `open_dir` walks a relative path one component at a time with `O_NOFOLLOW`, so the
//! kernel refuses to pass through a symlink whatever the path strings say, and reports
//! which component was a symlink or not a directory. `resolve` computes where a path
//! leads when symlinks are followed as if the destination were `/` (docker's chroot,
//! containerd's `RootPath`); its result is then opened with `open_dir` like any other.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::fsutil::{self, is_errno};
use crate::names::RelPath;
use crate::walk::abs_path;

/// How many symlinks `resolve` follows before giving up, as containerd.
const MAX_SYMLINKS: usize = 255;

/// Why a directory could not be opened.
pub(crate) enum OpenError {
    /// This prefix of the path is a symlink.
    Symlink(RelPath),
    /// This prefix exists and is not a directory.
    NotDir(RelPath),
    Io(io::Error),
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<Errno> for OpenError {
    fn from(e: Errno) -> Self {
        Self::Io(e.into())
    }
}

pub(crate) struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Opens the destination directory itself (following symlinks: it is the caller's).
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::openat(
            rustix::fs::CWD,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// `dest/rel` as a path, for the few calls that have no descriptor form.
    pub(crate) fn abs(&self, rel: &RelPath) -> PathBuf {
        abs_path(&self.path, rel)
    }

    /// Opens directory `dir` without following symlinks. With `create`, missing components
    /// are made 0755 (exactly: the umask is overridden) and reported to `created`.
    pub(crate) fn open_dir(
        &self,
        dir: &RelPath,
        create: bool,
        created: &mut dyn FnMut(&RelPath),
    ) -> Result<OwnedFd, OpenError> {
        let mut current = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?;
        let mut so_far = RelPath::root();
        for part in dir.components() {
            so_far = so_far.join(part);
            current = match fsutil::open_dir_at(&current, part) {
                Ok(fd) => fd,
                Err(e) if create && is_errno(&e, Errno::NOENT) => {
                    match rustix::fs::mkdirat(&current, part, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    rustix::fs::chmodat(
                        &current,
                        part,
                        Mode::from_raw_mode(0o755),
                        AtFlags::empty(),
                    )?;
                    created(&so_far);
                    fsutil::open_dir_at(&current, part)
                        .map_err(|e| why(&current, part, &so_far, e))?
                }
                Err(e) => return Err(why(&current, part, &so_far, e)),
            };
        }
        Ok(current)
    }

    /// Where `path` leads with every symlink followed inside the destination: absolute
    /// targets restart at the destination and `..` never climbs above it. Missing
    /// components end the lookups; the rest is taken literally.
    pub(crate) fn resolve(&self, path: &RelPath) -> io::Result<RelPath> {
        let mut todo: Vec<Vec<u8>> = path.components().rev().map(<[u8]>::to_vec).collect();
        let mut resolved: Vec<Vec<u8>> = Vec::new();
        let mut links = 0;
        let mut missing = false;
        while let Some(part) = todo.pop() {
            match part.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    resolved.pop();
                    continue;
                }
                _ if missing => {
                    resolved.push(part);
                    continue;
                }
                _ => {}
            }
            let candidate = RelPath::from_components(
                resolved.iter().map(Vec::as_slice).chain([part.as_slice()]),
            );
            // Every earlier component is a real directory by construction, so this lstat
            // cannot be redirected; the final open is symlink-proof regardless.
            match fsutil::lstat_at(&self.fd, candidate.as_bytes())? {
                None => {
                    missing = true;
                    resolved.push(part);
                }
                Some(st) if fsutil::file_type(&st) == FileType::Symlink => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("too many symlinks resolving {:?}", path.display()),
                        ));
                    }
                    let target =
                        rustix::fs::readlinkat(&self.fd, candidate.as_bytes(), Vec::new())?
                            .into_bytes();
                    if target.starts_with(b"/") {
                        resolved.clear();
                    }
                    todo.extend(
                        target
                            .split(|&b| b == b'/')
                            .rev()
                            .filter(|c| !c.is_empty())
                            .map(<[u8]>::to_vec),
                    );
                }
                Some(_) => resolved.push(part),
            }
        }
        Ok(RelPath::from_components(resolved.iter().map(Vec::as_slice)))
    }
}

/// Why `open_dir_at(dir, part)` failed: a symlink, a non-directory, or something else.
fn why(dir: &OwnedFd, part: &[u8], at: &RelPath, e: io::Error) -> OpenError {
    if is_errno(&e, Errno::LOOP) || is_errno(&e, Errno::NOTDIR) {
        match fsutil::lstat_at(dir, part) {
            Ok(Some(st)) if fsutil::file_type(&st) == FileType::Symlink => {
                return OpenError::Symlink(at.clone());
            }
            Ok(Some(_)) => return OpenError::NotDir(at.clone()),
            _ => {}
        }
    }
    OpenError::Io(e)
}
