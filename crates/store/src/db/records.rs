//! The records stored in the metadata database, one type per table.
//!
//! Records are stored as JSON so that a store can be inspected and repaired by hand, and so
//! that fields can be added later: unknown fields are ignored when reading. Timestamps are
//! unix seconds; sizes are bytes.

use hearth_core::Digest;
use serde::{Deserialize, Serialize};

use crate::layers::LayerId;

/// A committed layer directory (`layers` table, keyed by id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The layer's id, also its directory name.
    pub id: LayerId,
    /// When the layer was committed.
    pub created: u64,
    /// Bytes the directory takes on disk.
    pub size: u64,
    /// sha256 of the uncompressed layer tar, once computed.
    pub diff_id: Option<Digest>,
    /// Compressed (or uncompressed) tar blobs of this layer that the store holds.
    pub blobs: Vec<LayerBlob>,
    /// Where the layer came from.
    pub origin: LayerOrigin,
}

/// One tar blob of a layer, in one compression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerBlob {
    /// `"gzip"`, `"zstd"` or `"uncompressed"`.
    pub compression: String,
    /// Compression level, where one was chosen.
    pub level: Option<i32>,
    /// The blob.
    pub digest: Digest,
    /// The blob's size.
    pub size: u64,
    /// Its OCI media type.
    pub media_type: String,
    /// The `SOURCE_DATE_EPOCH` later modification times were rewritten to, if any: such a
    /// blob differs from the plain one and only serves exports asking for the same clamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_clamp: Option<i64>,
}

/// Where a layer came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LayerOrigin {
    /// Unpacked from an image layer blob.
    Pulled {
        /// The blob it was unpacked from.
        blob: Digest,
    },
    /// Produced by a build step.
    Built,
}

/// The result of one build step (`cache` table, keyed by cache key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The solver's cache key.
    pub key: Digest,
    /// The result filesystem, bottom layer first.
    pub layers: Vec<LayerId>,
    /// When the record was created.
    pub created: u64,
    /// When a build last used it (for GC's `keepDuration`).
    pub last_used: u64,
    /// What produced it, for `du` and progress ("RUN make").
    pub description: String,
    /// The op kind, as GC filters name it: `"exec"`, `"file"`, `"source.image"`,
    /// `"source.local"`, ….
    pub kind: String,
    /// Bytes attributed to this record.
    pub size: u64,
    /// Op-specific data, such as an image config digest.
    pub extra: serde_json::Value,
}

/// A named image (`images` table, keyed by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Full reference, such as `docker.io/library/app:latest`.
    pub name: String,
    /// The manifest (or index) blob.
    pub manifest: Digest,
    /// The image config blob.
    pub config: Digest,
    /// The manifest's media type.
    pub media_type: String,
    /// When the name was set.
    pub created: u64,
    /// Total size of the image's blobs.
    pub size: u64,
    /// For an index (several platforms): each platform's image. Empty for one image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformImageRecord>,
}

/// One platform's image of an indexed [`ImageRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformImageRecord {
    /// `os/arch[/variant]`.
    pub platform: String,
    /// Its manifest blob.
    pub manifest: Digest,
    /// Its config blob.
    pub config: Digest,
    /// Size of its config and layer blobs.
    pub size: u64,
}

/// What a blob is (`blobs` table, keyed by digest), for `du` and GC. Optional: a blob may
/// exist without a record, but a record never without its blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its OCI media type.
    pub media_type: String,
    /// When it was stored.
    pub created: u64,
}

/// Resources a running build holds so that GC keeps them (`leases` table, keyed by id).
///
/// A lease may name resources that do not exist yet (a blob still being pulled). A lease
/// without `expires` belongs to the process that created it and is dropped when the store is
/// next opened; one with `expires` lasts until then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The lease's id, chosen by its creator.
    pub id: String,
    /// When it was created.
    pub created: u64,
    /// When it stops protecting anything, if it is not tied to the creating process.
    pub expires: Option<u64>,
    /// Layers it holds.
    pub layers: Vec<LayerId>,
    /// Blobs it holds.
    pub blobs: Vec<Digest>,
    /// Cache records it holds.
    pub cache: Vec<Digest>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_records_are_readable_json() {
        let blob = Digest::of(b"blob");
        let record = LayerRecord {
            id: "aaaaaaaaaaaaaaaaaaaaaaaaaa".parse().unwrap(),
            created: 1,
            size: 2,
            diff_id: None,
            blobs: vec![],
            origin: LayerOrigin::Pulled { blob },
        };
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            format!(
                r#"{{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaa","created":1,"size":2,"diff_id":null,"blobs":[],"origin":{{"type":"pulled","blob":"{blob}"}}}}"#
            )
        );
        assert_eq!(
            serde_json::to_string(&LayerOrigin::Built).unwrap(),
            r#"{"type":"built"}"#
        );
    }
}
