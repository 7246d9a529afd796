//! What `hearth imagetools inspect` shows: a reference's manifest or index as stored,
//! and for each image its platform, configuration and layer sizes.

use hearth_core::{Digest, Platform};

use crate::client::{Client, Fetched, Repository};
use crate::error::RegistryError;
use crate::manifest::{Descriptor, ManifestDocument, config_platform};
use crate::reference::ImageReference;

/// A reference as the registry stores it.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The normalised reference.
    pub name: String,
    /// The digest of the top document.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// The document exactly as stored.
    pub raw: Vec<u8>,
    /// What it describes.
    pub content: Inspected,
}

/// A manifest or an index.
#[derive(Debug, Clone)]
pub enum Inspected {
    /// A single image.
    Image(Box<InspectedImage>),
    /// An index: each entry, with its image when the entry is an image manifest.
    Index(Vec<(Descriptor, Option<InspectedImage>)>),
}

/// One image manifest.
#[derive(Debug, Clone)]
pub struct InspectedImage {
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's media type.
    pub media_type: String,
    /// The platform, from the index entry or else the configuration.
    pub platform: Option<Platform>,
    /// The configuration blob.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
}

impl InspectedImage {
    /// Bytes a pull downloads: configuration plus layers (compressed).
    pub fn size(&self) -> u64 {
        self.config.size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

impl Client {
    /// The normalised name, repository and verified top document (manifest or index) of
    /// `reference`.
    pub(crate) async fn top_document(
        &self,
        reference: &str,
    ) -> Result<(String, Repository, Fetched), RegistryError> {
        let parsed = ImageReference::parse(reference)?;
        let name = parsed.to_string();
        let repo = Repository::new(
            self.config(),
            parsed.registry.clone(),
            parsed.repository.clone(),
        );
        let top = self
            .fetch_manifest(&repo, &parsed.object(), parsed.digest, None, &name)
            .await?;
        Ok((name, repo, top))
    }

    /// Fetches `reference`'s manifest or index, and for an index every image manifest it
    /// lists; everything is digest-verified.
    pub async fn inspect(&self, reference: &str) -> Result<Inspection, RegistryError> {
        let (name, repo, top) = self.top_document(reference).await?;
        let (media_type, content) = match top.document {
            ManifestDocument::Manifest(manifest) => {
                let config = self.fetch_config(&repo, &manifest.config, &name).await?;
                let image = InspectedImage {
                    digest: top.digest,
                    media_type: manifest.media_type.clone(),
                    platform: config_platform(&config).ok(),
                    config: manifest.config,
                    layers: manifest.layers,
                };
                (manifest.media_type, Inspected::Image(Box::new(image)))
            }
            ManifestDocument::Index(index) => {
                let mut entries = Vec::with_capacity(index.manifests.len());
                for entry in index.manifests {
                    let child = self
                        .fetch_manifest(
                            &repo,
                            &entry.digest.to_string(),
                            Some(entry.digest),
                            Some(entry.size),
                            &name,
                        )
                        .await?;
                    let image = match child.document {
                        ManifestDocument::Manifest(manifest) => Some(InspectedImage {
                            digest: child.digest,
                            media_type: manifest.media_type,
                            platform: entry.platform.clone(),
                            config: manifest.config,
                            layers: manifest.layers,
                        }),
                        ManifestDocument::Index(_) => None,
                    };
                    entries.push((entry, image));
                }
                (index.media_type, Inspected::Index(entries))
            }
        };
        Ok(Inspection {
            name,
            digest: top.digest,
            media_type,
            raw: top.bytes,
            content,
        })
    }
}

/// One image manifest and its config blob, whatever the config is (an image config, or
/// the config of an artifact such as a build cache).
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The repository (`registry/path`), for fetching the layers later.
    pub repository: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest.
    pub manifest: crate::manifest::Manifest,
    /// The config blob, digest-verified.
    pub config: Vec<u8>,
}

impl Client {
    /// Fetches `reference`'s image manifest and its config blob, without interpreting the
    /// config (no platform check). An index is refused: artifacts such as caches are
    /// single manifests.
    pub async fn fetch_manifest_with_config(
        &self,
        reference: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let (name, repo, top) = self.top_document(reference).await?;
        match top.document {
            ManifestDocument::Manifest(manifest) => {
                let config = self.fetch_config(&repo, &manifest.config, &name).await?;
                Ok(FetchedManifest {
                    repository: repo.name(),
                    digest: top.digest,
                    manifest: *manifest,
                    config,
                })
            }
            ManifestDocument::Index(_) => Err(RegistryError::Unsupported {
                reference: name,
                detail: "it is an index; expected a single manifest".to_owned(),
            }),
        }
    }
}
