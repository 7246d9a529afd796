//! Helpers shared by the integration tests: a root check, a tree builder, a tree
//! comparison that sees everything a layer can carry, and raw tar entry crafting.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// These tests create devices, chown and set trusted xattrs: they need root.
pub(crate) fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "hearth-layer's integration tests need root (mknod, chown, trusted.* xattrs, mount); \
         run them as root or in a privileged container"
    );
}

pub(crate) fn write(root: &Path, rel: &str, data: &[u8], mode: u32) -> PathBuf {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, data).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

pub(crate) fn mkdir(root: &Path, rel: &str, mode: u32) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

pub(crate) fn symlink(root: &Path, rel: &str, target: &str) {
    std::os::unix::fs::symlink(target, root.join(rel)).unwrap();
}

pub(crate) fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

pub(crate) fn whiteout(root: &Path, rel: &str) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join(rel),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
}

pub(crate) fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty()).unwrap();
}

pub(crate) fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

/// Sets whole-second times (layers keep seconds only) on every path below `root`, children
/// before parents so directory times stick.
pub(crate) fn settle_times(root: &Path, secs: i64) {
    let mut paths = Vec::new();
    collect(root, Path::new(""), &mut paths);
    paths.reverse();
    for rel in paths {
        let ts = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: secs,
                tv_nsec: 0,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: secs,
                tv_nsec: 0,
            },
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            root.join(&rel),
            &ts,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }
}

fn collect(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let mut names: Vec<_> = std::fs::read_dir(root.join(rel))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let child = rel.join(&name);
        out.push(child.clone());
        if std::fs::symlink_metadata(root.join(&child))
            .unwrap()
            .is_dir()
        {
            collect(root, &child, out);
        }
    }
}

/// Everything about one path that a layer round trip must keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) kind: &'static str,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mtime: Option<i64>,
    pub(crate) content: Option<Vec<u8>>,
    pub(crate) target: Option<PathBuf>,
    pub(crate) rdev: u64,
    pub(crate) xattrs: BTreeMap<String, Vec<u8>>,
    /// Other paths sharing the inode (hardlinks), sorted.
    pub(crate) links: Vec<PathBuf>,
}

/// How to look at a tree.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Snapshot {
    /// Leave out the mtime of whiteout devices (writers do not carry it).
    pub(crate) ignore_whiteout_mtime: bool,
    /// Leave out all mtimes.
    pub(crate) ignore_mtime: bool,
}

pub(crate) fn snapshot(root: &Path, how: Snapshot) -> BTreeMap<PathBuf, Node> {
    let mut paths = Vec::new();
    collect(root, Path::new(""), &mut paths);
    let mut by_inode: HashMap<(u64, u64), Vec<PathBuf>> = HashMap::new();
    let mut out = BTreeMap::new();
    for rel in &paths {
        let path = root.join(rel);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_char_device() {
            "char"
        } else if ft.is_block_device() {
            "block"
        } else if ft.is_fifo() {
            "fifo"
        } else if ft.is_socket() {
            "socket"
        } else {
            "file"
        };
        if !ft.is_dir() && meta.nlink() > 1 {
            by_inode
                .entry((meta.dev(), meta.ino()))
                .or_default()
                .push(rel.clone());
        }
        let mut xattrs = BTreeMap::new();
        let mut list = vec![0u8; 65536];
        if let Ok(n) = rustix::fs::llistxattr(&path, &mut list[..]) {
            for name in list[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
                let name = String::from_utf8(name.to_vec()).unwrap();
                if let Some(v) = get_xattr(&path, &name) {
                    xattrs.insert(name, v);
                }
            }
        }
        let is_whiteout = ft.is_char_device() && meta.rdev() == 0;
        let mtime = if how.ignore_mtime || (is_whiteout && how.ignore_whiteout_mtime) {
            None
        } else {
            Some(meta.mtime())
        };
        out.insert(
            rel.clone(),
            Node {
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                mtime,
                content: ft.is_file().then(|| std::fs::read(&path).unwrap()),
                target: ft.is_symlink().then(|| std::fs::read_link(&path).unwrap()),
                rdev: meta.rdev(),
                xattrs,
                links: Vec::new(),
            },
        );
    }
    for group in by_inode.values() {
        for p in group {
            let mut others: Vec<PathBuf> = group.iter().filter(|o| *o != p).cloned().collect();
            others.sort();
            out.get_mut(p).unwrap().links = others;
        }
    }
    out
}

/// Asserts two trees are the same, with a readable first difference.
pub(crate) fn assert_same_tree(a: &Path, b: &Path, how: Snapshot) {
    let sa = snapshot(a, how);
    let sb = snapshot(b, how);
    let keys_a: Vec<_> = sa.keys().collect();
    let keys_b: Vec<_> = sb.keys().collect();
    assert_eq!(keys_a, keys_b, "the trees hold different paths");
    for (path, node) in &sa {
        assert_eq!(node, &sb[path], "{} differs", path.display());
    }
}

/// A tar entry written byte by byte, so tests can produce what no sane writer would.
pub(crate) struct Raw<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) typeflag: u8,
    pub(crate) link: &'a [u8],
    pub(crate) data: &'a [u8],
    pub(crate) mode: u32,
}

impl<'a> Raw<'a> {
    pub(crate) fn file(name: &'a str, data: &'a [u8]) -> Self {
        Self {
            name: name.as_bytes(),
            typeflag: b'0',
            link: b"",
            data,
            mode: 0o644,
        }
    }

    pub(crate) fn dir(name: &'a str) -> Self {
        Self {
            name: name.as_bytes(),
            typeflag: b'5',
            link: b"",
            data: b"",
            mode: 0o755,
        }
    }

    pub(crate) fn symlink(name: &'a str, target: &'a str) -> Self {
        Self {
            name: name.as_bytes(),
            typeflag: b'2',
            link: target.as_bytes(),
            data: b"",
            mode: 0o777,
        }
    }

    pub(crate) fn hardlink(name: &'a str, target: &'a str) -> Self {
        Self {
            name: name.as_bytes(),
            typeflag: b'1',
            link: target.as_bytes(),
            data: b"",
            mode: 0o644,
        }
    }
}

/// Builds a tar from raw entries (names up to 100 bytes, written verbatim).
pub(crate) fn raw_tar(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut header = tar::Header::new_ustar();
        {
            let old = header.as_old_mut();
            old.name[..e.name.len()].copy_from_slice(e.name);
            old.linkname[..e.link.len()].copy_from_slice(e.link);
        }
        header.set_entry_type(tar::EntryType::new(e.typeflag));
        header.set_mode(e.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_600_000_000);
        header.set_size(e.data.len() as u64);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(e.data);
        let pad = (512 - e.data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Lists entry names (with type flag) of a tar stream.
pub(crate) fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            String::from_utf8_lossy(&e.path_bytes()).into_owned()
        })
        .collect()
}

pub(crate) fn os(s: &str) -> &OsStr {
    OsStr::from_bytes(s.as_bytes())
}
