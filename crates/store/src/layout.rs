//! Where everything lives under a store root, and the layout version check.
//!
//! ```text
//! <root>/lock                  flock'd by the owning process (see `lock`)
//! <root>/v1/VERSION            "1": the layout version
//! <root>/v1/blobs/sha256/<hex> committed blobs
//! <root>/v1/layers/<id>/diff   committed layer trees
//! <root>/v1/tmp/               work in progress; emptied on every open
//! <root>/v1/cache-mounts/      persistent RUN --mount=type=cache directories
//! <root>/v1/runc/              OCI runtime state
//! <root>/v1/meta.redb          metadata database
//! ```
//!
//! The version is both in the directory name and in `VERSION`: a future layout gets a new
//! directory so two hearth versions never read each other's files, and `VERSION` catches a
//! directory whose contents are not what its name promises.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil;

/// The layout version this code reads and writes. Changing the meaning of any path or file
/// below means bumping it, together with the `v1` directory name in [`Layout::new`].
pub const LAYOUT_VERSION: u32 = 1;

/// The paths of one store root.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    version_dir: PathBuf,
}

impl Layout {
    /// The layout of the store at `root` (nothing is touched).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let version_dir = root.join("v1");
        Self { root, version_dir }
    }

    /// The store root as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/lock`, outside the versioned directory so that every hearth version agrees on
    /// who owns the root.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// `<root>/v1`.
    pub fn version_dir(&self) -> &Path {
        &self.version_dir
    }

    /// `<root>/v1/VERSION`.
    pub fn version_file(&self) -> PathBuf {
        self.version_dir.join("VERSION")
    }

    /// `<root>/v1/blobs/sha256`.
    pub fn blobs_dir(&self) -> PathBuf {
        self.version_dir.join("blobs").join("sha256")
    }

    /// `<root>/v1/layers`.
    pub fn layers_dir(&self) -> PathBuf {
        self.version_dir.join("layers")
    }

    /// `<root>/v1/tmp`: ingest files, layers being built, overlay mount points and work dirs.
    pub fn tmp_dir(&self) -> PathBuf {
        self.version_dir.join("tmp")
    }

    /// `<root>/v1/cache-mounts`.
    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.version_dir.join("cache-mounts")
    }

    /// `<root>/v1/runc`.
    pub fn runc_dir(&self) -> PathBuf {
        self.version_dir.join("runc")
    }

    /// `<root>/v1/meta.redb`.
    pub fn meta_file(&self) -> PathBuf {
        self.version_dir.join("meta.redb")
    }

    /// The top-level directories of the versioned layout. Recovery leaves mounts exactly on
    /// these alone, since a user may have put one of them on its own filesystem.
    pub(crate) fn top_dirs(&self) -> [PathBuf; 6] {
        [
            self.version_dir.join("blobs"),
            self.blobs_dir(),
            self.layers_dir(),
            self.tmp_dir(),
            self.cache_mounts_dir(),
            self.runc_dir(),
        ]
    }

    /// Checks the layout version and creates whatever is missing.
    ///
    /// `VERSION` is written last, so a root whose first open was interrupted has a `v1`
    /// without it, and the next open simply finishes the job.
    pub(crate) fn prepare(&self) -> Result<()> {
        let version_file = self.version_file();
        match fs::read_to_string(&version_file) {
            Ok(text) => {
                let found = text.trim();
                if found != LAYOUT_VERSION.to_string() {
                    return Err(StoreError::VersionMismatch {
                        path: version_file,
                        found: found.to_owned(),
                        expected: LAYOUT_VERSION,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).ctx("read", &version_file),
        }

        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o700);
        builder
            .create(&self.version_dir)
            .ctx("create directory", &self.version_dir)?;
        // The mode above is filtered by the umask and ignored for an existing directory;
        // the store holds other users' build secrets in flight, so enforce it.
        fs::set_permissions(&self.version_dir, fs::Permissions::from_mode(0o700))
            .ctx("set permissions of", &self.version_dir)?;
        for dir in self.top_dirs() {
            builder.create(&dir).ctx("create directory", &dir)?;
        }
        if !version_file.exists() {
            fsutil::fsync_dir(&self.version_dir)?;
            fsutil::write_atomic(&version_file, format!("{LAYOUT_VERSION}\n").as_bytes())?;
        }
        Ok(())
    }
}
