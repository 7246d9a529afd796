//! Filesystems as stacks of layer directories, and the views steps work in.
//!
//! A result is a list of layer directories in overlay "upper" format (bottom first):
//! deletions are whiteouts (0/0 character devices) and replaced directories carry the
//! opaque xattr. Two snapshotters turn a stack into a working directory:
//!
//! - `overlayfs` ([`overlay`]) mounts the stack with a fresh upper directory, which
//!   becomes the step's new layer at no extra cost;
//! - `native` ([`native`]) copies the merged stack into a plain directory and, when the
//!   step is done, compares it with the stack to write the same upper-format layer. It
//!   needs nothing from the kernel and is slower; it is the fallback where overlayfs
//!   cannot be mounted.
//!
//! Both produce identical layers, so a state root can switch between them, and so can a
//! single view: a stack deeper than one overlay mount can hold (the kernel's limit of
//! 500 lower directories) is copied natively even under `overlayfs`, rather than
//! failing the step as the mount would.

mod native;
mod overlay;

use std::io;
use std::path::{Path, PathBuf};

/// Which snapshotter the configuration asks for (`[worker.oci] snapshotter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotterKind {
    /// overlayfs where it can be mounted, else native.
    #[default]
    Auto,
    /// overlayfs, or fail.
    Overlayfs,
    /// Copies.
    Native,
}

/// Why a view could not be made or finished.
#[derive(Debug, thiserror::Error)]
#[error("{what} at {target}: {source}")]
pub struct MountError {
    what: String,
    target: PathBuf,
    #[source]
    source: io::Error,
}

impl MountError {
    fn new(what: impl Into<String>, target: &Path, source: io::Error) -> Self {
        Self {
            what: what.into(),
            target: target.to_path_buf(),
            source,
        }
    }
}

/// The snapshotter a worker uses, decided once when it starts.
#[derive(Debug, Clone)]
pub struct Snapshotter {
    native: bool,
    empty: PathBuf,
}

impl Snapshotter {
    /// Decides between overlayfs and native. `scratch` is a directory on the state root's
    /// filesystem where `Auto` tries an overlay mount; `empty` is an empty directory.
    pub fn new(kind: SnapshotterKind, scratch: &Path, empty: &Path) -> Result<Self, MountError> {
        let native = match kind {
            SnapshotterKind::Native => true,
            SnapshotterKind::Overlayfs => {
                probe_overlay(scratch, empty)?;
                false
            }
            SnapshotterKind::Auto => probe_overlay(scratch, empty).is_err(),
        };
        Ok(Self {
            native,
            empty: empty.to_path_buf(),
        })
    }

    /// Whether a view of `layers` layers is a copy: always under `native`, and under
    /// `overlayfs` for stacks deeper than the kernel mounts.
    fn copies(&self, layers: usize) -> bool {
        self.native || layers > overlay::MAX_LOWER_DIRS
    }

    /// `"overlayfs"` or `"native"`.
    pub fn name(&self) -> &'static str {
        if self.native { "native" } else { "overlayfs" }
    }

    /// A writable view of `layers` (bottom first) at `target` whose changes end up in
    /// `upper` once [`Writable::finish`] is called; `work` is overlay's scratch directory.
    pub fn writable(
        &self,
        layers: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> Result<Writable, MountError> {
        if self.copies(layers.len()) {
            native::materialize(layers, target).map_err(|e| {
                MountError::new(format!("cannot copy {} layers", layers.len()), target, e)
            })?;
            Ok(Writable(WritableInner::Native {
                layers: layers.to_vec(),
                target: target.to_path_buf(),
                upper: upper.to_path_buf(),
                finished: false,
            }))
        } else {
            overlay::mount_writable(layers, upper, work, target, &self.empty)
                .map(|m| Writable(WritableInner::Overlay(Some(m))))
        }
    }

    /// A read-only view of `layers` (bottom first). It is at `target`, except for an
    /// empty stack, whose view is the shared empty directory.
    pub fn readonly(&self, layers: &[PathBuf], target: &Path) -> Result<Mounted, MountError> {
        if layers.is_empty() {
            return Ok(Mounted::plain(self.empty.clone()));
        }
        std::fs::create_dir_all(target)
            .map_err(|e| MountError::new("cannot create the mount point", target, e))?;
        if self.copies(layers.len()) {
            native::materialize(layers, target).map_err(|e| {
                MountError::new(format!("cannot copy {} layers", layers.len()), target, e)
            })?;
            return Ok(Mounted(MountedInner::Copy(target.to_path_buf())));
        }
        overlay::mount_readonly(layers, target, &self.empty)
            .map(|m| Mounted(MountedInner::Overlay(m, target.to_path_buf())))
    }
}

fn probe_overlay(scratch: &Path, empty: &Path) -> Result<(), MountError> {
    let dir = scratch.join(format!("overlay-probe-{}", std::process::id()));
    let (upper, work, target) = (dir.join("upper"), dir.join("work"), dir.join("merged"));
    let outcome = (|| {
        for d in [&upper, &work, &target] {
            std::fs::create_dir_all(d)
                .map_err(|e| MountError::new("cannot prepare an overlay test", d, e))?;
        }
        overlay::mount_writable(&[empty.to_path_buf()], &upper, &work, &target, empty)?
            .unmount()
            .map_err(|e| MountError::new("cannot unmount an overlay test", &target, e))
    })();
    let _ = hearth_fsroot::remove_tree(&dir);
    outcome
}

/// A writable working directory for one step.
#[derive(Debug)]
pub struct Writable(WritableInner);

#[derive(Debug)]
enum WritableInner {
    Overlay(Option<overlay::OverlayMount>),
    Native {
        layers: Vec<PathBuf>,
        target: PathBuf,
        upper: PathBuf,
        finished: bool,
    },
}

impl Writable {
    /// Ends the step's view and leaves its changes in the upper directory.
    pub fn finish(mut self) -> Result<(), MountError> {
        match &mut self.0 {
            WritableInner::Overlay(mount) => match mount.take() {
                Some(m) => {
                    let target = m.target().to_path_buf();
                    m.unmount().map_err(|e| {
                        MountError::new("cannot unmount the step's overlay", &target, e)
                    })
                }
                None => Ok(()),
            },
            WritableInner::Native {
                layers,
                target,
                upper,
                finished,
            } => {
                *finished = true;
                let outcome = native::diff(layers, target, upper)
                    .map_err(|e| MountError::new("cannot record the step's changes", target, e));
                let _ = hearth_fsroot::remove_tree(target);
                outcome
            }
        }
    }
}

impl Drop for WritableInner {
    fn drop(&mut self) {
        if let WritableInner::Native {
            target,
            finished: false,
            ..
        } = self
        {
            let _ = hearth_fsroot::remove_tree(target);
        }
    }
}

/// A read-only view; released when dropped.
#[derive(Debug)]
pub struct Mounted(MountedInner);

#[derive(Debug)]
enum MountedInner {
    // The mount is held only to be unmounted on drop.
    Overlay(#[allow(dead_code)] overlay::OverlayMount, PathBuf),
    Copy(PathBuf),
    Plain(PathBuf),
}

impl Mounted {
    /// Where the view is.
    pub fn path(&self) -> &Path {
        match &self.0 {
            MountedInner::Overlay(_, p) | MountedInner::Copy(p) | MountedInner::Plain(p) => p,
        }
    }

    /// A view that is already a plain directory (nothing to release).
    pub fn plain(path: PathBuf) -> Self {
        Self(MountedInner::Plain(path))
    }
}

impl Drop for MountedInner {
    fn drop(&mut self) {
        if let MountedInner::Copy(p) = self {
            let _ = hearth_fsroot::remove_tree(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// 501 layers, each adding `fN`; layer 3 adds `gone`, which layer 400 deletes.
    fn deep_stack(root: &Path) -> Vec<PathBuf> {
        (0..=overlay::MAX_LOWER_DIRS)
            .map(|i| {
                let dir = root.join(format!("layers/{i}"));
                fs::create_dir_all(&dir).unwrap();
                fs::write(dir.join(format!("f{i}")), i.to_string()).unwrap();
                if i == 3 {
                    fs::write(dir.join("gone"), "x").unwrap();
                }
                if i == 400 {
                    rustix::fs::mknodat(
                        rustix::fs::CWD,
                        dir.join("gone"),
                        rustix::fs::FileType::CharacterDevice,
                        rustix::fs::Mode::empty(),
                        0,
                    )
                    .unwrap();
                }
                dir
            })
            .collect()
    }

    #[test]
    fn overlayfs_copies_a_stack_deeper_than_the_kernel_mounts() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let (scratch, empty) = (t.join("scratch"), t.join("empty"));
        fs::create_dir_all(&scratch).unwrap();
        fs::create_dir_all(&empty).unwrap();
        let snapshotter = Snapshotter::new(SnapshotterKind::Overlayfs, &scratch, &empty).unwrap();
        assert_eq!(snapshotter.name(), "overlayfs");
        let layers = deep_stack(t);
        let last = format!("f{}", overlay::MAX_LOWER_DIRS);

        let view = snapshotter.readonly(&layers, &t.join("view")).unwrap();
        assert_eq!(fs::read_to_string(view.path().join("f0")).unwrap(), "0");
        assert!(view.path().join(&last).exists());
        assert!(!view.path().join("gone").exists(), "the whiteout applies");
        drop(view);
        assert!(
            !t.join("view").exists(),
            "the copy is removed with the view"
        );

        let (upper, work, target) = (t.join("upper"), t.join("work"), t.join("rootfs"));
        for d in [&upper, &work, &target] {
            fs::create_dir_all(d).unwrap();
        }
        let writable = snapshotter
            .writable(&layers, &upper, &work, &target)
            .unwrap();
        assert!(target.join(&last).exists() && target.join("f0").exists());
        fs::write(target.join("new"), "n").unwrap();
        fs::remove_file(target.join("f7")).unwrap();
        writable.finish().unwrap();
        let mut names: Vec<String> = fs::read_dir(&upper)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["f7", "new"], "only the step's changes are recorded");
        use std::os::unix::fs::FileTypeExt;
        assert!(
            fs::symlink_metadata(upper.join("f7"))
                .unwrap()
                .file_type()
                .is_char_device(),
            "a deletion is a whiteout, as overlayfs records it"
        );
    }
}
