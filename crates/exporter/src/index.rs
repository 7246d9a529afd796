//! What every image output writes: the images of a build's platforms and, when there are
//! several, the index (OCI) or manifest list (Docker) that names them by platform.
//!
//! A build for one platform has no index: its outputs name the manifest itself, as
//! BuildKit's do, so a single-platform image is the same bytes whether or not hearth could
//! build more.

use hearth_core::{Digest, Platform};
use hearth_registry::{Descriptor, Index};
use hearth_store::Store;

use crate::{ExportError, Image, MediaTypes};

/// One platform's image.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// The platform it was built for.
    pub platform: Platform,
    /// The image.
    pub image: Image,
}

/// The index document of a multi-platform result; its blob is in the store.
#[derive(Debug, Clone)]
pub struct IndexBlob {
    /// The document.
    pub bytes: Vec<u8>,
    /// Its digest.
    pub digest: Digest,
    /// OCI index or Docker manifest list.
    pub media_type: String,
}

/// The images of one build, in the order their platforms were asked for.
#[derive(Debug, Clone)]
pub struct ImageIndex {
    /// Each platform's image.
    pub images: Vec<PlatformImage>,
    /// Present when there are several platforms.
    pub index: Option<IndexBlob>,
}

/// What names point to: the index when there is one, else the single manifest.
#[derive(Debug, Clone, Copy)]
pub struct Top<'a> {
    /// The document.
    pub bytes: &'a [u8],
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: &'a str,
}

impl ImageIndex {
    /// The images of `images`' platforms; with more than one, writes their index (in the
    /// media type family of the manifests) to the store.
    pub fn new(
        store: &Store,
        images: Vec<PlatformImage>,
        media_types: MediaTypes,
    ) -> Result<Self, ExportError> {
        if images.len() < 2 {
            return Ok(Self {
                images,
                index: None,
            });
        }
        let index = Index {
            media_type: media_types.index().to_owned(),
            manifests: images
                .iter()
                .map(|p| Descriptor {
                    media_type: p.image.media_type.clone(),
                    digest: p.image.manifest_digest,
                    size: p.image.manifest.len() as u64,
                    platform: Some(p.platform.clone()),
                    annotations: Default::default(),
                    urls: Vec::new(),
                })
                .collect(),
            annotations: Default::default(),
        };
        let bytes = index.to_json();
        let digest = store.put_blob(&bytes)?;
        Ok(Self {
            images,
            index: Some(IndexBlob {
                bytes,
                digest,
                media_type: index.media_type,
            }),
        })
    }

    /// The document names point to.
    pub fn top(&self) -> Option<Top<'_>> {
        match (&self.index, self.images.first()) {
            (Some(index), _) => Some(Top {
                bytes: &index.bytes,
                digest: index.digest,
                media_type: &index.media_type,
            }),
            (None, Some(single)) => Some(Top {
                bytes: &single.image.manifest,
                digest: single.image.manifest_digest,
                media_type: &single.image.media_type,
            }),
            (None, None) => None,
        }
    }

    /// The image id `--iidfile` and `-q` report: the config digest of a single image, the
    /// index digest for several platforms (as BuildKit reports them).
    pub fn id(&self) -> Option<Digest> {
        match (&self.index, self.single()) {
            (Some(index), _) => Some(index.digest),
            (None, Some(image)) => Some(image.config_digest),
            (None, None) => None,
        }
    }

    /// The only image of a single-platform result.
    pub fn single(&self) -> Option<&Image> {
        match self.images.as_slice() {
            [only] => Some(&only.image),
            _ => None,
        }
    }

    /// Total size of every blob the images reference (shared layers once).
    pub fn size(&self) -> u64 {
        let mut seen = std::collections::HashSet::new();
        let mut total = self.index.as_ref().map_or(0, |i| i.bytes.len() as u64);
        for p in &self.images {
            if seen.insert(p.image.config_digest) {
                total += p.image.config.len() as u64;
            }
            for layer in &p.image.layers {
                if seen.insert(layer.digest) {
                    total += layer.size;
                }
            }
        }
        total
    }
}

/// `linux/arm64/v8` → `linux_arm64_v8`: the directory of one platform's files in a
/// multi-platform `type=local` or `type=tar` output, as BuildKit names it.
pub fn platform_dir(platform: &Platform) -> String {
    platform.format().replace('/', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_directories_as_buildkit_names_them() {
        assert_eq!(
            platform_dir(&Platform::new("linux", "amd64", "")),
            "linux_amd64"
        );
        assert_eq!(
            platform_dir(&Platform::new("linux", "arm", "v7")),
            "linux_arm_v7"
        );
    }
}
