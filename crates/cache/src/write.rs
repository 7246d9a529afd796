//! Writing a prepared cache to a registry or to an OCI layout directory, skipping blobs
//! the destination already has.

use std::fs;
use std::io;
use std::path::Path;

use hearth_core::Digest;
use hearth_exporter::MediaTypes;
use hearth_registry::{BlobSource, Client, ImageReference, PushBlob, PushImage};
use hearth_worker::Host;
use hearth_worker::imported::{self, CacheOrigin, RemoteBlob};

use super::export::{BlobLocation, CacheArtifact, CacheLayer};
use super::format::CONFIG_MEDIA_TYPE;
use crate::CacheError;

/// The registry host of a repository (`127.0.0.1:5000/cache/app` → `127.0.0.1:5000`).
fn registry_of(repository: &str) -> &str {
    repository.split('/').next().unwrap_or(repository)
}

/// Puts a blob only an import's origin has into the store, downloading with `registry`
/// (the build's credentials) from a registry origin.
async fn fetch(
    host: &Host,
    registry: &Client,
    layer: &CacheLayer,
    origin: &CacheOrigin,
) -> Result<(), CacheError> {
    let blob = RemoteBlob {
        digest: layer.descriptor.digest,
        diff_id: layer.diff_id,
        media_type: layer.descriptor.media_type.clone(),
        size: layer.descriptor.size,
    };
    imported::fetch_blob(host, registry, origin, &blob, None).await?;
    Ok(())
}

/// Pushes the cache manifest to `reference`. Blobs the registry has are skipped (HEAD),
/// blobs of another repository of the same registry are mounted, and blobs an import
/// left at another origin are fetched first.
pub(crate) async fn to_registry(
    host: &Host,
    registry: &Client,
    artifact: &CacheArtifact,
    reference: &str,
    status: &(dyn Fn(String) + Send + Sync),
) -> Result<Digest, CacheError> {
    let target = ImageReference::parse(reference)?;
    let store = host.store();
    let config_digest = Digest::of(&artifact.config);
    let mut blobs = Vec::with_capacity(artifact.layers.len() + 1);
    blobs.push(PushBlob {
        descriptor: hearth_registry::Descriptor {
            media_type: CONFIG_MEDIA_TYPE.to_owned(),
            digest: config_digest,
            size: artifact.config.len() as u64,
            platform: None,
            annotations: Default::default(),
            urls: Vec::new(),
        },
        source: BlobSource::Bytes(artifact.config.clone().into()),
        mount_from: Vec::new(),
    });
    for layer in &artifact.layers {
        let digest = layer.descriptor.digest;
        let mut mount_from = store.blob_sources(&digest)?;
        if let BlobLocation::Origin(origin) = &layer.location {
            match origin {
                CacheOrigin::Registry { repository }
                    if registry_of(repository) == target.registry =>
                {
                    // The registry has it in that repository: HEAD or a mount will do.
                    if !mount_from.contains(repository) {
                        mount_from.insert(0, repository.clone());
                    }
                }
                other => fetch(host, registry, layer, other).await?,
            }
        }
        blobs.push(PushBlob {
            descriptor: layer.descriptor.clone(),
            source: BlobSource::File(store.blob_path(&digest)),
            mount_from,
        });
    }
    let manifest = artifact.manifest();
    let image = PushImage {
        manifest: manifest.clone().into(),
        media_type: MediaTypes::Oci.manifest().to_owned(),
        blobs,
    };
    hearth_exporter::push::push(
        host.store(),
        registry,
        &image,
        &[reference.to_owned()],
        status,
    )
    .await?;
    Ok(Digest::of(&manifest))
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// Copies (or hard-links) a store blob into the layout unless a blob of that size is
/// there already.
fn put_blob(src: &Path, dir: &Path, digest: &Digest, size: u64) -> io::Result<bool> {
    let dest = imported::layout_blob_path(dir, digest);
    if fs::metadata(&dest).is_ok_and(|m| m.len() == size) {
        return Ok(false);
    }
    let tmp = dest.with_extension(format!("tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    if fs::hard_link(src, &tmp).is_err() {
        fs::copy(src, &tmp)?;
    }
    fs::rename(&tmp, &dest)?;
    Ok(true)
}

/// Writes the cache as an OCI layout in `dir`, tagged `tag` in `index.json` (other
/// tags are kept). Blobs come first and `index.json` last, so a reader never sees a tag
/// whose blobs are missing.
pub(crate) async fn to_dir(
    host: &Host,
    registry: &Client,
    artifact: &CacheArtifact,
    dir: &Path,
    tag: &str,
    status: &(dyn Fn(String) + Send + Sync),
) -> Result<Digest, CacheError> {
    for layer in &artifact.layers {
        if let BlobLocation::Origin(origin) = &layer.location {
            fetch(host, registry, layer, origin).await?;
        }
    }
    let io_err = |what: &str, path: &Path, source: io::Error| CacheError::Write {
        dir: dir.to_path_buf(),
        what: what.to_owned(),
        path: path.to_path_buf(),
        source,
    };
    let blobs_dir = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs_dir).map_err(|e| io_err("creating", &blobs_dir, e))?;
    let store = host.store();
    let mut written = 0usize;
    for layer in &artifact.layers {
        let digest = layer.descriptor.digest;
        let src = store.blob_path(&digest);
        if put_blob(&src, dir, &digest, layer.descriptor.size)
            .map_err(|e| io_err("copying", &src, e))?
        {
            written += 1;
        }
    }
    let manifest = artifact.manifest();
    let manifest_digest = Digest::of(&manifest);
    for bytes in [&artifact.config, &manifest] {
        let path = imported::layout_blob_path(dir, &Digest::of(bytes));
        write_atomic(&path, bytes).map_err(|e| io_err("writing", &path, e))?;
    }
    let layout = dir.join("oci-layout");
    write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(|e| io_err("writing", &layout, e))?;
    let entry = index_entry(&manifest, tag);
    hearth_exporter::cache_layout::merge_index(dir, &entry, tag)
        .map_err(|e| io_err("writing", &dir.join("index.json"), e))?;
    status(format!(
        "wrote {written} new of {} layer blobs to {}",
        artifact.layers.len(),
        dir.display()
    ));
    Ok(manifest_digest)
}

/// The `index.json` entry of a cache manifest tagged `tag`.
fn index_entry(manifest: &[u8], tag: &str) -> serde_json::Value {
    serde_json::json!({
        "mediaType": MediaTypes::Oci.manifest(),
        "digest": Digest::of(manifest).to_string(),
        "size": manifest.len(),
        "annotations": { hearth_exporter::cache_layout::REF_NAME_ANNOTATION: tag },
    })
}

/// Streams the cache to a daemon's client as a tarball of the layout's new files: blobs
/// the client's directory lacks, the config and manifest, `oci-layout`, and the index
/// entry (see `hearth_exporter::cache_layout::CLIENT_ENTRY_NAME`).
pub(crate) async fn to_client(
    host: &Host,
    registry: &Client,
    artifact: &CacheArtifact,
    stream: Box<dyn hearth_exporter::OutputStream>,
    present: &std::collections::HashSet<Digest>,
    tag: &str,
    status: &(dyn Fn(String) + Send + Sync),
) -> Result<Digest, CacheError> {
    for layer in &artifact.layers {
        if let BlobLocation::Origin(origin) = &layer.location
            && !present.contains(&layer.descriptor.digest)
        {
            fetch(host, registry, layer, origin).await?;
        }
    }
    let manifest = artifact.manifest();
    let manifest_digest = Digest::of(&manifest);
    let entry = serde_json::to_vec(&index_entry(&manifest, tag)).unwrap_or_default();
    let files: Vec<(Digest, std::path::PathBuf)> = artifact
        .layers
        .iter()
        .map(|l| l.descriptor.digest)
        .filter(|d| !present.contains(d))
        .map(|d| (d, host.store().blob_path(&d)))
        .collect();
    let sent = files.len();
    let config = artifact.config.clone();
    tokio::task::spawn_blocking(move || -> io::Result<()> {
        let mut tar = tar::Builder::new(stream);
        let mut add = |name: &str, bytes: &[u8]| -> io::Result<()> {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, bytes)
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        for bytes in [&config, &manifest] {
            add(&format!("blobs/sha256/{}", Digest::of(bytes).hex()), bytes)?;
        }
        for (digest, path) in &files {
            let mut file = fs::File::open(path)?;
            let mut header = tar::Header::new_gnu();
            header.set_size(file.metadata()?.len());
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(
                &mut header,
                format!("blobs/sha256/{}", digest.hex()),
                &mut file,
            )?;
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(entry.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(
            &mut header,
            hearth_exporter::cache_layout::CLIENT_ENTRY_NAME,
            entry.as_slice(),
        )?;
        let stream = tar.into_inner()?;
        stream.finish()
    })
    .await
    .map_err(|e| CacheError::Internal(format!("streaming the cache: {e}")))?
    .map_err(|e| CacheError::Internal(format!("streaming the cache to the client: {e}")))?;
    status(format!(
        "sent {sent} of {} layer blobs to the client (it has the rest)",
        artifact.layers.len()
    ));
    Ok(manifest_digest)
}
