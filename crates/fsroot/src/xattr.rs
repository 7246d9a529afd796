//! Extended attributes, read and copied without following a final symlink.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

use rustix::io::Errno;

/// The SELinux label belongs to the host's policy, not to a file's content: relabelling
/// is the runtime's job and setting a foreign label can fail or mislabel.
const SELINUX_XATTR: &str = "security.selinux";

/// One xattr of `path`; `None` if it is not set or the file system has no xattrs.
pub fn get_xattr(path: &Path, name: impl AsRef<OsStr>) -> io::Result<Option<Vec<u8>>> {
    let name = name.as_ref();
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

/// The names of all xattrs of `path`.
pub fn list_xattrs(path: &Path) -> io::Result<Vec<Vec<u8>>> {
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
            // The list grew between the two calls: ask again.
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The xattrs of `path` as sorted (name, value) pairs, without the SELinux label.
pub fn xattr_pairs(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(names) = list_xattrs(path) else {
        return Vec::new();
    };
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = names
        .into_iter()
        .filter(|n| n != SELINUX_XATTR.as_bytes())
        .filter_map(|n| {
            let value = get_xattr(path, OsStr::from_bytes(&n)).ok().flatten()?;
            Some((n, value))
        })
        .collect();
    out.sort();
    out
}

/// Copies xattrs from `src` to `dst`, without the SELinux label. Failures are ignored,
/// as BuildKit's file operations only log them: a file system without user xattrs must
/// not fail a copy.
pub fn copy_xattrs(src: &Path, dst: &Path) {
    for (name, value) in xattr_pairs(src) {
        use std::os::unix::ffi::OsStrExt as _;
        let _ = rustix::fs::lsetxattr(
            dst,
            OsStr::from_bytes(&name),
            &value,
            rustix::fs::XattrFlags::empty(),
        );
    }
}
