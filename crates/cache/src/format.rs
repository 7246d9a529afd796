//! The cache document: which cache keys map to which layer chains (docs/cache-format.md).
//!
//! A registry or directory cache is an OCI image manifest whose config blob is a
//! [`CacheConfig`] and whose layers are every layer blob a record names, each once. An
//! inline cache is the same document inside an image's config, under [`INLINE_FIELD`],
//! with layer indexes into that image's manifest.

use hearth_core::Digest;
use serde::{Deserialize, Serialize};

/// Media type of the cache config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.hearth.cache.config.v1+json";
/// Field of an image config that holds an inline cache.
pub const INLINE_FIELD: &str = "hearth.cache.v1";
/// The format version this build of hearth writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The cache config document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheConfig {
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// The uncompressed digest of each manifest layer, in manifest order (empty for an
    /// inline cache: the image config's `rootfs.diff_ids` say it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diff_ids: Vec<Digest>,
    /// Results by cache key.
    pub records: Vec<CacheEntry>,
    /// What steps read from their inputs, by the input's key (see `ContentKey`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_keys: Vec<ContentKey>,
    /// Cache mount directories (`cache-mounts=true`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountEntry>,
}

/// One step result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The step's cache key.
    pub key: Digest,
    /// The op kind (`exec`, `file`, `source.image`, `merge`).
    pub kind: String,
    /// What produced it (`RUN make`).
    #[serde(default)]
    pub description: String,
    /// The result filesystem: indexes into the manifest's layers, bottom first.
    pub layers: Vec<usize>,
}

/// The digest of what a step reads from an input whose cache key pins its content,
/// remembered under `id` = sha256 of (input key, what is read). It lets an importer key a
/// `COPY --from=stage` without the stage's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentKey {
    /// The memo id (64 hex digits).
    pub id: String,
    /// The content digest.
    pub digest: Digest,
}

/// A cache mount directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountEntry {
    /// The directory's name: the hex sha256 of the mount's id.
    pub dir: String,
    /// Index of the manifest layer holding its files.
    pub layer: usize,
}

/// Why a cache document cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not JSON of the expected shape.
    #[error("the cache config is not valid: {0}")]
    Invalid(String),
    /// Written by a newer hearth.
    #[error(
        "the cache was written in format version {0}; this hearth reads version {FORMAT_VERSION} (upgrade hearth, or export the cache again)"
    )]
    Version(u32),
    /// An index out of range.
    #[error("record {key} names layer {index}, but the manifest has {layers} layers")]
    Layer {
        /// The record.
        key: String,
        /// The index.
        index: usize,
        /// How many there are.
        layers: usize,
    },
}

impl CacheConfig {
    /// Parses and checks a cache config against a manifest of `layers` layers.
    pub fn parse(bytes: &[u8], layers: usize) -> Result<Self, FormatError> {
        let config: Self =
            serde_json::from_slice(bytes).map_err(|e| FormatError::Invalid(e.to_string()))?;
        config.check(layers)?;
        Ok(config)
    }

    /// Checks the version and that every index is in range.
    pub fn check(&self, layers: usize) -> Result<(), FormatError> {
        if self.version != FORMAT_VERSION {
            return Err(FormatError::Version(self.version));
        }
        if !self.diff_ids.is_empty() && self.diff_ids.len() != layers {
            return Err(FormatError::Invalid(format!(
                "{} diffIds for {layers} layers",
                self.diff_ids.len()
            )));
        }
        let out_of_range = |key: String, index: usize| FormatError::Layer { key, index, layers };
        for record in &self.records {
            if let Some(&index) = record.layers.iter().find(|&&i| i >= layers) {
                return Err(out_of_range(record.key.to_string(), index));
            }
        }
        for mount in &self.mounts {
            if mount.layer >= layers {
                return Err(out_of_range(format!("mount {}", mount.dir), mount.layer));
            }
            if mount.dir.len() != 64 || !mount.dir.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(FormatError::Invalid(format!(
                    "mount directory {:?} is not 64 hex digits",
                    mount.dir
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_and_bad_ones_are_named() {
        let config = CacheConfig {
            version: FORMAT_VERSION,
            diff_ids: vec![Digest::of(b"a"), Digest::of(b"b")],
            records: vec![CacheEntry {
                key: Digest::of(b"k"),
                kind: "exec".into(),
                description: "RUN make".into(),
                layers: vec![0, 1],
            }],
            content_keys: vec![],
            mounts: vec![],
        };
        let bytes = serde_json::to_vec(&config).unwrap();
        assert_eq!(CacheConfig::parse(&bytes, 2).unwrap(), config);
        assert!(String::from_utf8_lossy(&bytes).contains("\"diffIds\""));
        let err = CacheConfig::parse(&bytes, 1).unwrap_err();
        assert!(err.to_string().contains("diffIds for 1 layers"), "{err}");
        let mut newer = config.clone();
        newer.version = 7;
        let err = CacheConfig::parse(&serde_json::to_vec(&newer).unwrap(), 2).unwrap_err();
        assert_eq!(err, FormatError::Version(7));
        let mut wrong = config;
        wrong.diff_ids.clear();
        wrong.records[0].layers = vec![0, 5];
        let err = CacheConfig::parse(&serde_json::to_vec(&wrong).unwrap(), 2).unwrap_err();
        assert!(err.to_string().contains("names layer 5"), "{err}");
    }
}
