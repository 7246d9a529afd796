//! Disk use by record and garbage collection by policy, as BuildKit's `du` and `prune`
//! (and its background collector) see them.
//!
//! Records are what users reason about: a step's cached result (type `regular`), a synced
//! build context (`source.local`) and a cache mount (`exec.cachemount`). A cached result
//! owns the layer it produced (an image source owns all its layers); layers and blobs no
//! record or named image needs any more are swept after records go. A policy pass follows
//! BuildKit v0.24: records matching its filters, unused for `keepDuration`, are removed
//! oldest first until usage is at most the cap computed from `maxUsedSpace` and
//! `minFreeSpace` (never below `reservedSpace`); with neither set, every matching record
//! goes. Nothing a running build uses is touched.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hearth_core::Digest;
use hearth_store::tables::{Cache, Images, Layers};
use hearth_store::{LayerId, LayerOrigin, Store, unix_now};
use hearth_worker::{Host, Protected};

use crate::{Engine, EngineError};

/// One prune pass (a `[[worker.oci.gcpolicy]]`, or `hearth prune`'s flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneRule {
    /// Also remove records other records build on.
    pub all: bool,
    /// containerd-style filters; a record matches if any filter does (terms of one filter,
    /// comma-separated, must all hold).
    pub filters: Vec<String>,
    /// Keep records used more recently than this.
    pub keep_duration: Option<Duration>,
    /// Never prune below this many bytes.
    pub reserved_space: u64,
    /// Prune until usage is at most this (0: no such cap).
    pub max_used_space: u64,
    /// Prune until the disk has this much free (0: no such goal).
    pub min_free_space: u64,
}

impl From<&hearth_config::ResolvedGcPolicy> for PruneRule {
    fn from(p: &hearth_config::ResolvedGcPolicy) -> Self {
        Self {
            all: p.all,
            filters: p.filters.clone(),
            keep_duration: p.keep_duration,
            reserved_space: p.reserved_space,
            max_used_space: p.max_used_space,
            min_free_space: p.min_free_space,
        }
    }
}

/// One record, as `du` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    /// Its id: a cache key, `context:<id>` or `cachemount:<id>`.
    pub id: String,
    /// BuildKit's record type: `regular`, `source.local`, `exec.cachemount`.
    pub kind: String,
    /// Bytes it holds on its own.
    pub size: u64,
    /// When it was made (unix seconds).
    pub created: u64,
    /// When a build last used it.
    pub last_used: u64,
    /// What made it.
    pub description: String,
    /// A running build uses it.
    pub in_use: bool,
    /// Other records build on it.
    pub shared: bool,
}

/// What a prune did (or would do).
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    /// Records removed.
    pub removed: Vec<UsageRecord>,
    /// Records kept, with why.
    pub kept: Vec<(UsageRecord, String)>,
    /// Bytes freed, including layers and blobs nothing needed any more.
    pub freed: u64,
    /// Bytes the records held before and after.
    pub before: u64,
    /// See `before`.
    pub after: u64,
}

enum Item {
    Cache(Digest),
    Imported(Digest),
    Dir(PathBuf, Option<String>),
}

struct Entry {
    record: UsageRecord,
    item: Item,
}

fn mtime(path: &Path) -> u64 {
    path.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn protected_since(protect: &Protected, created: u64) -> bool {
    protect.since.is_some_and(|since| created >= since)
}

/// Every record of the store, with sizes.
fn entries(host: &Host, protect: &Protected) -> Result<Vec<Entry>, EngineError> {
    let store = host.store();
    let txn = store.read()?;
    let layers: HashMap<LayerId, u64> = txn
        .list::<Layers>()?
        .into_iter()
        .map(|l| {
            let blobs: u64 = l.blobs.iter().map(|b| b.size).sum();
            (l.id, l.size + blobs)
        })
        .collect();
    let mut records = txn.list::<Cache>()?;
    records.sort_by_key(|r| r.created);
    let mut owner: HashMap<&LayerId, Digest> = HashMap::new();
    for record in &records {
        let owned: Vec<&LayerId> = if record.kind == "source.image" {
            record.layers.iter().collect()
        } else {
            record.layers.last().into_iter().collect()
        };
        for layer in owned {
            owner.entry(layer).or_insert(record.key);
        }
    }
    let mut out = Vec::new();
    for record in &records {
        let owned: Vec<&LayerId> = record
            .layers
            .iter()
            .filter(|l| owner.get(l) == Some(&record.key))
            .collect();
        let size = owned.iter().filter_map(|l| layers.get(*l)).sum();
        let shared = records.iter().any(|other| {
            other.key != record.key && other.layers.iter().any(|l| owned.contains(&l))
        });
        out.push(Entry {
            record: UsageRecord {
                id: record.key.to_string(),
                kind: "regular".into(),
                size,
                created: record.created,
                last_used: record.last_used,
                description: format!("{}: {}", record.kind, record.description),
                in_use: protect.keys.contains(&record.key)
                    || protected_since(protect, record.created),
                shared,
            },
            item: Item::Cache(record.key),
        });
    }
    drop(txn);
    // Results an imported cache offers take no disk until a build fetches them; they are
    // listed (and pruned) like the store's own.
    for record in hearth_worker::imported::list(store)? {
        out.push(Entry {
            record: UsageRecord {
                id: record.key.to_string(),
                kind: "regular".into(),
                size: 0,
                created: record.imported,
                last_used: record.imported,
                description: format!(
                    "{}: {} (imported from {}, not downloaded)",
                    record.kind,
                    record.description,
                    record.origin.describe()
                ),
                in_use: protect.keys.contains(&record.key),
                shared: false,
            },
            item: Item::Imported(record.key),
        });
    }
    for (dir, kind, prefix) in [
        (host.contexts_dir(), "source.local", "context"),
        (store.cache_mounts_dir(), "exec.cachemount", "cachemount"),
    ] {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let used = mtime(&path);
            out.push(Entry {
                record: UsageRecord {
                    id: format!("{prefix}:{name}"),
                    kind: kind.to_owned(),
                    size: hearth_store::tree_size(&path).unwrap_or(0),
                    created: used,
                    last_used: used,
                    description: format!("{kind} {name}"),
                    in_use: protected_since(protect, used),
                    shared: false,
                },
                item: Item::Dir(
                    path,
                    (kind == "source.local").then(|| format!("context-index/{name}")),
                ),
            });
        }
    }
    Ok(out)
}

/// Whether `record` matches one containerd-style filter (`type==regular,description~=RUN`).
fn matches_filter(record: &UsageRecord, filter: &str) -> bool {
    filter.split(',').all(|term| {
        let term = term.trim();
        let (field, op, value) = if let Some((f, v)) = term.split_once("!=") {
            (f, "!=", v)
        } else if let Some((f, v)) = term.split_once("~=") {
            (f, "~=", v)
        } else if let Some((f, v)) = term.split_once("==") {
            (f, "==", v)
        } else if let Some((f, v)) = term.split_once('=') {
            (f, "==", v)
        } else {
            return true;
        };
        let actual = match field.trim() {
            "type" => record.kind.as_str(),
            "id" => record.id.as_str(),
            "description" => record.description.as_str(),
            "inuse" => {
                if record.in_use {
                    "true"
                } else {
                    "false"
                }
            }
            "shared" => {
                if record.shared {
                    "true"
                } else {
                    "false"
                }
            }
            _ => return false,
        };
        let value = value.trim().trim_matches('"');
        match op {
            "!=" => actual != value,
            "~=" => actual.contains(value),
            _ => actual == value,
        }
    })
}

/// Whether `record` matches any of `filters` (all records when there are none).
pub fn matches(record: &UsageRecord, filters: &[String]) -> bool {
    filters.is_empty() || filters.iter().any(|f| matches_filter(record, f))
}

/// BuildKit's `calculateKeepBytes`: 0 means no cap.
fn keep_bytes(total: u64, free: u64, rule: &PruneRule) -> u64 {
    if rule.max_used_space == 0 && rule.min_free_space == 0 {
        return 0;
    }
    let mut keep = rule.max_used_space;
    if rule.min_free_space > free {
        let excess = rule.min_free_space - free;
        let limit = total.saturating_sub(excess);
        keep = if keep == 0 { limit } else { keep.min(limit) };
    }
    keep.max(rule.reserved_space)
}

/// The size of the disk that holds `path` (or would, for a root not made yet: its nearest
/// existing parent is on the same disk); 0 if unknown. Percentages in policies are of it.
pub fn disk_size(path: &Path) -> u64 {
    let probe = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    rustix::fs::statvfs(probe)
        .map(|s| s.f_blocks.saturating_mul(s.f_frsize))
        .unwrap_or(0)
}

fn free_bytes(path: &Path) -> u64 {
    rustix::fs::statvfs(path)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(u64::MAX)
}

fn ago(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Disk use by record, and the metadata database's size.
pub fn usage(engine: &Engine) -> Result<(Vec<UsageRecord>, u64), EngineError> {
    let host = engine.host();
    let protect = host.protected();
    let records = entries(host, &protect)?
        .into_iter()
        .map(|e| e.record)
        .collect();
    let metadata = engine.store().disk_usage()?.metadata;
    Ok((records, metadata))
}

/// Runs `rules` in order; with `dry_run`, only reports.
pub fn prune(
    engine: &Engine,
    rules: &[PruneRule],
    dry_run: bool,
) -> Result<PruneReport, EngineError> {
    let host = engine.host();
    let store = engine.store();
    let protect = host.protected();
    let mut entries = entries(host, &protect)?;
    let before: u64 = entries.iter().map(|e| e.record.size).sum();
    let now = unix_now();
    let mut removed: Vec<Entry> = Vec::new();
    let mut reasons: HashMap<String, String> = HashMap::new();
    for rule in rules {
        let total: u64 = entries.iter().map(|e| e.record.size).sum();
        let cap = keep_bytes(total, free_bytes(store.root()), rule);
        let mut candidates: Vec<usize> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let r = &entry.record;
            let why = if r.in_use {
                Some("in use by a running build".to_owned())
            } else if !matches(r, &rule.filters) {
                Some(format!("not matched by filters {:?}", rule.filters))
            } else if r.shared && !rule.all {
                Some("other records build on it (prune with --all to remove it)".to_owned())
            } else if let Some(keep) = rule.keep_duration
                && now.saturating_sub(r.last_used) < keep.as_secs()
            {
                Some(format!(
                    "used {} ago, within keep-duration {}",
                    ago(now.saturating_sub(r.last_used)),
                    ago(keep.as_secs())
                ))
            } else {
                None
            };
            match why {
                Some(why) => {
                    reasons.entry(r.id.clone()).or_insert(why);
                }
                None => candidates.push(i),
            }
        }
        candidates.sort_by_key(|&i| entries[i].record.last_used);
        let mut usage = total;
        let mut chosen: HashSet<usize> = HashSet::new();
        for i in candidates {
            if cap > 0 && usage <= cap {
                reasons.insert(
                    entries[i].record.id.clone(),
                    format!("usage is within the cap ({usage} ≤ {cap} bytes)"),
                );
                continue;
            }
            usage = usage.saturating_sub(entries[i].record.size);
            chosen.insert(i);
        }
        let (gone, stay): (Vec<_>, Vec<_>) = std::mem::take(&mut entries)
            .into_iter()
            .enumerate()
            .partition(|(i, _)| chosen.contains(i));
        let gone = gone.into_iter().map(|(_, e)| e);
        let stay = stay.into_iter().map(|(_, e)| e).collect();
        removed.extend(gone);
        entries = stay;
    }
    let mut freed: u64 = removed.iter().map(|e| e.record.size).sum();
    if !dry_run {
        freed += remove(store, &removed, &protect)?;
    }
    let removed_ids: HashSet<&str> = removed.iter().map(|e| e.record.id.as_str()).collect();
    let kept = entries
        .iter()
        .filter(|e| !removed_ids.contains(e.record.id.as_str()))
        .map(|e| {
            let why = reasons
                .get(&e.record.id)
                .cloned()
                .unwrap_or_else(|| "no policy selected it".into());
            (e.record.clone(), why)
        })
        .collect();
    let after = entries.iter().map(|e| e.record.size).sum();
    Ok(PruneReport {
        removed: removed.into_iter().map(|e| e.record).collect(),
        kept,
        freed,
        before,
        after,
    })
}

/// Deletes `removed`, then the layers and blobs nothing needs any more; returns the bytes
/// of those swept layers' blobs and orphan blobs (the records' own sizes are counted by
/// the caller).
fn remove(store: &Store, removed: &[Entry], protect: &Protected) -> Result<u64, EngineError> {
    let mut txn = store.write()?;
    for entry in removed {
        match &entry.item {
            Item::Cache(key) => {
                txn.delete::<Cache>(key)?;
            }
            Item::Imported(key) => {
                txn.kv_delete(&hearth_worker::imported::record_key(key))?;
            }
            Item::Dir(_, Some(index)) => {
                txn.kv_delete(index)?;
            }
            Item::Dir(_, None) => {}
        }
    }
    txn.commit()?;
    for entry in removed {
        if let Item::Dir(path, _) = &entry.item {
            let _ = hearth_fsroot::remove_tree(path);
        }
    }
    sweep(store, protect)
}

/// Removes layers no cache record names and blobs nothing names; returns bytes freed by
/// orphan blobs.
fn sweep(store: &Store, protect: &Protected) -> Result<u64, EngineError> {
    let txn = store.read()?;
    let records = txn.list::<Cache>()?;
    let needed_layers: HashSet<LayerId> = records
        .iter()
        .flat_map(|r| r.layers.iter().cloned())
        .collect();
    let layers = txn.list::<Layers>()?;
    let images = txn.list::<Images>()?;
    drop(txn);
    let mut doomed = Vec::new();
    let mut needed_blobs: HashSet<Digest> = HashSet::new();
    for layer in &layers {
        let keep = needed_layers.contains(&layer.id) || protected_since(protect, layer.created);
        if keep {
            needed_blobs.extend(layer.blobs.iter().map(|b| b.digest));
            if let LayerOrigin::Pulled { blob } = &layer.origin {
                needed_blobs.insert(*blob);
            }
        } else {
            doomed.push(layer.id.clone());
        }
    }
    for image in &images {
        needed_blobs.insert(image.config);
        // An index record names each platform's manifest beside the index itself.
        let manifests =
            std::iter::once(image.manifest).chain(image.platforms.iter().map(|p| p.manifest));
        for manifest_digest in manifests {
            needed_blobs.insert(manifest_digest);
            if let Ok(manifest) = store.read_blob(&manifest_digest)
                && let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&manifest)
            {
                let config: Option<Digest> = doc["config"]["digest"]
                    .as_str()
                    .and_then(|d| d.parse().ok());
                needed_blobs.extend(config);
                for layer in doc["layers"].as_array().into_iter().flatten() {
                    if let Some(d) = layer["digest"].as_str().and_then(|d| d.parse().ok()) {
                        needed_blobs.insert(d);
                    }
                }
            }
        }
    }
    if !doomed.is_empty() {
        let mut txn = store.write()?;
        for id in &doomed {
            txn.delete::<Layers>(id)?;
        }
        txn.commit()?;
        for id in &doomed {
            let _ = store.remove_layer(id);
        }
    }
    let mut freed = 0;
    for digest in store.blob_digests()? {
        if needed_blobs.contains(&digest) {
            continue;
        }
        let path = store.blob_path(&digest);
        if protected_since(protect, mtime(&path)) {
            continue;
        }
        let size = store.blob_size(&digest).unwrap_or(0);
        if store.remove_blob(&digest)? {
            freed += size;
        }
    }
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, description: &str) -> UsageRecord {
        UsageRecord {
            id: "sha256:abc".into(),
            kind: kind.into(),
            size: 10,
            created: 0,
            last_used: 0,
            description: description.into(),
            in_use: false,
            shared: false,
        }
    }

    #[test]
    fn filters_are_any_of_all_terms() {
        let local = record("source.local", "source.local ctx");
        let run = record("regular", "exec: RUN make");
        let filters = vec![
            "type==source.local".to_owned(),
            "type==exec.cachemount".to_owned(),
        ];
        assert!(matches(&local, &filters));
        assert!(!matches(&run, &filters));
        assert!(matches(
            &run,
            &["type==regular,description~=make".to_owned()]
        ));
        assert!(!matches(
            &run,
            &["type==regular,description~=npm".to_owned()]
        ));
        assert!(matches(&run, &["type!=source.local".to_owned()]));
        assert!(matches(&run, &[]));
    }

    #[test]
    fn keep_bytes_follows_buildkit() {
        let rule = |reserved, max, min| PruneRule {
            reserved_space: reserved,
            max_used_space: max,
            min_free_space: min,
            ..PruneRule::default()
        };
        // Neither cap: everything matching goes, whatever reservedSpace says.
        assert_eq!(keep_bytes(1000, 0, &rule(500, 0, 0)), 0);
        assert_eq!(keep_bytes(1000, 0, &rule(0, 600, 0)), 600);
        // Free space wanted: the excess comes off the total.
        assert_eq!(keep_bytes(1000, 100, &rule(0, 0, 300)), 800);
        assert_eq!(keep_bytes(1000, 100, &rule(0, 600, 300)), 600);
        // Never below the reserve.
        assert_eq!(keep_bytes(1000, 0, &rule(700, 600, 0)), 700);
    }
}
