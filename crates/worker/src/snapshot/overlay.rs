//! The overlayfs snapshotter.
//!
//! To run a step hearth mounts an overlay with the input's layers as lower directories
//! and a fresh upper directory, which becomes the step's new layer: the kernel records
//! every change, whiteouts and opaque directories included, so the layer diff costs
//! nothing extra. Read-only views of a stack are overlays without an upper directory.
//!
//! Layers are added one by one with the new mount API's `lowerdir+` (Linux 6.8+),
//! which has no limit on the number of layers; older kernels get the classic option
//! string, which fits about sixty layers.

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount,
};

use super::MountError;

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
    match overlay_new_api(lowers_bottom_first, upper, target) {
        Ok(()) => {}
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
    let lower: Vec<String> = lowers_bottom_first
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let mut data = format!("lowerdir={}", lower.join(":"));
    let mut flags = MountFlags::empty();
    match upper {
        Some((upper, work)) => data.push_str(&format!(
            ",upperdir={},workdir={}",
            upper.display(),
            work.display()
        )),
        None => flags |= MountFlags::RDONLY,
    }
    let data = std::ffi::CString::new(data).map_err(io::Error::other)?;
    rustix::mount::mount("overlay", target, "overlay", flags, data.as_c_str())
        .map_err(io::Error::from)
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
}
