//! Results known from an imported cache (`--cache-from`): recorded by cache key when the
//! cache's configuration is read, and downloaded only when a build needs the result.
//!
//! An imported record names blobs, not layer directories: until a step hits it and its
//! result is actually used, it costs one small database entry. Fetching it downloads the
//! blobs the store lacks (from the registry repository or the cache directory it came
//! from), unpacks each into a layer once (shared with images that use the same blob), and
//! turns the import into an ordinary cache record.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_core::Digest;
use hearth_registry::Client;
use serde::{Deserialize, Serialize};

use crate::{Error, FileFetcher, Host, Ref, image, records};

/// Store key prefix of imported records, by cache key.
pub const RECORD_PREFIX: &str = "cache-import/v1/record/";
/// Store key prefix of imported cache mounts, by the mount directory's name.
const MOUNT_PREFIX: &str = "cache-import/v1/mount/";

/// Blobs fetched at once when a result is needed.
const FETCH_CONCURRENCY: usize = 4;

/// Where an imported cache's blobs are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CacheOrigin {
    /// A registry repository (`127.0.0.1:5000/cache/app`).
    Registry {
        /// The repository.
        repository: String,
    },
    /// An OCI layout directory on this machine (`type=local,src=DIR`).
    Local {
        /// The directory.
        dir: PathBuf,
    },
    /// An OCI layout directory on a daemon's client, reachable only during that client's
    /// build (such imports are never stored).
    Client {
        /// The directory, as the client named it.
        dir: PathBuf,
    },
}

impl CacheOrigin {
    /// For messages and `du`.
    pub fn describe(&self) -> String {
        match self {
            Self::Registry { repository } => repository.clone(),
            Self::Local { dir } => dir.display().to_string(),
            Self::Client { dir } => format!("the client's {}", dir.display()),
        }
    }
}

/// One layer blob of an imported result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteBlob {
    /// The (compressed) blob.
    pub digest: Digest,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
}

impl RemoteBlob {
    fn descriptor(&self) -> hearth_registry::Descriptor {
        hearth_registry::Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest,
            size: self.size,
            platform: None,
            annotations: Default::default(),
            urls: Vec::new(),
        }
    }
}

/// A step's result as an imported cache describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedRecord {
    /// The cache key.
    pub key: Digest,
    /// The op kind (`exec`, `file`, `source.image`, …).
    pub kind: String,
    /// What produced it.
    pub description: String,
    /// The result filesystem, bottom layer first.
    pub layers: Vec<RemoteBlob>,
    /// Where the blobs are.
    pub origin: CacheOrigin,
    /// When it was imported (unix seconds).
    pub imported: u64,
}

/// A cache mount's content as an imported cache carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedMount {
    /// The mount directory's name (a digest of the mount's id).
    pub dir: String,
    /// The directory as a layer blob.
    pub blob: RemoteBlob,
    /// Where the blob is.
    pub origin: CacheOrigin,
}

/// What one cache import brings.
#[derive(Debug, Clone, Default)]
pub struct Import {
    /// Step results.
    pub records: Vec<ImportedRecord>,
    /// Cache mounts.
    pub mounts: Vec<ImportedMount>,
    /// Content digests by input key (see `content`), as (memo id, digest).
    pub content_keys: Vec<(String, Digest)>,
}

/// Where the import for `key` is kept in the store's key/value table.
pub fn record_key(key: &Digest) -> String {
    format!("{RECORD_PREFIX}{}", key.hex())
}

/// Records `import`. A key the store already holds a result or an import for keeps what
/// it has: with several `--cache-from`, the first source that knows a key wins.
pub fn save(host: &Host, import: &Import) -> Result<usize, Error> {
    use hearth_store::tables::Cache;
    let mut txn = host.store.write()?;
    let mut added = 0;
    for record in &import.records {
        let id = record_key(&record.key);
        if txn.get::<Cache>(&record.key)?.is_some() || txn.kv_get(&id)?.is_some() {
            continue;
        }
        let json = serde_json::to_vec(record).map_err(|e| Error::Key(e.to_string()))?;
        txn.kv_put(&id, &json)?;
        added += 1;
    }
    for mount in &import.mounts {
        let json = serde_json::to_vec(mount).map_err(|e| Error::Key(e.to_string()))?;
        txn.kv_put(&format!("{MOUNT_PREFIX}{}", mount.dir), &json)?;
    }
    // What this store computed itself wins, as its own results do.
    for (id, digest) in &import.content_keys {
        let memo = format!("{}{id}", crate::content::KEY_MEMO_PREFIX);
        if txn.kv_get(&memo)?.is_none() {
            txn.kv_put(&memo, digest.to_string().as_bytes())?;
        }
    }
    txn.commit()?;
    Ok(added)
}

/// The import recorded for `key`, if any.
pub fn get(host: &Host, key: &Digest) -> Result<Option<ImportedRecord>, Error> {
    let txn = host.store.read()?;
    Ok(txn
        .kv_get(&record_key(key))?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Every import not fetched yet (for `du` and `prune`).
pub fn list(store: &hearth_store::Store) -> Result<Vec<ImportedRecord>, Error> {
    let txn = store.read()?;
    Ok(txn
        .kv_list(RECORD_PREFIX)?
        .into_iter()
        .filter_map(|(_, bytes)| serde_json::from_slice(&bytes).ok())
        .collect())
}

/// Forgets the import for `key`.
pub fn remove(store: &hearth_store::Store, key: &Digest) -> Result<(), Error> {
    let mut txn = store.write()?;
    txn.kv_delete(&record_key(key))?;
    txn.commit()?;
    Ok(())
}

/// Puts `blob` into the store from `origin` unless it is there; returns whether it was
/// fetched. Blobs in a registry come with `registry` (the build's credentials), blobs on
/// a daemon's client through `client`.
pub async fn fetch_blob(
    host: &Host,
    registry: &Client,
    origin: &CacheOrigin,
    blob: &RemoteBlob,
    client: Option<&dyn FileFetcher>,
) -> Result<bool, Error> {
    match origin {
        CacheOrigin::Client { dir } => {
            if host.store.has_blob(&blob.digest)? {
                return Ok(false);
            }
            let Some(client) = client else {
                return Err(Error::ClientTransfer(format!(
                    "the cache in the client's {} is not reachable outside that client's build",
                    dir.display()
                )));
            };
            let scratch = host.scratch_dir("cache-blob")?;
            let outcome = async {
                client
                    .fetch(vec![blob.digest], &scratch)
                    .await
                    .map_err(|why| {
                        Error::ClientTransfer(format!(
                            "fetching {} from the client: {why}",
                            blob.digest
                        ))
                    })?;
                ingest(host, &scratch.join(blob.digest.hex()), blob.digest).await
            }
            .await;
            let _ = hearth_fsroot::remove_tree(&scratch);
            outcome?;
            host.metrics
                .layers_pulled
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(true)
        }
        CacheOrigin::Registry { repository } => {
            image::download_blob(host, registry, repository, &blob.descriptor()).await
        }
        CacheOrigin::Local { dir } => {
            if host.store.has_blob(&blob.digest)? {
                return Ok(false);
            }
            ingest(host, &layout_blob_path(dir, &blob.digest), blob.digest).await?;
            host.metrics
                .layers_pulled
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(true)
        }
    }
}

/// Copies the file at `path` into the store as blob `digest`, verifying it.
async fn ingest(host: &Host, path: &Path, digest: Digest) -> Result<(), Error> {
    let store = host.store.clone();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> Result<(), Error> {
        let mut file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut writer = store.blob_writer()?;
        std::io::copy(&mut file, &mut writer).map_err(|e| Error::io(&path, e))?;
        writer.commit(Some(&digest))?;
        Ok(())
    })
    .await
    .map_err(|source| Error::Task {
        what: "copying a cache blob",
        source,
    })?
}

/// Where an OCI layout directory keeps `digest`.
pub fn layout_blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs").join("sha256").join(digest.hex())
}

/// Downloads and unpacks what `record` names and records it as an ordinary cache
/// result.
pub(crate) async fn materialize(
    host: &Host,
    registry: &Client,
    record: &ImportedRecord,
    client: Option<&dyn FileFetcher>,
) -> Result<Ref, Error> {
    for batch in record.layers.chunks(FETCH_CONCURRENCY) {
        futures::future::try_join_all(
            batch
                .iter()
                .map(|blob| fetch_unless_unpacked(host, registry, &record.origin, blob, client)),
        )
        .await?;
    }
    let mut layers = Vec::with_capacity(record.layers.len());
    for blob in &record.layers {
        let id = match image::layer_for_blob(host, &blob.digest)? {
            Some(id) => id,
            None => image::unpack(host, &blob.digest, &blob.media_type, blob.size).await?,
        };
        layers.push(id);
    }
    records::save(host, record.key, &layers, &record.kind, &record.description)?;
    if !matches!(record.origin, CacheOrigin::Client { .. }) {
        remove(&host.store, &record.key)?;
    }
    Ok(Ref::Layers(Arc::new(layers)))
}

async fn fetch_unless_unpacked(
    host: &Host,
    registry: &Client,
    origin: &CacheOrigin,
    blob: &RemoteBlob,
    client: Option<&dyn FileFetcher>,
) -> Result<(), Error> {
    if image::layer_for_blob(host, &blob.digest)?.is_none() {
        fetch_blob(host, registry, origin, blob, client).await?;
    }
    Ok(())
}

/// Fills the cache mount directory `dir_name` (empty or missing) from an imported cache,
/// if one carried it. Returns whether it did. A blob still in a registry is downloaded
/// with `registry`, the build's own credentials.
pub(crate) async fn restore_mount(
    host: &Host,
    registry: &Client,
    dir_name: &str,
    target: &Path,
) -> Result<bool, Error> {
    let entry = host
        .store
        .read()?
        .kv_get(&format!("{MOUNT_PREFIX}{dir_name}"))?;
    let Some(mount) = entry.and_then(|b| serde_json::from_slice::<ImportedMount>(&b).ok()) else {
        return Ok(false);
    };
    fetch_blob(host, registry, &mount.origin, &mount.blob, None).await?;
    let store = host.store.clone();
    let target = target.to_owned();
    let digest = mount.blob.digest;
    tokio::task::spawn_blocking(move || image::unpack_blob_into(&store, &digest, &target))
        .await
        .map_err(|source| Error::Task {
            what: "restoring a cache mount",
            source,
        })??;
    let mut txn = host.store.write()?;
    txn.kv_delete(&format!("{MOUNT_PREFIX}{dir_name}"))?;
    txn.commit()?;
    Ok(true)
}
