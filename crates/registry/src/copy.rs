//! Moving images between repositories, for `imagetools create`: reading a source's
//! manifest or index as stored, and copying a manifest with everything it references into
//! another repository before an index that lists it is pushed there.
//!
//! A copy is a push whose blobs come from the source repository
//! ([`BlobSource::Repository`]): each blob the target lacks is mounted when both
//! repositories are on one registry, and otherwise streamed through a temporary file, so
//! memory holds manifests only. The child manifest is stored by digest only after its
//! blobs (the push invariant), and an index only after its children, so the registry never
//! holds a reference to something missing.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use hearth_core::{Digest, Platform};
use reqwest::{Method, StatusCode};

use crate::client::{Client, MAX_INDEX_DEPTH, Repository};
use crate::endpoint::Endpoint;
use crate::error::RegistryError;
use crate::manifest::{Descriptor, MANIFEST_ACCEPT, ManifestDocument, config_platform};
use crate::push::push_scope;
use crate::push::{BlobOutcome, BlobSource, PushBlob, PushEvent, PushImage, PushOptions};
use crate::reference::split_repository;
use crate::transport::{Request, error_message};

/// A source of `imagetools create`: a reference's top document as the registry stores it.
#[derive(Debug, Clone)]
pub struct SourceManifest {
    /// The normalised reference it was read through.
    pub reference: String,
    /// Its repository, `registry/path`.
    pub repository: String,
    /// The document's media type, digest and size.
    pub descriptor: Descriptor,
    /// The document exactly as stored.
    pub bytes: Vec<u8>,
    /// What the document lists or declares.
    pub content: SourceContent,
}

/// What a [`SourceManifest`] is.
#[derive(Debug, Clone)]
pub enum SourceContent {
    /// An image manifest, with the platform its configuration declares (operating system,
    /// architecture and variant, normalised: what buildx puts in an index entry).
    Image {
        /// The configuration's platform.
        platform: Platform,
    },
    /// An index (or manifest list): its entries and annotations.
    Index {
        /// The entries, as stored.
        entries: Vec<Descriptor>,
        /// The index's own annotations.
        annotations: std::collections::BTreeMap<String, String>,
    },
}

/// What [`Client::copy_manifest`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    /// Source and target are the same repository: nothing to copy.
    SameRepository,
    /// The target already had the manifest (and so, the registry guarantees, its blobs).
    Present,
    /// Copied; each blob's outcome (for an index, its children's blobs).
    Copied {
        /// Blob digests and what happened to each.
        blobs: Vec<(Digest, BlobOutcome)>,
    },
}

type CopyFuture<'a> = Pin<Box<dyn Future<Output = Result<Copied, RegistryError>> + Send + 'a>>;

impl Client {
    /// Fetches `reference`'s manifest or index (verified), and for an image manifest its
    /// configuration's platform.
    pub async fn fetch_source(&self, reference: &str) -> Result<SourceManifest, RegistryError> {
        let (name, repo, top) = self.top_document(reference).await?;
        let (media_type, content) = match top.document {
            ManifestDocument::Manifest(manifest) => {
                let config = self.fetch_config(&repo, &manifest.config, &name).await?;
                let declared =
                    config_platform(&config).map_err(|detail| RegistryError::Unsupported {
                        reference: name.clone(),
                        detail,
                    })?;
                let platform =
                    Platform::new(&declared.os, &declared.architecture, &declared.variant)
                        .normalized();
                (manifest.media_type, SourceContent::Image { platform })
            }
            ManifestDocument::Index(index) => (
                index.media_type,
                SourceContent::Index {
                    entries: index.manifests,
                    annotations: index.annotations,
                },
            ),
        };
        Ok(SourceManifest {
            reference: name,
            repository: repo.name(),
            descriptor: Descriptor {
                media_type,
                digest: top.digest,
                size: top.bytes.len() as u64,
                platform: None,
                annotations: Default::default(),
                urls: Vec::new(),
            },
            bytes: top.bytes,
            content,
        })
    }

    /// Copies the manifest or index `descriptor` of repository `from` (`registry/path`)
    /// into repository `to`, with every blob and child manifest it references, storing
    /// each manifest by digest. Blobs the target lacks are mounted from `from` on the same
    /// registry, else streamed from it.
    pub async fn copy_manifest(
        &self,
        from: &str,
        descriptor: &Descriptor,
        to: &str,
        options: &PushOptions,
        progress: &(dyn Fn(PushEvent) + Send + Sync),
    ) -> Result<Copied, RegistryError> {
        let (from_registry, from_path) = split_repository(from)?;
        let (to_registry, to_path) = split_repository(to)?;
        let from = Repository::new(self.config(), from_registry, from_path);
        let to = Repository::new(self.config(), to_registry, to_path);
        if from.name() == to.name() {
            return Ok(Copied::SameRepository);
        }
        self.copy_at(&from, descriptor, &to, options, progress, 0)
            .await
    }

    fn copy_at<'a>(
        &'a self,
        from: &'a Repository,
        descriptor: &'a Descriptor,
        to: &'a Repository,
        options: &'a PushOptions,
        progress: &'a (dyn Fn(PushEvent) + Send + Sync),
        depth: usize,
    ) -> CopyFuture<'a> {
        Box::pin(async move {
            let digest = descriptor.digest;
            let target = format!("{}@{digest}", to.name());
            let Some(endpoint) = to.endpoints.iter().find(|e| !e.mirror) else {
                return Err(RegistryError::Config {
                    host: to.registry.clone(),
                    message: "no endpoint to push to".to_owned(),
                });
            };
            if self.manifest_present(to, endpoint, digest).await? {
                return Ok(Copied::Present);
            }
            let what = format!("{}@{digest}", from.name());
            let fetched = self
                .fetch_manifest(
                    from,
                    &digest.to_string(),
                    Some(digest),
                    Some(descriptor.size),
                    &what,
                )
                .await?;
            let (media_type, blobs, mut outcomes) = match fetched.document {
                ManifestDocument::Manifest(manifest) => {
                    let blobs = std::iter::once(&manifest.config)
                        .chain(manifest.layers.iter().filter(|l| distributable(l)))
                        .map(|d| PushBlob {
                            descriptor: d.clone(),
                            source: BlobSource::Repository(from.name()),
                            mount_from: vec![from.name()],
                        })
                        .collect();
                    (manifest.media_type, blobs, Vec::new())
                }
                ManifestDocument::Index(index) => {
                    if depth + 1 >= MAX_INDEX_DEPTH {
                        return Err(RegistryError::Unsupported {
                            reference: what,
                            detail: format!(
                                "image indexes nested more than {MAX_INDEX_DEPTH} deep"
                            ),
                        });
                    }
                    let mut outcomes = Vec::new();
                    for child in &index.manifests {
                        if let Copied::Copied { blobs } = self
                            .copy_at(from, child, to, options, progress, depth + 1)
                            .await?
                        {
                            outcomes.extend(blobs);
                        }
                    }
                    (index.media_type, Vec::new(), outcomes)
                }
            };
            let image = PushImage {
                manifest: Bytes::from(fetched.bytes),
                media_type,
                blobs,
            };
            let reports = self.push(&[target], &image, options, progress).await?;
            outcomes.extend(reports.into_iter().flat_map(|r| r.blobs));
            Ok(Copied::Copied { blobs: outcomes })
        })
    }

    /// Whether `repo` holds the manifest `digest` (a `HEAD`, as containerd's pusher asks
    /// before writing).
    async fn manifest_present(
        &self,
        repo: &Repository,
        endpoint: &Endpoint,
        digest: Digest,
    ) -> Result<bool, RegistryError> {
        let request = Request {
            method: Method::HEAD,
            accept: Some(MANIFEST_ACCEPT),
            ..Request::get(
                endpoint,
                format!("/{}/manifests/{digest}", repo.path),
                push_scope(&repo.path, None),
            )
        };
        let response = self.send(&request).await?;
        match response.status() {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(RegistryError::BadResponse {
                host: endpoint.host.clone(),
                status: status.as_u16(),
                detail: format!(
                    "checking for manifest {digest}: {}",
                    error_message(response).await
                ),
            }),
        }
    }
}

/// Whether a layer is stored in registries at all: foreign (non-distributable) layers
/// live at their `urls` and are not copied, as containerd leaves them.
fn distributable(layer: &Descriptor) -> bool {
    layer.urls.is_empty()
        || !(layer.media_type.contains("foreign") || layer.media_type.contains("nondistributable"))
}
