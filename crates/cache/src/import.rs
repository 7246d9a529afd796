//! Cache imports: read a cache's config (never its layers) and record what it offers.

use std::fs;
use std::path::Path;

use hearth_core::Digest;
use hearth_registry::Descriptor;
use hearth_worker::Host;
use hearth_worker::imported::{
    self, CacheOrigin, Import, ImportedMount, ImportedRecord, RemoteBlob,
};
use serde::Deserialize;

use super::format::{CONFIG_MEDIA_TYPE, CacheConfig, INLINE_FIELD};
use super::spec::CacheSource;
use crate::CacheError;

/// What an import found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Records the cache holds.
    pub records: usize,
    /// Of which new to this store.
    pub added: usize,
    /// The manifest read.
    pub manifest: Digest,
}

#[derive(Deserialize)]
struct LayoutManifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ImageRootFs {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

fn invalid(source: &CacheSource, detail: impl std::fmt::Display) -> CacheError {
    CacheError::Invalid(format!("cache {source}: {detail}"))
}

/// Reads the cache config out of a config blob: a cache config, or an image config with
/// an inline cache. Returns the document and the layers' diff ids.
fn cache_config(
    source: &CacheSource,
    media_type: &str,
    config: &[u8],
    layers: usize,
) -> Result<(CacheConfig, Vec<Digest>), CacheError> {
    if media_type == CONFIG_MEDIA_TYPE {
        let parsed = CacheConfig::parse(config, layers).map_err(|e| invalid(source, e))?;
        let diff_ids = parsed.diff_ids.clone();
        return Ok((parsed, diff_ids));
    }
    let value: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| invalid(source, format!("config: {e}")))?;
    let Some(inline) = value.get(INLINE_FIELD) else {
        return Err(invalid(
            source,
            format!(
                "neither a hearth cache (config type {media_type}) nor an image with an inline cache; export one with --cache-to type=registry,ref=… or type=inline"
            ),
        ));
    };
    let parsed: CacheConfig = serde_json::from_value(inline.clone())
        .map_err(|e| invalid(source, format!("inline cache: {e}")))?;
    parsed.check(layers).map_err(|e| invalid(source, e))?;
    let rootfs: ImageRootFs = serde_json::from_value(value["rootfs"].clone())
        .map_err(|e| invalid(source, format!("rootfs: {e}")))?;
    if rootfs.diff_ids.len() != layers {
        return Err(invalid(
            source,
            format!(
                "the image has {layers} layers but {} diff_ids",
                rootfs.diff_ids.len()
            ),
        ));
    }
    Ok((parsed, rootfs.diff_ids))
}

/// Turns a cache document into the worker's import.
fn to_import(
    config: CacheConfig,
    diff_ids: &[Digest],
    layers: &[Descriptor],
    origin: &CacheOrigin,
) -> Import {
    let blob = |i: usize| RemoteBlob {
        digest: layers[i].digest,
        diff_id: diff_ids[i],
        media_type: layers[i].media_type.clone(),
        size: layers[i].size,
    };
    let now = hearth_store::unix_now();
    Import {
        records: config
            .records
            .into_iter()
            .map(|r| ImportedRecord {
                key: r.key,
                kind: r.kind,
                description: r.description,
                layers: r.layers.iter().map(|&i| blob(i)).collect(),
                origin: origin.clone(),
                imported: now,
            })
            .collect(),
        mounts: config
            .mounts
            .into_iter()
            .map(|m| ImportedMount {
                dir: m.dir,
                blob: blob(m.layer),
                origin: origin.clone(),
            })
            .collect(),
        content_keys: config
            .content_keys
            .into_iter()
            .filter(|k| k.id.len() == 64 && k.id.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|k| (k.id, k.digest))
            .collect(),
    }
}

/// Imports `source` (a registry's with `registry`, the build's credentials): one
/// manifest and one config read, nothing else downloaded.
pub(crate) async fn import(
    host: &Host,
    registry: &hearth_registry::Client,
    source: &CacheSource,
) -> Result<ImportSummary, CacheError> {
    let (manifest_digest, config_media_type, config, layers, origin) = match source {
        CacheSource::Registry { reference } => {
            let fetched = registry.fetch_manifest_with_config(reference).await?;
            let origin = CacheOrigin::Registry {
                repository: fetched.repository.clone(),
            };
            // Pushing these blobs to this registry later mounts them from here.
            let digests: Vec<Digest> = fetched.manifest.layers.iter().map(|l| l.digest).collect();
            host.store()
                .add_blob_sources(&digests, &fetched.repository)?;
            (
                fetched.digest,
                fetched.manifest.config.media_type,
                fetched.config,
                fetched.manifest.layers,
                origin,
            )
        }
        CacheSource::Local { src, tag, digest } => {
            let (digest, _, manifest, config) = read_layout(source, src, tag, *digest)?;
            let origin = CacheOrigin::Local { dir: src.clone() };
            (
                digest,
                manifest.config.media_type,
                config,
                manifest.layers,
                origin,
            )
        }
    };
    let (document, diff_ids) = cache_config(source, &config_media_type, &config, layers.len())?;
    let records = document.records.len();
    let import = to_import(document, &diff_ids, &layers, &origin);
    let added = imported::save(host, &import)?;
    Ok(ImportSummary {
        records,
        added,
        manifest: manifest_digest,
    })
}

/// Reads a file of an OCI layout, checking its digest.
fn read_verified(dir: &Path, digest: &Digest, source: &CacheSource) -> Result<Vec<u8>, CacheError> {
    let path = imported::layout_blob_path(dir, digest);
    let bytes =
        fs::read(&path).map_err(|e| invalid(source, format!("reading {}: {e}", path.display())))?;
    if Digest::of(&bytes) != *digest {
        return Err(invalid(
            source,
            format!(
                "{} does not match its digest (the directory is damaged; export the cache again)",
                path.display()
            ),
        ));
    }
    Ok(bytes)
}

fn read_layout(
    source: &CacheSource,
    dir: &Path,
    tag: &str,
    digest: Option<Digest>,
) -> Result<(Digest, Vec<u8>, LayoutManifest, Vec<u8>), CacheError> {
    let index_path = dir.join("index.json");
    let index_bytes = fs::read(&index_path).map_err(|e| {
        invalid(
            source,
            format!(
                "reading {}: {e} (is it a directory written by --cache-to type=local,dest=…?)",
                index_path.display()
            ),
        )
    })?;
    let index: serde_json::Value = serde_json::from_slice(&index_bytes)
        .map_err(|e| invalid(source, format!("{}: {e}", index_path.display())))?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let wanted = match digest {
        Some(d) => Some(d),
        None => entries
            .iter()
            .find(|m| m["annotations"][super::REF_NAME_ANNOTATION].as_str() == Some(tag))
            .and_then(|m| m["digest"].as_str())
            .and_then(|d| d.parse().ok()),
    };
    let Some(manifest_digest) = wanted else {
        return Err(invalid(
            source,
            format!("no manifest tagged {tag:?} in {}", index_path.display()),
        ));
    };
    let manifest_bytes = read_verified(dir, &manifest_digest, source)?;
    let manifest: LayoutManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| invalid(source, format!("manifest {manifest_digest}: {e}")))?;
    let config = read_verified(dir, &manifest.config.digest, source)?;
    Ok((manifest_digest, manifest_bytes, manifest, config))
}

/// A `--cache-from type=local` directory as a daemon's client reads it for the daemon.
#[derive(Debug, Clone)]
pub struct ClientLayout {
    /// The manifest, as stored.
    pub manifest: Vec<u8>,
    /// The config blob.
    pub config: Vec<u8>,
    /// The layer blobs the daemon may ask for.
    pub layers: Vec<Digest>,
}

/// Reads the manifest and config of a cache directory (run by a daemon's client).
pub fn read_client_layout(source: &CacheSource) -> Result<ClientLayout, CacheError> {
    let CacheSource::Local { src, tag, digest } = source else {
        return Err(CacheError::Internal("not a local cache".into()));
    };
    let (_, manifest_bytes, manifest, config) = read_layout(source, src, tag, *digest)?;
    Ok(ClientLayout {
        manifest: manifest_bytes,
        config,
        layers: manifest.layers.iter().map(|l| l.digest).collect(),
    })
}

/// Reads a cache directory's manifest and config the client sent: the import holds for
/// this build only, its blobs are asked of the client when needed. Content keys, which
/// are facts about keys rather than about the client, are kept in the store.
pub(crate) fn import_from_client(
    host: &Host,
    source: &CacheSource,
    manifest: &[u8],
    config: &[u8],
) -> Result<(ImportSummary, Import), CacheError> {
    let CacheSource::Local { src, .. } = source else {
        return Err(CacheError::Internal("not a local cache".into()));
    };
    let parsed: LayoutManifest =
        serde_json::from_slice(manifest).map_err(|e| invalid(source, format!("manifest: {e}")))?;
    if Digest::of(config) != parsed.config.digest {
        return Err(invalid(source, "the config does not match the manifest"));
    }
    let (document, diff_ids) = cache_config(
        source,
        &parsed.config.media_type,
        config,
        parsed.layers.len(),
    )?;
    let records = document.records.len();
    let origin = CacheOrigin::Client { dir: src.clone() };
    let mut import = to_import(document, &diff_ids, &parsed.layers, &origin);
    // Cache mounts would have to outlive the client's build; they are not restored.
    import.mounts.clear();
    let keys_only = Import {
        content_keys: std::mem::take(&mut import.content_keys),
        ..Import::default()
    };
    imported::save(host, &keys_only)?;
    Ok((
        ImportSummary {
            records,
            added: records,
            manifest: Digest::of(manifest),
        },
        import,
    ))
}
