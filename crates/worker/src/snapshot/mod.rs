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
//! Both produce identical layers, so a state root can switch between them.

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
        if self.native {
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
        if self.native {
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
                let _ = native::remove_tree(target);
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
            let _ = native::remove_tree(target);
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
            let _ = native::remove_tree(p);
        }
    }
}
