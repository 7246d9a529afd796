//! Repairs what a crash leaves behind, on every [`Store::open`].
//!
//! The store's writers keep two rules: files are complete before they become visible
//! (ingest in `tmp/`, then rename), and the database names only files that are visible
//! (files first, then the transaction). A crash can therefore leave only:
//! - leftovers in `tmp/`, and mounts on them: removed;
//! - a layer directory whose record was never committed: removed;
//! - records of things removed without the records going first (a crash in GC, or a
//!   user deleting files): dropped, and so are the cache records and images that name them,
//!   since they could not be used anyway.
//!
//! Recovery runs while the root lock is held and before any other code sees the store, so
//! nothing in flight can be mistaken for garbage.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::path::PathBuf;

use hearth_core::Digest;

use crate::db::records::LayerRecord;
use crate::db::tables::{Blobs, Cache, Images, Layers, Leases};
use crate::error::{IoContext, Result};
use crate::fsutil;
use crate::layers::LayerId;
use crate::layout::Layout;
use crate::mounts::{self, Unmounted};
use crate::store::{Store, unix_now};

/// What [`Store::open`] repaired. Empty after a clean shutdown.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Mount points under the root that were detached.
    pub unmounted: Vec<PathBuf>,
    /// Entries of `tmp/` that were deleted.
    pub tmp_removed: Vec<PathBuf>,
    /// Directories in `layers/` that no record named, deleted.
    pub orphan_layer_dirs: Vec<PathBuf>,
    /// Layer records whose directory was missing, dropped.
    pub layer_records_dropped: Vec<LayerId>,
    /// Blobs removed from a layer record's `blobs` because their file was missing.
    pub layer_blobs_dropped: Vec<(LayerId, Digest)>,
    /// Cache records that named a missing layer, dropped.
    pub cache_records_dropped: Vec<Digest>,
    /// Images whose manifest or config blob was missing, dropped.
    pub images_dropped: Vec<String>,
    /// Blob records whose file was missing, dropped.
    pub blob_records_dropped: Vec<Digest>,
    /// Leases of the previous owner (no expiry) and expired leases, dropped.
    pub leases_dropped: Vec<String>,
    /// What recovery could not repair (a mount it could not detach, a file it could not
    /// delete). The store works regardless; these need a person to look.
    pub problems: Vec<String>,
}

impl RecoveryReport {
    /// Whether recovery found nothing to do.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = [
            (self.unmounted.len(), "mounts detached"),
            (self.tmp_removed.len(), "temporary entries removed"),
            (
                self.orphan_layer_dirs.len(),
                "orphan layer directories removed",
            ),
            (self.layer_records_dropped.len(), "layer records dropped"),
            (self.layer_blobs_dropped.len(), "layer blob entries dropped"),
            (self.cache_records_dropped.len(), "cache records dropped"),
            (self.images_dropped.len(), "images dropped"),
            (self.blob_records_dropped.len(), "blob records dropped"),
            (self.leases_dropped.len(), "leases dropped"),
            (self.problems.len(), "problems left"),
        ];
        let parts: Vec<String> = counts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        if parts.is_empty() {
            f.write_str("nothing to recover")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Detaches leftover mounts, then empties `tmp/`. Runs before the database is opened.
pub(crate) fn clean_files(layout: &Layout, report: &mut RecoveryReport) -> Result<()> {
    let version_dir = layout.version_dir();
    // mountinfo shows resolved paths; the root may have been given through a symlink.
    let base = fs::canonicalize(version_dir).ctx("resolve", version_dir)?;
    let keep: Vec<PathBuf> = layout
        .top_dirs()
        .iter()
        .filter_map(|d| d.strip_prefix(version_dir).ok())
        .map(|relative| base.join(relative))
        .collect();

    let mut remaining = match mounts::mount_points() {
        Ok(all) => {
            for mount in mounts::mounts_below(&all, &base, &keep) {
                match mounts::detach(&mount) {
                    Ok(Unmounted::Done) => report.unmounted.push(mount),
                    Ok(Unmounted::AlreadyGone) => {}
                    Err(e) => report
                        .problems
                        .push(format!("failed to unmount {}: {e}", mount.display())),
                }
            }
            mounts::mount_points().unwrap_or(all)
        }
        Err(e) => {
            report
                .problems
                .push(format!("failed to read /proc/self/mountinfo: {e}"));
            Vec::new()
        }
    };
    remaining.retain(|m| m.starts_with(&base));

    let tmp = layout.tmp_dir();
    let base_tmp = base.join("tmp");
    let mut entries: Vec<_> = fs::read_dir(&tmp)
        .ctx("read directory", &tmp)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .ctx("read directory", &tmp)?;
    entries.sort();
    for name in entries {
        let path = tmp.join(&name);
        let resolved = base_tmp.join(&name);
        // Deleting through a mount that would not go away would delete what it shows.
        if let Some(mount) = remaining.iter().find(|m| m.starts_with(&resolved)) {
            report.problems.push(format!(
                "left {} in place: {} is still mounted",
                path.display(),
                mount.display()
            ));
            continue;
        }
        match fsutil::remove_tree(&path) {
            Ok(()) => report.tmp_removed.push(path),
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    if !report.tmp_removed.is_empty() {
        fsutil::fsync_dir(&tmp)?;
    }
    Ok(())
}

/// Makes directories and records agree. Runs on the freshly opened store.
pub(crate) fn reconcile(store: &Store, report: &mut RecoveryReport) -> Result<()> {
    remove_orphan_layer_dirs(store, report)?;

    let mut txn = store.write()?;

    let mut live_layers = HashSet::new();
    for (key, record) in txn.entries::<Layers>()? {
        let dir = store.layout().layers_dir().join(&key);
        if !dir.is_dir() {
            txn.delete_raw::<Layers>(&key)?;
            if let Ok(id) = key.parse() {
                report.layer_records_dropped.push(id);
            }
            continue;
        }
        if let Ok(id) = key.parse::<LayerId>() {
            live_layers.insert(id);
        }
        // An undecodable record is left for `verify` to report: guessing would lose data.
        if let Ok(record) = record {
            drop_missing_layer_blobs(store, &mut txn, record, report)?;
        }
    }

    for (_, record) in txn.entries::<Cache>()? {
        let Ok(record) = record else { continue };
        if record.layers.iter().any(|l| !live_layers.contains(l)) {
            txn.delete::<Cache>(&record.key)?;
            report.cache_records_dropped.push(record.key);
        }
    }

    for (_, record) in txn.entries::<Images>()? {
        let Ok(record) = record else { continue };
        if !store.has_blob(&record.manifest)? || !store.has_blob(&record.config)? {
            txn.delete::<Images>(&record.name)?;
            report.images_dropped.push(record.name);
        }
    }

    for (_, record) in txn.entries::<Blobs>()? {
        let Ok(record) = record else { continue };
        if !store.has_blob(&record.digest)? {
            txn.delete::<Blobs>(&record.digest)?;
            report.blob_records_dropped.push(record.digest);
        }
    }

    let now = unix_now();
    for (key, record) in txn.entries::<Leases>()? {
        let Ok(lease) = record else { continue };
        // Only the previous owner could have been using a lease without expiry, and it is
        // gone: we hold the lock.
        if lease.expires.is_none_or(|t| t <= now) {
            txn.delete_raw::<Leases>(&key)?;
            report.leases_dropped.push(key);
        }
    }

    txn.commit()
}

fn drop_missing_layer_blobs(
    store: &Store,
    txn: &mut crate::db::WriteTxn,
    mut record: LayerRecord,
    report: &mut RecoveryReport,
) -> Result<()> {
    let mut missing = Vec::new();
    for blob in &record.blobs {
        if !store.has_blob(&blob.digest)? {
            missing.push(blob.digest);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    record.blobs.retain(|b| !missing.contains(&b.digest));
    txn.put::<Layers>(&record)?;
    for digest in missing {
        report.layer_blobs_dropped.push((record.id.clone(), digest));
    }
    Ok(())
}

/// A layer directory is committed (renamed into `layers/`) before its record; a crash in
/// between leaves a directory nobody knows about.
fn remove_orphan_layer_dirs(store: &Store, report: &mut RecoveryReport) -> Result<()> {
    let known: HashSet<String> = store
        .read()?
        .entries::<Layers>()?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    let dir = store.layout().layers_dir();
    let mut orphans = Vec::new();
    for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
        let entry = entry.ctx("read directory", &dir)?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| known.contains(n)) {
            orphans.push(entry.path());
        }
    }
    orphans.sort();
    for path in orphans {
        match fsutil::remove_tree(&path) {
            Ok(()) => report.orphan_layer_dirs.push(path),
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    if !report.orphan_layer_dirs.is_empty() {
        fsutil::fsync_dir(&dir)?;
    }
    Ok(())
}
