//! Small file-system helpers shared by the reading and writing sides: descriptor-relative
//! operations that never follow symlinks, recursive removal, and xattr access.
//!
//! Extraction works through directory descriptors (`openat` with `O_NOFOLLOW`) rather than
//! joined path strings, so a symlink planted by an earlier tar entry can never redirect a
//! later write outside the destination: the kernel refuses to traverse it.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// Opens `name` below `dir` as a directory, refusing symlinks.
pub(crate) fn open_dir_at(dir: impl AsFd, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// `lstat` relative to `dir`; `None` when nothing is there.
pub(crate) fn lstat_at(dir: impl AsFd, name: &[u8]) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The file type bits of a `stat` result.
pub(crate) fn file_type(stat: &Stat) -> FileType {
    FileType::from_raw_mode(stat.st_mode)
}

/// Removes `name` below `dir` and, for a directory, everything in it, without following
/// symlinks anywhere. A missing `name` is not an error.
pub(crate) fn remove_all_at(dir: impl AsFd, name: &[u8]) -> io::Result<()> {
    let dir = dir.as_fd();
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        // EISDIR is Linux's answer for a directory; EPERM is POSIX's.
        Err(Errno::ISDIR | Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let child = match open_dir_at(dir, name) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => return Ok(()),
        Err(e) => return Err(e),
    };
    clear_dir(&child, &mut |_| false)?;
    drop(child);
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes every entry of the open directory `dir` for which `keep` says false.
pub(crate) fn clear_dir(dir: &OwnedFd, keep: &mut dyn FnMut(&[u8]) -> bool) -> io::Result<()> {
    for name in read_dir_names(dir)? {
        if !keep(&name) {
            remove_all_at(dir, &name)?;
        }
    }
    Ok(())
}

/// The names in an open directory, without `.` and `..`, in no particular order.
pub(crate) fn read_dir_names(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    let mut reader = rustix::fs::Dir::read_from(dir)?;
    while let Some(entry) = reader.read() {
        let entry = entry?;
        let name: &CStr = entry.file_name();
        let bytes = name.to_bytes();
        if bytes != b"." && bytes != b".." {
            names.push(bytes.to_vec());
        }
    }
    Ok(names)
}

/// One xattr of `path` (not following a final symlink); `None` if it is not set or the file
/// system has no xattrs.
pub(crate) fn get_xattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    loop {
        let size = match rustix::fs::lgetxattr_query(path, name) {
            Ok(size) => size,
            Err(Errno::NODATA | Errno::NOTSUP) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut buf = vec![0u8; size];
        if size == 0 {
            return Ok(Some(buf));
        }
        match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
            Ok(len) => {
                buf.truncate(len);
                return Ok(Some(buf));
            }
            // The value grew between the two calls: ask again.
            Err(Errno::RANGE) => continue,
            Err(Errno::NODATA | Errno::NOTSUP) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The names of all xattrs of `path` (not following a final symlink).
pub(crate) fn list_xattrs(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    loop {
        let size = match rustix::fs::llistxattr_query(path) {
            Ok(size) => size,
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size];
        match rustix::fs::llistxattr(path, &mut buf[..]) {
            Ok(len) => {
                buf.truncate(len);
                return Ok(buf
                    .split(|&b| b == 0)
                    .filter(|n| !n.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect());
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether an I/O error is the given errno.
pub(crate) fn is_errno(e: &io::Error, errno: Errno) -> bool {
    e.raw_os_error() == Some(errno.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_all_does_not_follow_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), b"x").unwrap();
        let root = tempfile::tempdir().unwrap();
        let tree = root.path().join("tree");
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::write(tree.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), tree.join("a/link")).unwrap();
        let fd = open_dir_at(rustix::fs::CWD, root.path().as_os_str().as_encoded_bytes()).unwrap();
        remove_all_at(&fd, b"tree").unwrap();
        assert!(!tree.exists());
        assert!(outside.path().join("keep").exists());
        // Missing is fine.
        remove_all_at(&fd, b"tree").unwrap();
    }

    #[test]
    fn open_dir_refuses_symlinks() {
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/", root.path().join("l")).unwrap();
        let fd = open_dir_at(rustix::fs::CWD, root.path().as_os_str().as_encoded_bytes()).unwrap();
        assert!(open_dir_at(&fd, b"l").is_err());
        assert!(lstat_at(&fd, b"missing").unwrap().is_none());
        assert_eq!(
            file_type(&lstat_at(&fd, b"l").unwrap().unwrap()),
            FileType::Symlink
        );
    }
}
