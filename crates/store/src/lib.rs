//! hearth's on-disk state: one directory tree (the *root*) owned by one process, holding
//! content-addressed blobs, immutable layer directories and a transactional metadata
//! database.
//!
//! ```no_run
//! use std::io::Write;
//! use hearth_store::{Store, StoreOptions, tables, LayerRecord, LayerOrigin, unix_now};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::open("/var/lib/hearth", StoreOptions::default())?;
//!
//! let mut writer = store.blob_writer()?;
//! writer.write_all(b"content")?;
//! let (digest, size) = writer.commit(None)?;
//!
//! let layer = store.new_layer()?;
//! std::fs::write(layer.diff_dir().join("hello"), b"hi")?;
//! let id = layer.commit()?;
//!
//! // Files first, then the record that names them.
//! let mut txn = store.write()?;
//! txn.put::<tables::Layers>(&LayerRecord {
//!     id: id.clone(), created: unix_now(), size: store.layer_disk_size(&id)?,
//!     diff_id: None, blobs: vec![], origin: LayerOrigin::Built,
//! })?;
//! txn.commit()?;
//! # let _ = (digest, size);
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! The store is one crate rather than containerd's separate content store, snapshotter and
//! metadata plugins because hearth has one process per root and one kind of snapshot
//! (directories stacked by overlayfs); splitting would add interfaces with one
//! implementation each. The roles still stay apart in the API: blobs (`blobs`), layer trees
//! (`layers`), records (`db`), and the crash rules that tie them together (`recovery`).
//!
//! Crash safety rests on two rules every writer keeps, and on recovery at open:
//! 1. A blob or layer becomes visible (in `blobs/` or `layers/`) only when complete: it is
//!    built under `tmp/`, synced, and renamed into place.
//! 2. The database names only visible things: complete the files, then commit the
//!    transaction that references them. To delete, commit the record removal first, then
//!    remove the files.
//!
//! So a crash can only leave garbage (in `tmp/`, or an unreferenced layer directory), which
//! [`Store::open`] removes; see [`RecoveryReport`].
//!
//! Records are JSON in redb tables with string keys, which keeps them readable and lets
//! fields be added without a migration; a layout change bumps [`LAYOUT_VERSION`] and the
//! `v1` directory name.

mod blobs;
mod db;
mod error;
mod fsutil;
mod layers;
mod layout;
mod lock;
mod mounts;
mod recovery;
mod sources;
mod store;
mod usage;
mod verify;

pub use blobs::{BlobReader, BlobWriter};
pub use db::records::{
    BlobRecord, CacheRecord, ImageRecord, LayerBlob, LayerOrigin, LayerRecord, Lease,
    PlatformImageRecord,
};
pub use db::{ReadTxn, WriteTxn, tables};
pub use error::{ErrorKind, Result, StoreError};
pub use layers::{LayerId, LayerIdError, PendingLayer};
pub use layout::{LAYOUT_VERSION, Layout};
pub use recovery::RecoveryReport;
pub use store::{OnWait, Store, StoreOptions, unix_now};
pub use usage::{Usage, tree_size};
pub use verify::{Problem, VerifyReport};
