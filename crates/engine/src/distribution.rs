//! Moving images between the store and registries without building: `hearth pull`
//! (an image's blobs into the store, as a build would download them, and a name for it)
//! and `hearth push` (a named image from the store to its registry), plus the push that
//! builds use.

use futures_util::{StreamExt, TryStreamExt, stream};
use hearth_core::{Digest, Platform};
use hearth_registry::{BlobSource, Descriptor, ImageReference, PushBlob, PushImage, PushReport};
use hearth_store::tables::Images;
use hearth_store::{ImageRecord, unix_now};
use serde::Deserialize;

use crate::{Engine, EngineError};

/// Layers downloaded at once by `hearth pull`.
const PULL_CONCURRENCY: usize = 4;

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullReport {
    /// The normalised reference.
    pub reference: String,
    /// The platform's manifest.
    pub manifest_digest: Digest,
    /// Layers downloaded.
    pub downloaded: usize,
    /// Layers the store already had.
    pub present: usize,
    /// Bytes of the image's layers and configuration.
    pub size: u64,
}

/// The parts of a stored manifest a push needs.
#[derive(Deserialize)]
struct StoredManifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

impl Engine {
    /// Downloads `reference` for `platform` into the store and names it, as `docker pull`
    /// does. Layers are fetched in parallel and verified; nothing is unpacked until a
    /// build uses them.
    pub async fn pull(
        &self,
        reference: &str,
        platform: &Platform,
        status: &(dyn Fn(String) + Send + Sync),
    ) -> Result<PullReport, EngineError> {
        let host = self.host();
        let resolved = host.registry().resolve(reference, platform).await?;
        let store = host.store();
        store.put_blob(&resolved.manifest_bytes)?;
        store.put_blob(&resolved.config_bytes)?;
        let layers = &resolved.manifest.layers;
        let repository = resolved.repository.as_str();
        let fetched: Vec<bool> = stream::iter(layers.iter().cloned())
            .map(|descriptor: Descriptor| async move {
                let downloaded =
                    hearth_worker::download_blob(host, host.registry(), repository, &descriptor)
                        .await?;
                status(format!(
                    "{}: {}",
                    descriptor.digest,
                    if downloaded {
                        "downloaded"
                    } else {
                        "already present"
                    }
                ));
                Ok::<_, EngineError>(downloaded)
            })
            .buffered(PULL_CONCURRENCY)
            .try_collect()
            .await?;
        let mut blobs: Vec<Digest> = layers.iter().map(|d| d.digest).collect();
        blobs.push(resolved.manifest.config.digest);
        store.add_blob_sources(&blobs, &resolved.repository)?;
        let size = resolved.manifest.config.size + layers.iter().map(|l| l.size).sum::<u64>();
        let mut txn = store.write()?;
        txn.put::<Images>(&ImageRecord {
            name: resolved.reference.clone(),
            manifest: resolved.manifest_digest,
            config: resolved.manifest.config.digest,
            media_type: resolved.manifest.media_type.clone(),
            created: unix_now(),
            size,
            platforms: Vec::new(),
        })?;
        txn.commit()?;
        let downloaded = fetched.iter().filter(|d| **d).count();
        Ok(PullReport {
            reference: resolved.reference,
            manifest_digest: resolved.manifest_digest,
            downloaded,
            present: fetched.len() - downloaded,
            size,
        })
    }

    /// Pushes the stored image `name` (`hearth images`) to the registry its name points
    /// at, as `docker push` does; an image of several platforms goes as each platform's
    /// manifest by digest, then its index under the name.
    pub async fn push(
        &self,
        name: &str,
        status: &(dyn Fn(String) + Send + Sync),
    ) -> Result<Vec<PushReport>, EngineError> {
        let store = self.store();
        let record = store
            .read()?
            .get::<Images>(name)?
            .ok_or_else(|| EngineError::NoImage {
                name: name.to_owned(),
            })?;
        let registry = self.host().registry();
        if record.platforms.is_empty() {
            let image = stored_push_image(store, name, record.manifest, &record.media_type)?;
            return Ok(hearth_exporter::push::push(
                store,
                registry,
                &image,
                &[name.to_owned()],
                status,
            )
            .await?);
        }
        let repository = ImageReference::parse(name)?.name();
        let index: hearth_registry::Index = {
            let bytes = store.read_blob(&record.manifest)?;
            let entries: StoredIndex = serde_json::from_slice(&bytes).map_err(|e| {
                EngineError::Internal(format!("stored index {} is invalid: {e}", record.manifest))
            })?;
            hearth_registry::Index {
                media_type: record.media_type.clone(),
                manifests: entries.manifests,
                annotations: Default::default(),
            }
        };
        for child in &index.manifests {
            let image = stored_push_image(store, name, child.digest, &child.media_type)?;
            let by_digest = format!("{repository}@{}", child.digest);
            hearth_exporter::push::push(store, registry, &image, &[by_digest], status).await?;
        }
        let list = PushImage {
            manifest: store.read_blob(&record.manifest)?.into(),
            media_type: record.media_type,
            blobs: Vec::new(),
        };
        Ok(hearth_exporter::push::push(store, registry, &list, &[name.to_owned()], status).await?)
    }
}

#[derive(Deserialize)]
struct StoredIndex {
    manifests: Vec<Descriptor>,
}

/// The push of a manifest in the store: its config and layers from the store.
fn stored_push_image(
    store: &hearth_store::Store,
    name: &str,
    manifest_digest: Digest,
    media_type: &str,
) -> Result<PushImage, EngineError> {
    let manifest = store.read_blob(&manifest_digest)?;
    let parsed: StoredManifest = serde_json::from_slice(&manifest).map_err(|e| {
        EngineError::Internal(format!("stored manifest {manifest_digest} is invalid: {e}"))
    })?;
    let config = store.read_blob(&parsed.config.digest)?;
    let mut blobs = Vec::with_capacity(parsed.layers.len() + 1);
    blobs.push(PushBlob {
        mount_from: store.blob_sources(&parsed.config.digest)?,
        descriptor: parsed.config,
        source: BlobSource::Bytes(config.into()),
    });
    for layer in parsed.layers {
        if !store.has_blob(&layer.digest)? {
            return Err(EngineError::MissingLayer {
                name: name.to_owned(),
                digest: layer.digest,
            });
        }
        blobs.push(PushBlob {
            mount_from: store.blob_sources(&layer.digest)?,
            source: BlobSource::File(store.blob_path(&layer.digest)),
            descriptor: layer,
        });
    }
    Ok(PushImage {
        manifest: manifest.into(),
        media_type: media_type.to_owned(),
        blobs,
    })
}
