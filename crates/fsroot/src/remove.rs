//! Removing trees without following links or crossing into other mounts.
//!
//! `std::fs::remove_dir_all` does not follow symlinks, but it descends into mount points,
//! so a bind mount left under a scratch directory (a cache mount, or worse, a host
//! directory) would be emptied. Here a directory that is a mount point is an error
//! naming it instead. Directories without owner permissions (a build may `chmod 000`
//! one) are opened up first, so this also works without root. The walk keeps its own
//! stack: layer trees can be deeper than a thread's stack allows for recursion.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, StatxAttributes, StatxFlags};
use rustix::io::Errno;

use crate::at::{self, is_errno};
use crate::relpath::RelPath;

/// Removes `path` and everything below it; a missing `path` is fine. The last
/// component is not followed if it is a symlink (the link itself goes).
pub fn remove_tree(path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to remove {}", path.display()),
        ));
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let dir = match at::open_dir(parent) {
        Ok(dir) => dir,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    // Errors name the entry below `dir`; prefixing the parent makes that a full path.
    remove_all_at(&dir, name.as_bytes())
        .map_err(|e| io::Error::new(e.kind(), format!("{}/{e}", parent.display())))
}

/// Removes `name` below `dir` and, for a directory, everything in it, without following
/// symlinks anywhere and without entering another mount. A missing `name` is fine.
pub fn remove_all_at(dir: impl AsFd, name: &[u8]) -> io::Result<()> {
    let dir = dir.as_fd();
    let top = RelPath::from_bytes(name.to_vec());
    let child = match unlink_or_open(dir, name, &top)? {
        None => return Ok(()),
        Some(child) => child,
    };
    clear(child, &top)?;
    remove_empty_dir(dir, name, &top)
}

/// A directory being emptied: its descriptor and the names still to remove.
struct Frame {
    fd: OwnedFd,
    rel: RelPath,
    names: Vec<Vec<u8>>,
}

/// Empties the directory `top` (named `rel` in messages).
fn clear(top: OwnedFd, rel: &RelPath) -> io::Result<()> {
    let names = at::read_dir_names(&top).map_err(|e| at_rel(rel, e))?;
    let mut stack = vec![Frame {
        fd: top,
        rel: rel.clone(),
        names,
    }];
    while let Some(frame) = stack.last_mut() {
        let Some(name) = frame.names.pop() else {
            let done = stack.pop();
            if let (Some(done), Some(parent)) = (done, stack.last()) {
                drop(done.fd);
                remove_empty_dir(parent.fd.as_fd(), done.rel.file_name(), &done.rel)?;
            }
            continue;
        };
        let rel = frame.rel.join(&name);
        if let Some(child) = unlink_or_open(frame.fd.as_fd(), &name, &rel)? {
            let names = at::read_dir_names(&child).map_err(|e| at_rel(&rel, e))?;
            stack.push(Frame {
                fd: child,
                rel,
                names,
            });
        }
    }
    Ok(())
}

/// Unlinks `name` if it is not a directory (`None`), or opens the directory to empty.
fn unlink_or_open(dir: BorrowedFd<'_>, name: &[u8], rel: &RelPath) -> io::Result<Option<OwnedFd>> {
    let mut opened_up = false;
    loop {
        match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => return Ok(None),
            // EISDIR is Linux's answer for a directory; EPERM is POSIX's.
            Err(Errno::ISDIR | Errno::PERM) => break,
            Err(Errno::ACCESS) if !opened_up => {
                make_accessible(dir)?;
                opened_up = true;
            }
            Err(e) => return Err(at_rel(rel, e.into())),
        }
    }
    match open_subdir(dir, name, rel) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if is_errno(&e, Errno::NOENT) => Ok(None),
        Err(e) if is_errno(&e, Errno::ACCESS) => {
            let mode = at::lstat_at(dir, name)?.map_or(0o700, |st| st.st_mode);
            rustix::fs::chmodat(
                dir,
                name,
                Mode::from_raw_mode((mode | 0o700) & 0o7777),
                AtFlags::empty(),
            )?;
            open_subdir(dir, name, rel).map(Some)
        }
        Err(e) => Err(e),
    }
}

/// Opens directory `name` below `dir` for listing, refusing symlinks and mount points.
fn open_subdir(dir: BorrowedFd<'_>, name: &[u8], rel: &RelPath) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let how = ResolveFlags::NO_XDEV | ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH;
    let opened = match rustix::fs::openat2(dir, name, flags, Mode::empty(), how) {
        Err(Errno::NOSYS) => {
            let fd = rustix::fs::openat(dir, name, flags, Mode::empty())?;
            if is_mount_root(dir, &fd)? {
                Err(Errno::XDEV)
            } else {
                Ok(fd)
            }
        }
        other => other,
    };
    opened.map_err(|e| match e {
        Errno::XDEV => io::Error::other(format!(
            "{}: it is a mount point; unmount it first or remove it by hand",
            rel.display()
        )),
        e => at_rel(rel, e.into()),
    })
}

/// Whether `child` (opened below `dir`) is the root of a mount, for kernels without
/// openat2. A bind mount from the same file system has the same device number, so the
/// kernel's mount-root flag is asked first; before statx (Linux 4.11) only the device
/// number tells.
fn is_mount_root(dir: BorrowedFd<'_>, child: &OwnedFd) -> rustix::io::Result<bool> {
    let flags = AtFlags::EMPTY_PATH | AtFlags::NO_AUTOMOUNT;
    match rustix::fs::statx(child, "", flags, StatxFlags::empty()) {
        Ok(stat)
            if stat
                .stx_attributes_mask
                .contains(StatxAttributes::MOUNT_ROOT) =>
        {
            Ok(stat.stx_attributes.contains(StatxAttributes::MOUNT_ROOT))
        }
        Ok(_) | Err(Errno::NOSYS) => {
            Ok(rustix::fs::fstat(child)?.st_dev != rustix::fs::fstat(dir)?.st_dev)
        }
        Err(e) => Err(e),
    }
}

fn remove_empty_dir(dir: BorrowedFd<'_>, name: &[u8], rel: &RelPath) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::ACCESS) => {
            make_accessible(dir)?;
            match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(at_rel(rel, e.into())),
            }
        }
        Err(e) => Err(at_rel(rel, e.into())),
    }
}

/// Gives the owner full access to an open directory, so its entries can be removed.
fn make_accessible(dir: BorrowedFd<'_>) -> io::Result<()> {
    let mode = rustix::fs::fstat(dir)?.st_mode;
    rustix::fs::fchmod(dir, Mode::from_raw_mode((mode | 0o700) & 0o7777))?;
    Ok(())
}

fn at_rel(rel: &RelPath, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", rel.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn removes_unreadable_and_deep_trees_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"x").unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("a/b/c")).unwrap();
        fs::write(tree.join("a/b/c/file"), b"data").unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("a/link")).unwrap();
        fs::set_permissions(tree.join("a/b"), fs::Permissions::from_mode(0o000)).unwrap();
        let mut deep = tree.join("deep");
        for _ in 0..300 {
            deep.push("d");
        }
        fs::create_dir_all(&deep).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        assert_eq!(fs::read(outside.join("keep")).unwrap(), b"x");
        remove_tree(&tree).unwrap();
        // A symlink given as the tree is removed itself, not what it points to.
        std::os::unix::fs::symlink(&outside, dir.path().join("l")).unwrap();
        remove_tree(&dir.path().join("l")).unwrap();
        assert!(outside.join("keep").exists());
    }

    #[test]
    fn refuses_to_enter_a_mount_point() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let precious = dir.path().join("precious");
        fs::create_dir_all(tree.join("mnt")).unwrap();
        fs::create_dir(&precious).unwrap();
        fs::write(precious.join("data"), b"keep").unwrap();
        rustix::mount::mount_bind(&precious, tree.join("mnt")).unwrap();
        let err = remove_tree(&tree).unwrap_err().to_string();
        rustix::mount::unmount(tree.join("mnt"), rustix::mount::UnmountFlags::DETACH).unwrap();
        assert!(err.contains("mnt: it is a mount point"), "{err}");
        assert_eq!(fs::read(precious.join("data")).unwrap(), b"keep");
        remove_tree(&tree).unwrap();
    }
}
