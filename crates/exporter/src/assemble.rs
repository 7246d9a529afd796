//! From a layer stack and a config to an image: blobs, config and manifest.

use hearth_core::Digest;
use hearth_core::image::{History, ImageConfig, RootFs};
use hearth_layer::{Compression, DiffOptions, export_layer};
use hearth_store::tables::Layers;
use hearth_store::{LayerBlob, LayerId, Store};
use serde::Serialize;

use crate::{ExportError, MediaTypes};

/// How to assemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembleOptions {
    /// Compression of new layer blobs.
    pub compression: Compression,
    /// Compression level; `None` is the algorithm's default.
    pub level: Option<i32>,
    /// Recompress layers whose existing blob uses another compression.
    pub force_compression: bool,
    /// Docker or OCI media types.
    pub media_types: MediaTypes,
    /// Creation time of the image and of history entries without one (RFC 3339).
    pub created: String,
    /// `SOURCE_DATE_EPOCH`: the image's creation time, and a bound on every history
    /// entry's time.
    pub epoch: Option<i64>,
    /// `rewrite-timestamp=true`: file modification times in new layer blobs are clamped
    /// to `epoch`.
    pub rewrite_timestamp: bool,
    /// Extra top-level fields of the config (name, JSON value), such as an inline cache:
    /// appended after the standard fields so that those keep their order.
    pub config_extra: Vec<(String, String)>,
}

impl AssembleOptions {
    fn mtime_clamp(&self) -> Option<i64> {
        if self.rewrite_timestamp {
            self.epoch
        } else {
            None
        }
    }

    fn created(&self) -> String {
        match self.epoch {
            Some(epoch) => hearth_core::time::rfc3339_from_unix(epoch, 0),
            None => self.created.clone(),
        }
    }
}

/// One layer of an assembled image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDescriptor {
    /// Media type.
    pub media_type: String,
    /// Digest of the (compressed) blob.
    pub digest: Digest,
    /// Blob size.
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
}

/// An assembled image; every blob is in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest document.
    pub manifest: Vec<u8>,
    /// Its digest.
    pub manifest_digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// The config document.
    pub config: Vec<u8>,
    /// Its digest.
    pub config_digest: Digest,
    /// The layers, bottom first.
    pub layers: Vec<LayerDescriptor>,
}

impl Image {
    /// The media type of the config blob, which follows the manifest's family.
    pub fn config_media_type(&self) -> &'static str {
        if self.media_type == MediaTypes::Oci.manifest() {
            MediaTypes::Oci.config()
        } else {
            MediaTypes::Docker.config()
        }
    }

    /// Total size of config and layer blobs.
    pub fn size(&self) -> u64 {
        self.config.len() as u64 + self.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::Uncompressed => "uncompressed",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
    }
}

/// The blob of one layer in the wanted compression, exporting (and compressing) it the
/// first time only: later calls, for images or cache exports, reuse the recorded blob.
pub fn layer_blob(
    store: &Store,
    id: &LayerId,
    options: &AssembleOptions,
) -> Result<LayerDescriptor, ExportError> {
    let wanted = compression_name(options.compression);
    let record = store.read()?.get::<Layers>(id)?;
    if let Some(record) = &record
        && let Some(diff_id) = record.diff_id
    {
        let usable = |b: &&LayerBlob| {
            let compression_ok = b.compression == wanted || !options.force_compression;
            let level_ok = options.level.is_none() || b.level == options.level || b.level.is_none();
            compression_ok
                && level_ok
                && b.mtime_clamp == options.mtime_clamp()
                && store.has_blob(&b.digest).unwrap_or(false)
        };
        let preferred = record
            .blobs
            .iter()
            .filter(usable)
            .find(|b| b.compression == wanted);
        if let Some(blob) = preferred.or_else(|| record.blobs.iter().find(usable)) {
            return Ok(LayerDescriptor {
                media_type: options.media_types.layer(&blob.compression).to_owned(),
                digest: blob.digest,
                size: blob.size,
                diff_id,
            });
        }
    }
    let mut writer = store.blob_writer()?;
    let diff_options = DiffOptions {
        mtime_clamp: options.mtime_clamp(),
        ..DiffOptions::default()
    };
    let exported = export_layer(
        &store.layer_dir(id),
        options.compression,
        options.level,
        &mut writer,
        &diff_options,
    )?;
    let (digest, size) = writer.commit(Some(&exported.digest))?;
    let mut txn = store.write()?;
    if let Some(mut record) = txn.get::<Layers>(id)? {
        record.diff_id = Some(exported.diff_id);
        record.blobs.push(LayerBlob {
            compression: wanted.to_owned(),
            level: options.level,
            digest,
            size,
            media_type: options.media_types.layer(wanted).to_owned(),
            mtime_clamp: options.mtime_clamp(),
        });
        txn.put::<Layers>(&record)?;
        txn.commit()?;
    }
    Ok(LayerDescriptor {
        media_type: options.media_types.layer(wanted).to_owned(),
        digest,
        size,
        diff_id: exported.diff_id,
    })
}

/// Appends `"name":value` members to a serialized JSON object.
fn append_fields(object: &mut Vec<u8>, fields: &[(String, String)]) {
    if fields.is_empty() || object.last() != Some(&b'}') {
        return;
    }
    object.pop();
    for (name, value) in fields {
        if object.last() != Some(&b'{') {
            object.push(b',');
        }
        object.extend_from_slice(
            serde_json::to_string(name)
                .unwrap_or_else(|_| "\"\"".into())
                .as_bytes(),
        );
        object.push(b':');
        object.extend_from_slice(value.as_bytes());
    }
    object.push(b'}');
}

/// Makes the history agree with the layers: BuildKit adds empty entries in front when
/// there are more layers than layer-producing entries (a base image without history),
/// and marks the oldest entries as empty when there are fewer.
fn normalize_history(history: &mut Vec<History>, layers: usize, created: &str, epoch: Option<i64>) {
    let with_layer = history.iter().filter(|h| !h.empty_layer).count();
    if with_layer < layers {
        let missing = layers - with_layer;
        let mut fill: Vec<History> = (0..missing)
            .map(|_| History {
                created: Some(created.to_owned()),
                ..History::default()
            })
            .collect();
        fill.append(history);
        *history = fill;
    } else if with_layer > layers {
        let mut extra = with_layer - layers;
        for h in history.iter_mut() {
            if extra == 0 {
                break;
            }
            if !h.empty_layer {
                h.empty_layer = true;
                extra -= 1;
            }
        }
    }
    for h in history.iter_mut() {
        let later_than_epoch = |t: &String| {
            epoch.is_some_and(|e| {
                hearth_core::time::parse_rfc3339(t)
                    .is_none_or(|(secs, nanos)| secs > e || (secs == e && nanos > 0))
            })
        };
        if h.created.as_ref().is_none_or(later_than_epoch) {
            h.created = Some(created.to_owned());
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDoc<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: DescriptorDoc<'a>,
    layers: Vec<DescriptorDoc<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorDoc<'a> {
    media_type: &'a str,
    digest: String,
    size: u64,
}

/// Assembles the image of `layers` with `config`.
pub fn assemble(
    store: &Store,
    layers: &[LayerId],
    mut config: ImageConfig,
    options: &AssembleOptions,
) -> Result<Image, ExportError> {
    let mut descriptors = Vec::with_capacity(layers.len());
    for id in layers {
        descriptors.push(layer_blob(store, id, options)?);
    }
    config.rootfs = RootFs {
        kind: "layers".to_owned(),
        diff_ids: descriptors.iter().map(|d| d.diff_id).collect(),
    };
    let created = options.created();
    config.created = Some(created.clone());
    normalize_history(
        &mut config.history,
        descriptors.len(),
        &created,
        options.epoch,
    );
    let mut config_bytes = serde_json::to_vec(&config).map_err(|source| ExportError::Json {
        what: "image config",
        source,
    })?;
    append_fields(&mut config_bytes, &options.config_extra);
    let config_digest = store.put_blob(&config_bytes)?;
    let media_type = options.media_types.manifest();
    let manifest = ManifestDoc {
        schema_version: 2,
        media_type,
        config: DescriptorDoc {
            media_type: options.media_types.config(),
            digest: config_digest.to_string(),
            size: config_bytes.len() as u64,
        },
        layers: descriptors
            .iter()
            .map(|d| DescriptorDoc {
                media_type: &d.media_type,
                digest: d.digest.to_string(),
                size: d.size,
            })
            .collect(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|source| ExportError::Json {
        what: "manifest",
        source,
    })?;
    let manifest_digest = store.put_blob(&manifest_bytes)?;
    Ok(Image {
        manifest: manifest_bytes,
        manifest_digest,
        media_type: media_type.to_owned(),
        config: config_bytes,
        config_digest,
        layers: descriptors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_made_to_match_the_layers() {
        let entry = |empty: bool| History {
            created_by: "x".into(),
            empty_layer: empty,
            ..History::default()
        };
        let mut h = vec![entry(false), entry(true)];
        normalize_history(&mut h, 3, "T", None);
        assert_eq!(h.len(), 4);
        assert_eq!(h.iter().filter(|e| !e.empty_layer).count(), 3);
        assert!(h.iter().all(|e| e.created.as_deref() == Some("T")));
        let mut h = vec![entry(false), entry(false), entry(true)];
        normalize_history(&mut h, 1, "T", None);
        assert_eq!(h.iter().filter(|e| !e.empty_layer).count(), 1);
        assert!(h[0].empty_layer && !h[1].empty_layer);
    }

    #[test]
    fn source_date_epoch_bounds_every_history_time() {
        let at = |t: Option<&str>| History {
            created: t.map(str::to_owned),
            ..History::default()
        };
        let epoch = "2023-11-14T22:13:20Z";
        let mut h = vec![
            at(Some("2001-01-01T00:00:00Z")),
            at(Some("2030-01-01T00:00:00Z")),
            at(None),
            at(Some("garbage")),
        ];
        normalize_history(&mut h, 4, epoch, Some(1_700_000_000));
        let times: Vec<_> = h.iter().map(|e| e.created.as_deref()).collect();
        assert_eq!(
            times,
            vec![
                Some("2001-01-01T00:00:00Z"),
                Some(epoch),
                Some(epoch),
                Some(epoch)
            ]
        );
    }
}
