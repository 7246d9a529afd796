//! Image sources: resolve the pinned manifest, download each layer blob once, verify it,
//! and unpack it once into a layer directory shared by every image that uses it.

use std::io::{BufReader, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hearth_core::Digest;
use hearth_graph::op::ImageSource;
use hearth_layer::{ApplyOptions, WhiteoutMode, apply_layer, decompressed, detect_archive};
use hearth_registry::Client;
use hearth_solver::{CacheKey, Job};
use hearth_store::tables::Layers;
use hearth_store::{BlobWriter, LayerBlob, LayerId, LayerOrigin};
use tokio::io::AsyncWrite;

use crate::{Error, Host, Ref, records};

const BLOB_INDEX: &str = "layer-by-blob/";

/// The layer unpacked from `blob`, if there is one.
pub(crate) fn layer_for_blob(host: &Host, blob: &Digest) -> Result<Option<LayerId>, Error> {
    let txn = host.store.read()?;
    let Some(bytes) = txn.kv_get(&format!("{BLOB_INDEX}{blob}"))? else {
        return Ok(None);
    };
    let Ok(id) = String::from_utf8_lossy(&bytes).parse::<LayerId>() else {
        return Ok(None);
    };
    Ok(host.store.has_layer(&id).then_some(id))
}

/// Pulls the image with `registry` (the build's credentials) and returns its layers,
/// bottom first.
pub(crate) async fn pull(
    host: &Host,
    registry: &Client,
    source: &ImageSource,
    key: CacheKey,
    job: &Job,
) -> Result<Ref, Error> {
    let resolved = registry
        .resolve(&source.reference, &source.platform)
        .await?;
    // Keep the manifest and config: exporting an image built on this one reuses them.
    host.store.put_blob(&resolved.manifest_bytes)?;
    host.store.put_blob(&resolved.config_bytes)?;
    let mut layers = Vec::with_capacity(resolved.manifest.layers.len());
    for descriptor in &resolved.manifest.layers {
        if let Some(id) = layer_for_blob(host, &descriptor.digest)? {
            layers.push(id);
            continue;
        }
        if job.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if !host.store.has_blob(&descriptor.digest)? {
            job.progress.status(format!(
                "downloading {} ({} bytes)",
                descriptor.digest, descriptor.size
            ));
            download_blob(host, registry, &resolved.repository, descriptor).await?;
        }
        job.progress
            .status(format!("extracting {}", descriptor.digest));
        let id = unpack(
            host,
            &descriptor.digest,
            &descriptor.media_type,
            descriptor.size,
        )
        .await?;
        layers.push(id);
    }
    // Remember where these blobs live, so pushing a derived image to the same registry
    // mounts them instead of uploading.
    let mut pulled: Vec<Digest> = resolved.manifest.layers.iter().map(|d| d.digest).collect();
    pulled.push(resolved.manifest.config.digest);
    host.store.add_blob_sources(&pulled, &resolved.repository)?;
    records::save(host, key, &layers, "source.image", &source.reference)?;
    Ok(Ref::Layers(Arc::new(layers)))
}

/// Downloads one blob of `repository` with `registry` into the store (verified; visible
/// only once complete), unless the store has it. Returns whether it was downloaded.
pub async fn download_blob(
    host: &Host,
    registry: &Client,
    repository: &str,
    descriptor: &hearth_registry::Descriptor,
) -> Result<bool, Error> {
    if host.store.has_blob(&descriptor.digest)? {
        return Ok(false);
    }
    let mut sink = BlobSink(Some(host.store.blob_writer()?));
    registry
        .fetch_blob(repository, descriptor, &mut sink)
        .await?;
    let writer = sink
        .0
        .take()
        .ok_or_else(|| Error::Internal("blob writer lost".into()))?;
    writer.commit(Some(&descriptor.digest))?;
    host.metrics
        .layers_pulled
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(true)
}

/// Unpacks stored blob `blob` (a tar, compressed or not) into `target`, keeping
/// whiteouts in overlay form; returns the digest of the uncompressed tar.
pub(crate) fn unpack_blob_into(
    store: &hearth_store::Store,
    blob: &Digest,
    target: &std::path::Path,
) -> Result<Digest, Error> {
    let reader = store.open_blob(blob)?;
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut header = [0u8; 512];
    let n =
        read_up_to(&mut reader, &mut header).map_err(|e| Error::io(&store.blob_path(blob), e))?;
    let head = &header[..n];
    let format = detect_archive(head).unwrap_or(hearth_layer::ArchiveFormat::Tar);
    let chained = std::io::Cursor::new(head.to_vec()).chain(reader);
    let tar = decompressed(chained, format)?;
    let mut hashing = HashingReader::new(tar);
    apply_layer(
        &mut hashing,
        target,
        &ApplyOptions {
            whiteouts: WhiteoutMode::Overlay,
            ..ApplyOptions::default()
        },
    )?;
    // Consume the rest (tar padding) so the digest covers the whole stream.
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| Error::io(target, e))?;
    Ok(hashing.finish())
}

/// Unpacks a stored layer blob into a new layer directory and records both, so the
/// exporter can reuse the original compressed blob.
pub(crate) async fn unpack(
    host: &Host,
    blob: &Digest,
    media_type: &str,
    size: u64,
) -> Result<LayerId, Error> {
    let store = host.store.clone();
    let blob = *blob;
    let pending = store.new_layer()?;
    let diff = pending.diff_dir();
    let (pending, diff_id) = tokio::task::spawn_blocking(move || -> Result<_, Error> {
        let diff_id = unpack_blob_into(&store, &blob, &diff)?;
        Ok((pending, diff_id))
    })
    .await
    .map_err(|source| Error::Task {
        what: "unpacking task",
        source,
    })??;
    let id = records::commit_layer(host, pending, LayerOrigin::Pulled { blob })?;
    let mut txn = host.store.write()?;
    if let Some(mut record) = txn.get::<Layers>(&id)? {
        record.diff_id = Some(diff_id);
        record.blobs.push(LayerBlob {
            compression: compression_name(media_type).to_owned(),
            level: None,
            digest: blob,
            size,
            media_type: media_type.to_owned(),
            mtime_clamp: None,
        });
        txn.put::<Layers>(&record)?;
    }
    txn.kv_put(&format!("{BLOB_INDEX}{blob}"), id.as_str().as_bytes())?;
    txn.commit()?;
    Ok(id)
}

fn compression_name(media_type: &str) -> &'static str {
    if media_type.ends_with("gzip") {
        "gzip"
    } else if media_type.ends_with("zstd") {
        "zstd"
    } else {
        "uncompressed"
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Hashes what passes through, giving the layer's diff id (digest of the tar).
struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        use sha2::Digest as _;
        Self {
            inner,
            hasher: sha2::Sha256::new(),
        }
    }

    fn finish(self) -> Digest {
        use sha2::Digest as _;
        Digest::from_sha256_bytes(self.hasher.finalize().into())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Adapts the store's (blocking) blob writer to the registry client's async sink.
/// Writes are plain buffered file writes, short enough to do inline.
struct BlobSink(Option<BlobWriter>);

impl AsyncWrite for BlobSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        use std::io::Write;
        match self.get_mut().0.as_mut() {
            Some(w) => Poll::Ready(w.write(buf)),
            None => Poll::Ready(Err(std::io::Error::other("blob writer already committed"))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        use std::io::Write;
        match self.get_mut().0.as_mut() {
            Some(w) => Poll::Ready(w.flush()),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}
