//! Descriptor-relative primitives that never follow a symlink.
//!
//! Working through directory descriptors (`openat` with `O_NOFOLLOW`) rather than joined
//! path strings means a symlink planted in a tree can never redirect a later operation
//! outside it: the kernel refuses to traverse the link. Every descriptor is opened
//! close-on-exec, so none leaks into a container runtime started meanwhile.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// Opens `name` below `dir` as a directory for reading, refusing symlinks.
pub fn open_dir_at(dir: impl AsFd, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens a directory the caller names by path (following links: the path is the
/// caller's own, such as a state directory or an output destination).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        rustix::fs::CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// `lstat` relative to `dir`; `None` when nothing is there.
pub fn lstat_at(dir: impl AsFd, name: &[u8]) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The file type bits of a `stat` result.
pub fn file_type(stat: &Stat) -> FileType {
    FileType::from_raw_mode(stat.st_mode)
}

/// The names in an open directory, without `.` and `..`, in no particular order.
pub fn read_dir_names(dir: impl AsFd) -> io::Result<Vec<Vec<u8>>> {
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

/// Whether an I/O error is the given errno.
pub fn is_errno(e: &io::Error, errno: Errno) -> bool {
    e.raw_os_error() == Some(errno.raw_os_error())
}

/// Whether an error means a path, or a component of it, does not exist.
pub fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || is_errno(e, Errno::NOTDIR)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn open_dir_at_refuses_symlinks() {
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/", root.path().join("l")).unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        let fd = open_dir(root.path()).unwrap();
        // Linux answers ENOTDIR (O_DIRECTORY checked first) or ELOOP; never the target.
        let refused = open_dir_at(&fd, b"l").unwrap_err();
        assert!(
            is_errno(&refused, Errno::NOTDIR) || is_errno(&refused, Errno::LOOP),
            "{refused}"
        );
        assert!(open_dir_at(&fd, b"d").is_ok());
        assert!(lstat_at(&fd, b"missing").unwrap().is_none());
        assert_eq!(
            file_type(&lstat_at(&fd, b"l").unwrap().unwrap()),
            FileType::Symlink
        );
        let mut names = read_dir_names(&fd).unwrap();
        names.sort();
        assert_eq!(names, vec![b"d".to_vec(), b"l".to_vec()]);
    }
}
