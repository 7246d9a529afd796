//! Helpers shared by the integration tests: building trees with exact metadata and
//! describing trees as sorted lines, one per entry, that tests compare whole.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use hearth_graph::op::{Chmod, CopyAction};
use tempfile::TempDir;

/// A source root and a destination root side by side, plus a sentinel directory
/// outside both that must never be touched.
pub(crate) struct Roots {
    _tmp: TempDir,
    pub(crate) src: PathBuf,
    pub(crate) dest: PathBuf,
    pub(crate) outside: PathBuf,
}

impl Roots {
    pub(crate) fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let dest = tmp.path().join("dest");
        let outside = tmp.path().join("outside");
        for d in [&src, &dest, &outside] {
            std::fs::create_dir(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(outside.join("sentinel"), "outside").unwrap();
        Self {
            _tmp: tmp,
            src,
            dest,
            outside,
        }
    }

    /// The outside directory still holds only its sentinel, unchanged.
    pub(crate) fn assert_outside_untouched(&self) {
        assert_eq!(tree(&self.outside), ["/sentinel file 0644 0:0 \"outside\""]);
    }
}

/// `root/path` for an in-root path like `/a/b`.
pub(crate) fn at(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// Writes a file (creating parents 0755) with an exact mode.
pub(crate) fn file(root: &Path, path: &str, content: &str, mode: u32) {
    let p = at(root, path);
    if let Some(parent) = p.parent() {
        dirs(parent);
    }
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Creates a directory (and parents 0755) with an exact mode.
pub(crate) fn dir(root: &Path, path: &str, mode: u32) {
    let p = at(root, path);
    dirs(&p);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn dirs(p: &Path) {
    if p.exists() {
        return;
    }
    if let Some(parent) = p.parent() {
        dirs(parent);
    }
    std::fs::create_dir(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Creates a symlink `path -> target`.
pub(crate) fn symlink(root: &Path, path: &str, target: &str) {
    let p = at(root, path);
    if let Some(parent) = p.parent() {
        dirs(parent);
    }
    std::os::unix::fs::symlink(target, p).unwrap();
}

/// `lchown`.
pub(crate) fn chown(root: &Path, path: &str, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(at(root, path), Some(uid), Some(gid)).unwrap();
}

/// Describes every entry below `root` (not `root` itself), sorted by path:
/// `"/p dir 0755 0:0"`, `"/p file 0644 0:0 \"content\""`,
/// `"/p symlink 0:0 -> target"`, `"/p fifo 0644 0:0"`, `"/p char 0644 0:0 7:3"`.
/// A file sharing its inode with an earlier path ends in `hardlink=/first`.
pub(crate) fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut inodes = HashMap::new();
    walk(root, root, &mut out, &mut inodes);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>, inodes: &mut HashMap<u64, String>) {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let p = dir.join(&name);
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let shown = format!("/{}", p.strip_prefix(root).unwrap().display());
        let owner = format!("{}:{}", meta.uid(), meta.gid());
        let mode = meta.mode() & 0o7777;
        let ft = meta.file_type();
        if ft.is_dir() {
            out.push(format!("{shown} dir {mode:04o} {owner}"));
            walk(root, &p, out, inodes);
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&p).unwrap();
            out.push(format!("{shown} symlink {owner} -> {}", target.display()));
        } else if ft.is_file() {
            let content = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            let mut line = format!("{shown} file {mode:04o} {owner} {content:?}");
            if meta.nlink() > 1 {
                match inodes.get(&meta.ino()) {
                    Some(first) => line.push_str(&format!(" hardlink={first}")),
                    None => {
                        inodes.insert(meta.ino(), shown.clone());
                    }
                }
            }
            out.push(line);
        } else {
            use std::os::unix::fs::FileTypeExt as _;
            let kind = if ft.is_fifo() {
                "fifo".to_owned()
            } else if ft.is_char_device() {
                format!(
                    "char {}:{}",
                    rustix::fs::major(meta.rdev()),
                    rustix::fs::minor(meta.rdev())
                )
            } else if ft.is_block_device() {
                format!(
                    "block {}:{}",
                    rustix::fs::major(meta.rdev()),
                    rustix::fs::minor(meta.rdev())
                )
            } else {
                "socket".to_owned()
            };
            let (name, rest) = kind.split_once(' ').unwrap_or((&kind, ""));
            let rest = if rest.is_empty() {
                String::new()
            } else {
                format!(" {rest}")
            };
            out.push(format!("{shown} {name} {mode:04o} {owner}{rest}"));
        }
    }
}

/// A copy action as the Dockerfile frontend makes it for a context source:
/// links named by the source followed, directory contents copied, wildcards on
/// (matching nothing allowed), destination parents created.
pub(crate) fn dockerfile_copy(src: &str, dest: &str) -> CopyAction {
    CopyAction {
        source: Some(1),
        src: src.to_owned(),
        dest: dest.to_owned(),
        owner: None,
        mode: None,
        follow_symlinks: true,
        dir_contents_only: true,
        include_patterns: Vec::new(),
        exclude_patterns: Vec::new(),
        attempt_unpack: false,
        create_dest_path: true,
        allow_wildcard: true,
        allow_empty_wildcard: true,
    }
}

/// A plain LLB copy: nothing followed, directories copied as directories, no
/// wildcards, parents created.
pub(crate) fn plain_copy(src: &str, dest: &str) -> CopyAction {
    CopyAction {
        follow_symlinks: false,
        dir_contents_only: false,
        allow_wildcard: false,
        allow_empty_wildcard: false,
        ..dockerfile_copy(src, dest)
    }
}

/// `dockerfile_copy` with `--chmod`.
pub(crate) fn with_mode(mut action: CopyAction, mode: Chmod) -> CopyAction {
    action.mode = Some(mode);
    action
}

/// Strings for comparing with `tree`.
pub(crate) fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| (*s).to_owned()).collect()
}
