//! Cache exports: the build's results as a cache document plus the layer blobs it names.
//!
//! Work is linear in the number of records: each record is read once, each distinct
//! layer gets its blob once (compressed only if no export did so before, see
//! `hearth_exporter::layer_blob`), and results imported from a remote cache are named by
//! their blobs without downloading them. Writers then skip blobs the destination has.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use hearth_core::Digest;
use hearth_exporter::{AssembleOptions, MediaTypes};
use hearth_graph::op::MountKind;
use hearth_graph::{Definition, Op};
use hearth_registry::Descriptor;
use hearth_store::tables::{Cache, Layers};
use hearth_store::{LayerId, Store};
use hearth_worker::Host;
use hearth_worker::imported::{self, CacheOrigin, RemoteBlob};

use super::format::{
    CONFIG_MEDIA_TYPE, CacheConfig, CacheEntry, ContentKey, FORMAT_VERSION, MountEntry,
};
use super::spec::{CacheExport, CacheMode};
use crate::CacheError;

/// What a solve leaves for a cache export.
pub struct SolvedBuild<'a> {
    /// The graph.
    pub definition: &'a Definition,
    /// Cache keys by node.
    pub keys: &'a HashMap<Digest, Digest>,
    /// The final result.
    pub root_layers: &'a [LayerId],
    /// Content digests by input key the build used.
    pub content_keys: Vec<(String, Digest)>,
}

/// A result's filesystem: layers in the store, or blobs of an import not fetched.
enum Chain {
    Local(Vec<LayerId>),
    Imported(Vec<RemoteBlob>, CacheOrigin),
}

struct Candidate {
    key: Digest,
    kind: String,
    description: String,
    chain: Chain,
}

/// Where a layer blob's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum BlobLocation {
    /// In the store.
    Store,
    /// Only at the import's origin.
    Origin(CacheOrigin),
}

/// One manifest layer of a cache.
#[derive(Debug, Clone)]
pub(crate) struct CacheLayer {
    pub(crate) descriptor: Descriptor,
    pub(crate) diff_id: Digest,
    pub(crate) location: BlobLocation,
}

/// A cache ready to be written: its config document and layers.
pub(crate) struct CacheArtifact {
    pub(crate) config: Vec<u8>,
    pub(crate) layers: Vec<CacheLayer>,
    pub(crate) records: usize,
}

impl CacheArtifact {
    /// The OCI image manifest naming config and layers.
    pub(crate) fn manifest(&self) -> Vec<u8> {
        let layers: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "mediaType": l.descriptor.media_type,
                    "digest": l.descriptor.digest.to_string(),
                    "size": l.descriptor.size,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MediaTypes::Oci.manifest(),
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": Digest::of(&self.config).to_string(),
                "size": self.config.len(),
            },
            "layers": layers,
        });
        serde_json::to_vec(&doc).unwrap_or_default()
    }
}

/// Every result of the build the store knows, by cache key, in key order.
fn candidates(host: &Host, build: &SolvedBuild<'_>) -> Result<Vec<Candidate>, CacheError> {
    let store = host.store();
    let mut keys: Vec<Digest> = build
        .keys
        .iter()
        .filter(|(vertex, _)| {
            build
                .definition
                .node(vertex)
                .is_some_and(|n| !hearth_worker::is_read_fresh(&n.op))
        })
        .map(|(_, key)| *key)
        .collect();
    keys.sort();
    keys.dedup();
    let txn = store.read()?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(record) = txn.get::<Cache>(&key)?
            && record.layers.iter().all(|l| store.has_layer(l))
        {
            out.push(Candidate {
                key,
                kind: record.kind,
                description: record.description,
                chain: Chain::Local(record.layers),
            });
        } else if let Some(record) = imported::get(host, &key)? {
            out.push(Candidate {
                key,
                kind: record.kind,
                description: record.description,
                chain: Chain::Imported(record.layers, record.origin),
            });
        }
    }
    Ok(out)
}

/// The blob digests each root layer is known by.
fn root_blobs(store: &Store, root: &[LayerId]) -> Result<Vec<HashSet<Digest>>, CacheError> {
    let txn = store.read()?;
    root.iter()
        .map(|id| {
            Ok(txn
                .get::<Layers>(id)?
                .map(|r| r.blobs.iter().map(|b| b.digest).collect())
                .unwrap_or_default())
        })
        .collect()
}

/// How many of the root's bottom layers `chain` is, if it is a prefix of the root.
fn prefix_of_root(
    chain: &Chain,
    root: &[LayerId],
    root_blobs: &[HashSet<Digest>],
) -> Option<usize> {
    match chain {
        Chain::Local(layers) => (layers.len() <= root.len() && root[..layers.len()] == layers[..])
            .then_some(layers.len()),
        Chain::Imported(blobs, _) => (blobs.len() <= root.len()
            && blobs
                .iter()
                .zip(root_blobs)
                .all(|(b, known)| known.contains(&b.digest)))
        .then_some(blobs.len()),
    }
}

fn selected(
    host: &Host,
    build: &SolvedBuild<'_>,
    mode: CacheMode,
) -> Result<Vec<(Candidate, usize)>, CacheError> {
    let root_blobs = root_blobs(host.store(), build.root_layers)?;
    Ok(candidates(host, build)?
        .into_iter()
        .filter_map(|c| {
            let prefix = prefix_of_root(&c.chain, build.root_layers, &root_blobs);
            match (mode, prefix) {
                (CacheMode::Max, _) => Some((c, prefix.unwrap_or(0))),
                (CacheMode::Min, Some(n)) => Some((c, n)),
                (CacheMode::Min, None) => None,
            }
        })
        .collect())
}

fn content_keys(build: &SolvedBuild<'_>) -> Vec<ContentKey> {
    build
        .content_keys
        .iter()
        .map(|(id, digest)| ContentKey {
            id: id.clone(),
            digest: *digest,
        })
        .collect()
}

/// The inline cache of the final image: the final chain's records, with layer indexes
/// into the image's own layers. Returns the config field to add.
pub fn inline_field(host: &Host, build: &SolvedBuild<'_>) -> Result<(String, String), CacheError> {
    let records = selected(host, build, CacheMode::Min)?
        .into_iter()
        .map(|(c, n)| CacheEntry {
            key: c.key,
            kind: c.kind,
            description: c.description,
            layers: (0..n).collect(),
        })
        .collect();
    let config = CacheConfig {
        version: FORMAT_VERSION,
        diff_ids: Vec::new(),
        records,
        content_keys: content_keys(build),
        mounts: Vec::new(),
    };
    let json = serde_json::to_string(&config)
        .map_err(|e| CacheError::Internal(format!("encoding the inline cache: {e}")))?;
    Ok((super::format::INLINE_FIELD.to_owned(), json))
}

/// Collects what `export` carries: records, their layers' blobs (compressing layers that
/// have none in the wanted compression), and cache mounts when asked.
pub(crate) async fn prepare(
    host: &Host,
    build: &SolvedBuild<'_>,
    export: &CacheExport,
    status: &(dyn Fn(String) + Send + Sync),
) -> Result<CacheArtifact, CacheError> {
    let chosen = selected(host, build, export.mode)?;
    // Local layers first get their blobs, all in one blocking task.
    let mut local_ids: Vec<LayerId> = Vec::new();
    let mut seen: HashSet<LayerId> = HashSet::new();
    for (candidate, _) in &chosen {
        if let Chain::Local(layers) = &candidate.chain {
            for id in layers {
                if seen.insert(id.clone()) {
                    local_ids.push(id.clone());
                }
            }
        }
    }
    let options = AssembleOptions {
        compression: export.compression,
        level: export.level,
        force_compression: export.force_compression,
        media_types: MediaTypes::Oci,
        created: String::new(),
        epoch: None,
        rewrite_timestamp: false,
        config_extra: Vec::new(),
    };
    let store = host.store().clone();
    let ids = local_ids.clone();
    let opts = options.clone();
    let local_blobs = tokio::task::spawn_blocking(move || {
        ids.iter()
            .map(|id| hearth_exporter::layer_blob(&store, id, &opts))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| CacheError::Internal(format!("preparing the cache: {e}")))??;
    let by_layer: HashMap<&LayerId, &hearth_exporter::LayerDescriptor> =
        local_ids.iter().zip(&local_blobs).collect();

    let mut layers: Vec<CacheLayer> = Vec::new();
    let mut index_of: HashMap<Digest, usize> = HashMap::new();
    // A blob shared by many records is described (and its location checked) once.
    let mut add = |digest: Digest, layer: &dyn Fn() -> CacheLayer| -> usize {
        *index_of.entry(digest).or_insert_with(|| {
            layers.push(layer());
            layers.len() - 1
        })
    };
    let mut records = Vec::with_capacity(chosen.len());
    for (candidate, _) in chosen {
        let indexes = match &candidate.chain {
            Chain::Local(ids) => ids
                .iter()
                .filter_map(|id| by_layer.get(id))
                .map(|d| {
                    add(d.digest, &|| CacheLayer {
                        descriptor: descriptor(&d.media_type, d.digest, d.size),
                        diff_id: d.diff_id,
                        location: BlobLocation::Store,
                    })
                })
                .collect(),
            Chain::Imported(blobs, origin) => blobs
                .iter()
                .map(|b| {
                    add(b.digest, &|| CacheLayer {
                        descriptor: descriptor(&b.media_type, b.digest, b.size),
                        diff_id: b.diff_id,
                        location: if host.store().has_blob(&b.digest).unwrap_or(false) {
                            BlobLocation::Store
                        } else {
                            BlobLocation::Origin(origin.clone())
                        },
                    })
                })
                .collect(),
        };
        records.push(CacheEntry {
            key: candidate.key,
            kind: candidate.kind,
            description: candidate.description,
            layers: indexes,
        });
    }
    let mut mounts = Vec::new();
    if export.cache_mounts {
        for (dir, layer) in export_mounts(host, build.definition, export, status).await? {
            mounts.push(MountEntry {
                dir,
                layer: add(layer.descriptor.digest, &|| layer.clone()),
            });
        }
    }
    let count = records.len();
    let config = CacheConfig {
        version: FORMAT_VERSION,
        diff_ids: layers.iter().map(|l| l.diff_id).collect(),
        records,
        content_keys: content_keys(build),
        mounts,
    };
    let config = serde_json::to_vec(&config)
        .map_err(|e| CacheError::Internal(format!("encoding the cache config: {e}")))?;
    Ok(CacheArtifact {
        config,
        layers,
        records: count,
    })
}

fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest,
        size,
        platform: None,
        annotations: BTreeMap::new(),
        urls: Vec::new(),
    }
}

/// The build's cache mounts as layer blobs, within the size cap (largest skipped first
/// would be arbitrary; mounts are taken in graph order until the budget is spent).
async fn export_mounts(
    host: &Host,
    definition: &Definition,
    export: &CacheExport,
    status: &(dyn Fn(String) + Send + Sync),
) -> Result<Vec<(String, CacheLayer)>, CacheError> {
    let mut ids: Vec<String> = Vec::new();
    for (_, node) in definition.nodes_in_order() {
        if let Op::Exec(exec) = &node.op {
            for m in &exec.mounts {
                if let MountKind::Cache { id, .. } = &m.kind
                    && !ids.contains(id)
                {
                    ids.push(id.clone());
                }
            }
        }
    }
    let mut budget = export.cache_mounts_max_size;
    let mut out = Vec::new();
    for id in ids {
        let dir: PathBuf = host.cache_mount_dir(&id);
        if !dir.is_dir() {
            continue;
        }
        let size = hearth_store::tree_size(&dir)?;
        if size > budget {
            status(format!(
                "skipping cache mount {id:?}: {size} bytes exceed what is left of cache-mounts-max-size ({budget} bytes)"
            ));
            continue;
        }
        budget -= size;
        let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        status(format!("exporting cache mount {id:?} ({size} bytes)"));
        let store = host.store().clone();
        let compression = export.compression;
        let level = export.level;
        let exported = tokio::task::spawn_blocking(move || -> Result<_, CacheError> {
            let mut writer = store.blob_writer()?;
            let exported = hearth_layer::export_layer(
                &dir,
                compression,
                level,
                &mut writer,
                &hearth_layer::DiffOptions::default(),
            )
            .map_err(|e| CacheError::Internal(format!("exporting a cache mount: {e}")))?;
            let (digest, size) = writer.commit(Some(&exported.digest))?;
            Ok((digest, size, exported.diff_id, exported.media_type))
        })
        .await
        .map_err(|e| CacheError::Internal(format!("exporting a cache mount: {e}")))??;
        let (digest, size, diff_id, media_type) = exported;
        out.push((
            name,
            CacheLayer {
                descriptor: descriptor(media_type, digest, size),
                diff_id,
                location: BlobLocation::Store,
            },
        ));
    }
    Ok(out)
}
