//! The [`Store`] handle: opening a root (lock, layout, database, recovery) and sharing it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::db;
use crate::error::{IoContext, Result};
use crate::layout::Layout;
use crate::lock::RootLock;
use crate::recovery::{self, RecoveryReport};

/// The callback [`StoreOptions::on_wait`] holds.
pub type OnWait = Box<dyn FnMut(&str) + Send>;

/// How [`Store::open`] behaves.
pub struct StoreOptions {
    /// If another process owns the root: `false` fails with
    /// [`StoreError::Locked`](crate::StoreError::Locked), `true` waits until it is released.
    pub wait: bool,
    /// Called once, with the holder's description ("pid 42: hearth build ."), before
    /// waiting; the CLI uses it to say what it is waiting for.
    pub on_wait: Option<OnWait>,
    /// Flush the filesystem (`syncfs`) before each layer commit, so that a committed layer
    /// survives a power cut and not only a crash of hearth. On by default; turning it off
    /// suits throwaway stores (tests, CI caches).
    pub sync_layers: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            wait: false,
            on_wait: None,
            sync_layers: true,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("wait", &self.wait)
            .field("on_wait", &self.on_wait.as_ref().map(|_| "<callback>"))
            .field("sync_layers", &self.sync_layers)
            .finish()
    }
}

/// An open store root, owned exclusively by this process.
///
/// Cheap to clone; all clones share one database and one lock, which is released when the
/// last clone (and every transaction, writer and pending layer made from it) is dropped.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.inner.layout.root())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) layout: Layout,
    pub(crate) db: redb::Database,
    pub(crate) sync_layers: bool,
    recovery: RecoveryReport,
    // Declared last so it is dropped last: the lock must outlive the database handle.
    _lock: RootLock,
}

impl Store {
    /// Opens the store at `root`, creating it if missing, and repairs what an earlier crash
    /// left behind. In order:
    ///
    /// 1. take the lock on `<root>/lock` (see [`StoreOptions::wait`]); everything after this
    ///    runs with no other process using the root, so nothing in flight is mistaken for
    ///    garbage;
    /// 2. check `v1/VERSION` and create missing directories;
    /// 3. detach mounts left under `v1/` (deepest first, `MNT_DETACH`), except mounts on the
    ///    top-level directories themselves, which a user may have set up;
    /// 4. delete everything in `tmp/` (skipping, and reporting, an entry that still has a
    ///    mount inside);
    /// 5. open the database; delete `layers/` directories no record names;
    /// 6. in one transaction, drop layer records whose directory is missing, layer blob
    ///    entries whose blob is missing, cache records naming a dropped or unknown layer,
    ///    images whose manifest or config blob is missing, blob records whose file is
    ///    missing, and leases without expiry (their creator is gone) or past it.
    ///
    /// What was done is in [`Store::recovery`].
    pub fn open(root: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let root = root.as_ref();
        std::fs::create_dir_all(root).ctx("create directory", root)?;
        let layout = Layout::new(root);
        let StoreOptions {
            wait,
            mut on_wait,
            sync_layers,
        } = options;
        let noop = &mut |_: &str| {};
        let on_wait: Option<&mut dyn FnMut(&str)> = match (wait, on_wait.as_mut()) {
            (false, _) => None,
            (true, Some(f)) => Some(f.as_mut()),
            (true, None) => Some(noop),
        };
        let lock = RootLock::acquire(root, &layout.lock_file(), on_wait)?;
        layout.prepare()?;

        let mut report = RecoveryReport::default();
        recovery::clean_files(&layout, &mut report)?;
        let db = db::open(&layout.meta_file())?;
        let mut store = Self {
            inner: Arc::new(Inner {
                layout,
                db,
                sync_layers,
                recovery: RecoveryReport::default(),
                _lock: lock,
            }),
        };
        recovery::reconcile(&store, &mut report)?;
        // Nobody else can have a clone yet, so this never fails; if it did, the report would
        // only be missing from `recovery()`.
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.recovery = report;
        }
        Ok(store)
    }

    /// What the open that produced this store repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// The paths of this store.
    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        self.inner.layout.root()
    }

    /// `<root>/v1/tmp`, for in-progress work of other crates (overlay mount points, bundle
    /// directories). Everything in it is deleted on the next open.
    pub fn tmp_dir(&self) -> PathBuf {
        self.inner.layout.tmp_dir()
    }

    /// `<root>/v1/cache-mounts`, for persistent `RUN --mount=type=cache` directories.
    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.inner.layout.cache_mounts_dir()
    }

    /// `<root>/v1/runc`, for the OCI runtime's state.
    pub fn runc_dir(&self) -> PathBuf {
        self.inner.layout.runc_dir()
    }
}

/// The current time as unix seconds, as records store it.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync>() {}
    fn sendable<T: Send>() {}

    #[test]
    fn handles_can_move_between_threads() {
        // Compile-time checks: the solver hands these to worker threads.
        shareable::<Store>();
        sendable::<crate::BlobWriter>();
        sendable::<crate::PendingLayer>();
        sendable::<crate::WriteTxn>();
        sendable::<crate::ReadTxn>();
        assert_eq!(
            format!("{:?}", StoreOptions::default()),
            "StoreOptions { wait: false, on_wait: None, sync_layers: true }"
        );
    }
}
