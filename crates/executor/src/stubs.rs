//! Mount stubs: files and directories that exist only because the runtime needed
//! something to mount onto (`/etc/hosts` in an image without one, the target of a
//! `RUN --mount`). BuildKit removes them after the step when they are still empty, so
//! they never reach the image, and restores the parent directory's times; hearth does
//! the same. Paths that already existed, or that the step filled, are left alone.
//!
//! The step has run in this tree as root and may have changed anything in it, including
//! turning a stub's parent into a symlink to a host directory (CVE-2024-23652). So
//! cleanup trusts nothing recorded but the names: each stub's parent is reached again
//! through `O_NOFOLLOW` descriptors from the root, a stub whose path now passes through
//! a link is skipped, and only an entry that is still an empty directory or an empty
//! regular file is unlinked, relative to its parent's descriptor.

use std::os::fd::OwnedFd;
use std::path::Path;

use hearth_fsroot::{RelPath, Root};
use rustix::fs::{AtFlags, FileType};

/// Paths recorded before a step runs, resolved inside the root filesystem.
#[derive(Debug, Clone, Default)]
pub struct MountStubs {
    paths: Vec<RelPath>,
}

impl MountStubs {
    /// Records which mount destinations (and, with `recursive`, which of their parents)
    /// do not exist yet. Destinations are resolved inside `rootfs` as BuildKit does
    /// (a link in the image leads to where the runtime will create the stub).
    /// `/etc/resolv.conf` and `/etc/hosts` are always considered.
    pub fn record<'a>(
        rootfs: &Path,
        destinations: impl IntoIterator<Item = &'a str>,
        recursive: bool,
    ) -> Self {
        let Ok(root) = Root::open(rootfs) else {
            return Self::default();
        };
        let mut paths = Vec::new();
        let fixed = ["/etc/resolv.conf", "/etc/hosts"];
        for dest in fixed.into_iter().chain(destinations) {
            let Ok(mut path) = root.resolve(dest.as_bytes()) else {
                continue;
            };
            while !path.is_root() && !exists(&root, &path) {
                paths.push(path.clone());
                if !recursive {
                    break;
                }
                path = path.parent();
            }
        }
        Self { paths }
    }

    /// Removes the recorded paths that are still empty (an empty directory or a
    /// zero-length regular file), deepest first as recorded, restoring each parent's
    /// times. Never follows a link the step may have planted.
    pub fn clean(&self, rootfs: &Path) {
        let Ok(root) = Root::open(rootfs) else {
            return;
        };
        for path in &self.paths {
            // A parent that now passes through a symlink is not ours to touch.
            let Ok(parent) = root.open_dir(&path.parent(), None, &mut |_| {}) else {
                continue;
            };
            remove_if_empty_stub(&parent, path.file_name());
        }
    }

    /// The recorded paths, relative to the root filesystem (for tests and diagnostics).
    pub fn paths(&self) -> &[RelPath] {
        &self.paths
    }
}

/// Whether anything (a link included) is at `path`, reached without following links.
fn exists(root: &Root, path: &RelPath) -> bool {
    match root.open_dir(&path.parent(), None, &mut |_| {}) {
        Ok(parent) => !matches!(hearth_fsroot::lstat_at(&parent, path.file_name()), Ok(None)),
        // Below a missing directory nothing exists; below a link or a file the runtime
        // resolves elsewhere, and that is not a stub this step can own.
        Err(hearth_fsroot::OpenError::Io(e)) if hearth_fsroot::is_not_found(&e) => false,
        Err(_) => true,
    }
}

/// Unlinks `name` in `parent` if it is an empty directory or an empty regular file,
/// then puts back the parent's times the removal changed.
fn remove_if_empty_stub(parent: &OwnedFd, name: &[u8]) {
    let Ok(Some(st)) = hearth_fsroot::lstat_at(parent, name) else {
        return;
    };
    let flags = match hearth_fsroot::file_type(&st) {
        FileType::Directory => {
            let empty = hearth_fsroot::open_dir_at(parent, name)
                .and_then(hearth_fsroot::read_dir_names)
                .is_ok_and(|names| names.is_empty());
            if !empty {
                return;
            }
            AtFlags::REMOVEDIR
        }
        FileType::RegularFile if st.st_size == 0 => AtFlags::empty(),
        _ => return,
    };
    let Ok(before) = rustix::fs::fstat(parent) else {
        return;
    };
    if rustix::fs::unlinkat(parent, name, flags).is_ok() {
        let times = rustix::fs::Timestamps {
            last_access: timespec(before.st_atime, before.st_atime_nsec),
            last_modification: timespec(before.st_mtime, before.st_mtime_nsec),
        };
        let _ = rustix::fs::futimens(parent, &times);
    }
}

fn timespec(secs: i64, nsecs: impl TryInto<i64>) -> rustix::fs::Timespec {
    rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: nsecs.try_into().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::fs;
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    fn shown(stubs: &MountStubs) -> Vec<String> {
        stubs.paths().iter().map(RelPath::display).collect()
    }

    #[test]
    fn removes_only_new_empty_stubs() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/hosts"), "existing\n").unwrap();
        fs::create_dir_all(r.join("existing")).unwrap();
        let stubs = MountStubs::record(r, ["/mnt/cache/deep", "/existing", "/filled"], true);
        // The runtime creates the stubs.
        fs::write(r.join("etc/resolv.conf"), "").unwrap();
        fs::create_dir_all(r.join("mnt/cache/deep")).unwrap();
        fs::create_dir_all(r.join("filled")).unwrap();
        fs::write(r.join("filled/data"), "x").unwrap();
        stubs.clean(r);
        assert!(!r.join("etc/resolv.conf").exists());
        assert_eq!(
            fs::read_to_string(r.join("etc/hosts")).unwrap(),
            "existing\n"
        );
        assert!(
            !r.join("mnt").exists(),
            "recursive removal takes the created parents too"
        );
        assert!(r.join("existing").exists());
        assert!(r.join("filled/data").exists());
    }

    #[test]
    fn destinations_resolve_inside_the_root_and_parents_stay_when_not_recursive() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir(r.join("run")).unwrap();
        std::os::unix::fs::symlink("/run", r.join("varrun")).unwrap();
        std::os::unix::fs::symlink("/tmp", r.join("link")).unwrap();
        let stubs = MountStubs::record(r, ["/a/b", "/varrun/x", "/link/x"], false);
        assert_eq!(
            shown(&stubs),
            ["etc/resolv.conf", "etc/hosts", "a/b", "run/x", "tmp/x"]
        );
        fs::create_dir_all(r.join("a/b")).unwrap();
        fs::create_dir(r.join("run/x")).unwrap();
        stubs.clean(r);
        assert!(!r.join("a/b").exists());
        assert!(r.join("a").exists());
        assert!(
            !r.join("run/x").exists(),
            "the stub behind an image link goes too"
        );
    }

    #[test]
    fn a_parent_turned_into_a_link_to_the_host_is_not_followed() {
        // The step replaces the stub's parent with a link to a host directory holding
        // an empty file and an empty directory of the stubs' names.
        let host = tempfile::tempdir().unwrap();
        let h = host.path();
        fs::write(h.join("hosts"), "").unwrap();
        fs::create_dir(h.join("deep")).unwrap();
        let times = |p: &Path| {
            let m = fs::metadata(p).unwrap();
            (m.mtime(), m.mtime_nsec())
        };
        let old = times(h);
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let stubs = MountStubs::record(r, ["/mnt/deep"], true);
        fs::create_dir_all(r.join("mnt/deep")).unwrap();
        fs::create_dir(r.join("etc")).unwrap();
        fs::write(r.join("etc/hosts"), "").unwrap();
        // What the step did:
        fs::remove_dir_all(r.join("mnt")).unwrap();
        std::os::unix::fs::symlink(h, r.join("mnt")).unwrap();
        fs::remove_dir_all(r.join("etc")).unwrap();
        std::os::unix::fs::symlink(h, r.join("etc")).unwrap();
        stubs.clean(r);
        assert!(h.join("hosts").exists(), "the host's file was deleted");
        assert!(h.join("deep").exists(), "the host's directory was deleted");
        assert_eq!(times(h), old, "the host's times changed");
    }
}
