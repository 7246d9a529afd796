//! Pushing images to registries: every blob, then each manifest, then (for several
//! platforms) the index under the requested names, with progress in BuildKit's words.

use hearth_core::Digest;
use hearth_registry::{
    BlobOutcome, BlobSource, Descriptor, ImageReference, PushBlob, PushEvent, PushImage,
    PushOptions, PushReport,
};
use hearth_store::Store;
use hearth_worker::Host;

use crate::{ExportError, Image, ImageIndex};

/// Pushes `image` under `names` with `registry` (whose credentials say whose push it is),
/// then records where its blobs now live so later pushes to the same registry mount them.
pub async fn push(
    store: &Store,
    registry: &hearth_registry::Client,
    image: &PushImage,
    names: &[String],
    status: &(dyn Fn(String) + Send + Sync),
) -> Result<Vec<PushReport>, ExportError> {
    if names.is_empty() {
        return Err(ExportError::Unsupported(
            "pushing needs an image name: add -t NAME or name=NAME to the output".to_owned(),
        ));
    }
    status("pushing layers".to_owned());
    let on_event = |event: PushEvent| match event {
        PushEvent::Blob {
            digest, outcome, ..
        } => status(match outcome {
            BlobOutcome::Existed => format!("pushing {digest}: already exists"),
            BlobOutcome::Mounted { from } => format!("pushing {digest}: mounted from {from}"),
            BlobOutcome::Uploaded => format!("pushing {digest}: done"),
        }),
        PushEvent::Manifest { reference, digest } => {
            status(format!("pushing manifest for {reference}@{digest}"));
        }
    };
    let reports = registry
        .push(names, image, &PushOptions::default(), &on_event)
        .await?;
    let digests: Vec<Digest> = image.blobs.iter().map(|b| b.descriptor.digest).collect();
    for report in &reports {
        if let Ok(reference) = ImageReference::parse(&report.reference) {
            store.add_blob_sources(&digests, &reference.name())?;
        }
    }
    Ok(reports)
}

/// Pushes a build's images under `names`: the manifest itself for one platform; for
/// several, each platform's manifest by digest into every named repository, then the
/// index under the names, so a registry never holds an index whose manifests are missing.
pub async fn push_images(
    host: &Host,
    registry: &hearth_registry::Client,
    images: &ImageIndex,
    names: &[String],
    status: &(dyn Fn(String) + Send + Sync),
) -> Result<(), ExportError> {
    let store = host.store();
    let Some(index) = &images.index else {
        let image = images
            .single()
            .ok_or_else(|| ExportError::Internal("no image to push".into()))?;
        push(
            store,
            registry,
            &push_image_of(store, image)?,
            names,
            status,
        )
        .await?;
        return Ok(());
    };
    if names.is_empty() {
        return Err(ExportError::Unsupported(
            "pushing needs an image name: add -t NAME or name=NAME to the output".to_owned(),
        ));
    }
    let mut repositories: Vec<String> = Vec::new();
    for name in names {
        let repository = ImageReference::parse(name)?.name();
        if !repositories.contains(&repository) {
            repositories.push(repository);
        }
    }
    for platform in &images.images {
        let by_digest: Vec<String> = repositories
            .iter()
            .map(|r| format!("{r}@{}", platform.image.manifest_digest))
            .collect();
        push(
            store,
            registry,
            &push_image_of(store, &platform.image)?,
            &by_digest,
            status,
        )
        .await?;
    }
    let list = PushImage {
        manifest: index.bytes.clone().into(),
        media_type: index.media_type.clone(),
        blobs: Vec::new(),
    };
    push(store, registry, &list, names, status).await?;
    Ok(())
}

/// The push of one assembled image: its config from memory, its layers from the store.
pub fn push_image_of(store: &Store, image: &Image) -> Result<PushImage, ExportError> {
    let mut blobs = Vec::with_capacity(image.layers.len() + 1);
    blobs.push(PushBlob {
        descriptor: descriptor(
            image.config_media_type(),
            image.config_digest,
            image.config.len() as u64,
        ),
        source: BlobSource::Bytes(image.config.clone().into()),
        mount_from: store.blob_sources(&image.config_digest)?,
    });
    for layer in &image.layers {
        blobs.push(PushBlob {
            descriptor: descriptor(&layer.media_type, layer.digest, layer.size),
            source: BlobSource::File(store.blob_path(&layer.digest)),
            mount_from: store.blob_sources(&layer.digest)?,
        });
    }
    Ok(PushImage {
        manifest: image.manifest.clone().into(),
        media_type: image.media_type.clone(),
        blobs,
    })
}

fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest,
        size,
        platform: None,
        annotations: Default::default(),
        urls: Vec::new(),
    }
}
