//! Mount sources below a root, pinned before the runtime sees them.
//!
//! `RUN --mount ... source=PATH` names a path inside a context, a stage or a cache seed,
//! and that tree may hold links anywhere (`/x -> /etc`, `../../..`) or be changed by
//! another step while this one starts (CVE-2024-23651). Joining the path to the root
//! and handing the string to runc would make runc bind-mount whatever the string leads
//! to on the host when it mounts. Instead the path is opened by the kernel inside its
//! root (`RESOLVE_IN_ROOT`) and the object that descriptor holds is bind-mounted onto a
//! scratch mount point of the daemon's own, as BuildKit's `sub` does; the runtime then
//! mounts that mount point, which names exactly what was resolved.

use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};

use hearth_fsroot::Root;
use rustix::fs::{FileType, OFlags};

use crate::Error;

/// A mount source: the root itself, or a pinned subpath of it.
#[derive(Debug)]
pub(crate) enum Source {
    /// The whole root (nothing to resolve; the root is the daemon's own).
    Root(PathBuf),
    /// A subpath bind-mounted onto a scratch mount point; unmounted when dropped.
    Pinned(Pinned),
}

impl Source {
    /// What to hand the runtime.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Self::Root(path) => path,
            Self::Pinned(pinned) => &pinned.mountpoint,
        }
    }
}

/// A bind mount of a resolved subpath; detached and its mount point removed on drop.
#[derive(Debug)]
pub(crate) struct Pinned {
    mountpoint: PathBuf,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.mountpoint, rustix::mount::UnmountFlags::DETACH);
        match std::fs::symlink_metadata(&self.mountpoint) {
            Ok(meta) if meta.is_dir() => {
                let _ = std::fs::remove_dir(&self.mountpoint);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&self.mountpoint);
            }
            Err(_) => {}
        }
    }
}

/// Resolves `selector` (absolute inside `root`) and pins it at `mountpoint`, a path in
/// the daemon's scratch space that must not exist yet.
pub(crate) fn pin(root: &Path, selector: &str, mountpoint: &Path) -> Result<Source, Error> {
    let failed = |cause: std::io::Error| Error::MountSource {
        path: selector.to_owned(),
        cause,
    };
    if selector.split('/').all(|c| c.is_empty() || c == ".") {
        return Ok(Source::Root(root.to_path_buf()));
    }
    let tree = Root::open(root).map_err(|e| Error::io(root, e))?;
    let fd = tree
        .open_in_root(selector.as_bytes(), OFlags::PATH)
        .map_err(failed)?;
    let is_dir = FileType::from_raw_mode(
        rustix::fs::fstat(&fd)
            .map_err(|e| failed(e.into()))?
            .st_mode,
    ) == FileType::Directory;
    if is_dir {
        std::fs::create_dir(mountpoint)
    } else {
        std::fs::File::create_new(mountpoint).map(drop)
    }
    .map_err(|e| Error::io(mountpoint, e))?;
    let pinned = Pinned {
        mountpoint: mountpoint.to_path_buf(),
    };
    // The magic link names the object the descriptor holds, whatever happened to the
    // path since it was resolved.
    let held = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::mount::mount_bind_recursive(held.as_str(), mountpoint)
        .map_err(|e| Error::io(mountpoint, e.into()))?;
    drop(fd);
    Ok(Source::Pinned(pinned))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use std::fs;

    use super::*;

    #[test]
    fn a_source_through_links_stays_inside_its_root() {
        let scratch = tempfile::tempdir().unwrap();
        let host = scratch.path().join("host");
        let root = scratch.path().join("root");
        fs::create_dir_all(host.join("etc")).unwrap();
        fs::write(host.join("etc/secret"), "host").unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/secret"), "image").unwrap();
        // Links a hostile tree holds: absolute, climbing out with `..`, and naming the
        // host directory's real path. Each leads to the image's file or to nothing.
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../../etc", root.join("up")).unwrap();
        std::os::unix::fs::symlink(host.join("etc"), root.join("hostpath")).unwrap();
        for selector in ["/abs/secret", "up/secret", "/etc/secret"] {
            let at = scratch
                .path()
                .join(format!("m-{}", selector.replace('/', "_")));
            let source = pin(&root, selector, &at).unwrap();
            assert_eq!(
                fs::read_to_string(source.path()).unwrap(),
                "image",
                "{selector}"
            );
            drop(source);
            assert!(!at.exists(), "the mount point is removed");
        }
        let err = pin(&root, "/hostpath/secret", &scratch.path().join("h")).unwrap_err();
        assert!(matches!(err, Error::MountSource { .. }), "{err}");
        let dir = pin(&root, "/etc", &scratch.path().join("d")).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("secret")).unwrap(),
            "image"
        );
        assert!(matches!(
            pin(&root, "/", &scratch.path().join("r")).unwrap(),
            Source::Root(p) if p == root
        ));
        let missing = pin(&root, "/nothing", &scratch.path().join("n")).unwrap_err();
        assert!(matches!(missing, Error::MountSource { .. }), "{missing}");
    }
}
