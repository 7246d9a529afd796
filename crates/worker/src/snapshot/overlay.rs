//! The overlayfs snapshotter.
//!
//! To run a step hearth mounts an overlay with the input's layers as lower directories
//! and a fresh upper directory, which becomes the step's new layer: the kernel records
//! every change, whiteouts and opaque directories included, so the layer diff costs
//! nothing extra. Read-only views of a stack are overlays without an upper directory.
//!
//! Two limits bound a mount. The kernel stacks at most [`MAX_LOWER_DIRS`] lower
//! directories in one overlay; deeper stacks are the caller's to flatten. And the
//! options must reach the kernel whole: layers are added one by one with the new mount
//! API's `lowerdir+` (Linux 6.8+), which has no length limit; older kernels get the
//! classic `mount(2)` option string, which the kernel cuts at one page, so each directory
//! is named there by a descriptor number (containerd shortens its paths the same way,
//! with a working directory), which fits the whole stack in a page.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount,
};

use super::MountError;

/// The most lower directories one overlay stacks: the kernel's `OVL_MAX_STACK`, 500
/// since overlayfs took several lower directories (Linux 3.19) and still in 6.18, where
/// the 501st `lowerdir+` is refused with `EINVAL`.
pub(crate) const MAX_LOWER_DIRS: usize = 500;

/// The longest option string `mount(2)` passes on: it copies one page and drops the rest
/// without an error, so a longer `lowerdir=` used to mount a read-only overlay of only the
/// top few dozen layers. 4096 bytes (with the closing NUL) is the smallest page Linux uses.
const MOUNT_DATA_MAX: usize = 4096;

/// A mounted overlay; unmounted (lazily) when dropped.
#[derive(Debug)]
pub(crate) struct OverlayMount {
    target: PathBuf,
    mounted: bool,
}

impl OverlayMount {
    /// Where it is mounted.
    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    /// Unmounts now, reporting failure.
    pub(crate) fn unmount(mut self) -> io::Result<()> {
        self.mounted = false;
        rustix::mount::unmount(&self.target, UnmountFlags::DETACH).map_err(io::Error::from)
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = rustix::mount::unmount(&self.target, UnmountFlags::DETACH);
        }
    }
}

/// Mounts `layers` (bottom first) at `target` with `upper`/`work` as the writable
/// layer. With no layers the upper directory alone is the filesystem.
pub(crate) fn mount_writable(
    layers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    empty: &Path,
) -> Result<OverlayMount, MountError> {
    let lowers: Vec<&Path> = if layers.is_empty() {
        vec![empty]
    } else {
        layers.iter().map(PathBuf::as_path).collect()
    };
    overlay(&lowers, Some((upper, work)), target)
}

/// Mounts a read-only view of two or more directories (bottom first) at `target`.
/// A single layer needs `empty` beside it: overlay wants two lower directories without
/// an upper one, and the empty one keeps the layer's whiteout devices from showing.
pub(crate) fn mount_readonly(
    layers: &[PathBuf],
    target: &Path,
    empty: &Path,
) -> Result<OverlayMount, MountError> {
    match layers {
        [only] => overlay(&[empty, only.as_path()], None, target),
        _ => overlay(
            &layers.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
            None,
            target,
        ),
    }
}

fn overlay(
    lowers_bottom_first: &[&Path],
    upper: Option<(&Path, &Path)>,
    target: &Path,
) -> Result<OverlayMount, MountError> {
    let err = |source: io::Error| {
        MountError::new(
            format!(
                "cannot mount an overlay of {} layers",
                lowers_bottom_first.len()
            ),
            target,
            source,
        )
    };
    if lowers_bottom_first.len() > MAX_LOWER_DIRS {
        return Err(err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "overlayfs stacks at most {MAX_LOWER_DIRS} lower directories (the kernel's OVL_MAX_STACK); \
                 use the native snapshotter for deeper stacks"
            ),
        )));
    }
    match overlay_new_api(lowers_bottom_first, upper, target) {
        Ok(()) => {}
        // No `lowerdir+` before Linux 6.8, and no new mount API at all before 5.2. A
        // path longer than the 255 bytes `fsconfig` takes is refused the same way.
        Err(e)
            if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
                || e.raw_os_error() == Some(rustix::io::Errno::NOSYS.raw_os_error()) =>
        {
            overlay_legacy(lowers_bottom_first, upper, target).map_err(err)?;
        }
        Err(e) => return Err(err(e)),
    }
    Ok(OverlayMount {
        target: target.to_path_buf(),
        mounted: true,
    })
}

fn overlay_new_api(
    lowers_bottom_first: &[&Path],
    upper: Option<(&Path, &Path)>,
    target: &Path,
) -> io::Result<()> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    // `lowerdir+` appends below the previous ones, so add from the top down.
    for lower in lowers_bottom_first.iter().rev() {
        fsconfig_set_string(fs.as_fd(), "lowerdir+", *lower)?;
    }
    if let Some((upper, work)) = upper {
        fsconfig_set_string(fs.as_fd(), "upperdir", upper)?;
        fsconfig_set_string(fs.as_fd(), "workdir", work)?;
    }
    fsconfig_create(fs.as_fd())?;
    let attrs = if upper.is_some() {
        MountAttrFlags::empty()
    } else {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    };
    let mnt = fsmount(fs.as_fd(), FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    move_mount(
        mnt.as_fd(),
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

fn overlay_legacy(
    lowers_bottom_first: &[&Path],
    upper: Option<(&Path, &Path)>,
    target: &Path,
) -> io::Result<()> {
    let lower_dirs = lowers_bottom_first
        .iter()
        .rev()
        .map(|p| open_path(p))
        .collect::<io::Result<Vec<_>>>()?;
    let names: Vec<String> = lower_dirs
        .iter()
        .map(|fd| fd.as_raw_fd().to_string())
        .collect();
    let mut data = format!("lowerdir={}", names.join(":"));
    let mut flags = MountFlags::empty();
    let upper_dirs = match upper {
        Some((upper, work)) => {
            let dirs = (open_path(upper)?, open_path(work)?);
            data.push_str(&format!(
                ",upperdir={},workdir={}",
                dirs.0.as_raw_fd(),
                dirs.1.as_raw_fd()
            ));
            Some(dirs)
        }
        None => {
            flags |= MountFlags::RDONLY;
            None
        }
    };
    if data.len() >= MOUNT_DATA_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the overlay's mount options take {} bytes, more than the {MOUNT_DATA_MAX} mount(2) reads",
                data.len() + 1
            ),
        ));
    }
    // The target is resolved in the mounting thread, whose working directory is elsewhere.
    let target = std::path::absolute(target)?;
    let data = CString::new(data).map_err(io::Error::other)?;
    let mounted = std::thread::scope(|scope| {
        scope
            .spawn(|| mount_from_descriptor_dir(&target, flags, &data))
            .join()
    });
    // The descriptors must stay open until the kernel has resolved the names.
    drop((lower_dirs, upper_dirs));
    mounted.map_err(|_| io::Error::other("the thread mounting the overlay panicked"))?
}

/// Runs `mount(2)` with `data` naming directories by descriptor number, relative to
/// `/proc/thread-self/fd`. Only this thread changes its working directory.
fn mount_from_descriptor_dir(
    target: &Path,
    flags: MountFlags,
    data: &std::ffi::CStr,
) -> io::Result<()> {
    own_working_directory()?;
    rustix::process::chdir("/proc/thread-self/fd")?;
    rustix::mount::mount("overlay", target, "overlay", flags, data).map_err(io::Error::from)
}

/// Gives the calling thread a working directory of its own, so that changing it does not
/// move the rest of the process.
#[allow(unsafe_code)]
fn own_working_directory() -> io::Result<()> {
    // SAFETY: `unshare` is unsafe because of `CLONE_FILES`, which would split the
    // descriptor table that `OwnedFd`s are shared through. Only `CLONE_FS` is unshared
    // here: the working directory, root and umask of this short-lived thread.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }
        .map_err(io::Error::from)
}

/// A descriptor for the directory at `path`, good only for naming it.
fn open_path(path: &Path) -> io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("{}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn layer(root: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap();
        for (path, content) in files {
            let p = dir.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }
        dir
    }

    #[test]
    fn writable_overlay_records_changes_in_the_upper_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let bottom = layer(t, "l1", &[("a", "1"), ("gone", "x"), ("d/inner", "i")]);
        let top = layer(t, "l2", &[("a", "2")]);
        let (upper, work, mnt, empty) = (
            t.join("upper"),
            t.join("work"),
            t.join("mnt"),
            t.join("empty"),
        );
        for d in [&upper, &work, &mnt, &empty] {
            fs::create_dir_all(d).unwrap();
        }
        let m = mount_writable(&[bottom, top], &upper, &work, &mnt, &empty).unwrap();
        assert_eq!(
            fs::read_to_string(mnt.join("a")).unwrap(),
            "2",
            "upper layers win"
        );
        fs::write(mnt.join("new"), "n").unwrap();
        fs::remove_file(mnt.join("gone")).unwrap();
        m.unmount().unwrap();
        assert_eq!(fs::read_to_string(upper.join("new")).unwrap(), "n");
        let whiteout = fs::symlink_metadata(upper.join("gone")).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(
            whiteout.file_type().is_char_device(),
            "a deletion is a whiteout in the upper dir"
        );
        assert!(!upper.join("a").exists());
    }

    #[test]
    fn readonly_views_of_one_and_many_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let one = layer(t, "one", &[("f", "1")]);
        let (mnt, empty) = (t.join("mnt"), t.join("empty"));
        fs::create_dir_all(&mnt).unwrap();
        fs::create_dir_all(&empty).unwrap();
        let m = mount_readonly(std::slice::from_ref(&one), &mnt, &empty).unwrap();
        assert_eq!(fs::read_to_string(mnt.join("f")).unwrap(), "1");
        assert!(fs::write(mnt.join("x"), "no").is_err(), "read-only");
        drop(m);
        assert!(!mnt.join("f").exists(), "dropping unmounts");
        // Many layers: more than the classic option string could hold.
        let layers: Vec<PathBuf> = (0..120)
            .map(|i| {
                layer(
                    t,
                    &format!("layer-with-a-long-name-to-fill-mount-options-{i:03}"),
                    &[(&format!("f{i}"), "x")],
                )
            })
            .collect();
        let m = mount_readonly(&layers, &mnt, &empty).unwrap();
        assert!(mnt.join("f0").exists() && mnt.join("f119").exists());
        drop(m);
    }

    /// Kernels before 6.8 only take the classic option string. With every path spelt
    /// out, a page held about 65 layers of a store under `/var/lib/hearth`; past that the
    /// kernel silently dropped the rest, upper directory included.
    #[test]
    fn classic_mount_of_the_deepest_stack_with_long_paths_keeps_every_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp
            .path()
            .join("a-state-root-whose-path-is-as-long-as-many-real-ones-are");
        let layers: Vec<PathBuf> = (0..MAX_LOWER_DIRS)
            .map(|i| {
                layer(
                    &t,
                    &format!("v1/layers/{i:026}/diff"),
                    &[(&format!("f{i}"), &i.to_string())],
                )
            })
            .collect();
        let (upper, work, mnt) = (t.join("upper"), t.join("work"), t.join("mnt"));
        for d in [&upper, &work, &mnt] {
            fs::create_dir_all(d).unwrap();
        }
        let lowers: Vec<&Path> = layers.iter().map(PathBuf::as_path).collect();
        overlay_legacy(&lowers, Some((&upper, &work)), &mnt).unwrap();
        let mounted = OverlayMount {
            target: mnt.clone(),
            mounted: true,
        };
        let last = MAX_LOWER_DIRS - 1;
        assert_eq!(fs::read_to_string(mnt.join("f0")).unwrap(), "0");
        assert_eq!(
            fs::read_to_string(mnt.join(format!("f{last}"))).unwrap(),
            last.to_string()
        );
        fs::write(mnt.join("new"), "n").unwrap();
        mounted.unmount().unwrap();
        assert_eq!(fs::read_to_string(upper.join("new")).unwrap(), "n");

        overlay_legacy(&lowers, None, &mnt).unwrap();
        let mounted = OverlayMount {
            target: mnt.clone(),
            mounted: true,
        };
        assert!(mnt.join("f0").exists() && mnt.join(format!("f{last}")).exists());
        assert!(fs::write(mnt.join("x"), "no").is_err(), "read-only");
        mounted.unmount().unwrap();
    }

    #[test]
    fn a_stack_deeper_than_the_kernel_mounts_is_refused_with_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let layers: Vec<PathBuf> = (0..=MAX_LOWER_DIRS)
            .map(|i| layer(t, &format!("l{i}"), &[]))
            .collect();
        let (mnt, empty) = (t.join("mnt"), t.join("empty"));
        fs::create_dir_all(&mnt).unwrap();
        fs::create_dir_all(&empty).unwrap();
        let message = mount_readonly(&layers, &mnt, &empty)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("at most 500 lower directories"),
            "{message}"
        );
    }
}
