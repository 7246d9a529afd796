//! Exporting a layer in one pass: tar the upper directory, hash the tar (the diff_id),
//! compress it, hash and count the compressed bytes (the blob digest), and write them out —
//! no temporary file and no second read.
//!
//! The tar is produced on a second thread and handed over in 1 MiB chunks, so walking and
//! reading files overlaps with compression; gzip, the slow part, is further spread over
//! the cores by `pgzip` (with output independent of the core count).

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use hearth_core::Digest;
use sha2::{Digest as _, Sha256};

use crate::changes::{ChangeWriter, DiffOptions};
use crate::compress::{Codec, Compression, Compressor, media_type};
use crate::error::LayerError;
use crate::pgzip;
use crate::write::walk_upper;

const CHUNK: usize = 1 << 20;
const CHUNKS_IN_FLIGHT: usize = 4;

/// The result of [`export_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedLayer {
    /// sha256 of the uncompressed tar (goes into the image config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// sha256 of the bytes written (the blob's digest in the manifest).
    pub digest: Digest,
    /// Bytes written.
    pub size: u64,
    /// Bytes of the uncompressed tar.
    pub uncompressed_size: u64,
    /// The compression used.
    pub compression: Compression,
    /// The OCI media type of the blob; see [`ExportedLayer::media_type_for`] for Docker's.
    pub media_type: &'static str,
}

impl ExportedLayer {
    /// The media type in the OCI (`oci = true`) or Docker schema 2 vocabulary.
    pub fn media_type_for(&self, oci: bool) -> &'static str {
        media_type(self.compression, oci)
    }
}

/// Writes the layer of the overlay upper directory `upper` to `out`, compressed with
/// `compression` at `level` (the algorithm's default when `None`), and returns its digests.
pub fn export_layer(
    upper: &Path,
    compression: Compression,
    level: Option<i32>,
    out: impl Write,
    options: &DiffOptions,
) -> Result<ExportedLayer, LayerError> {
    let codec = Codec::new(compression, level)?;
    let mut sink = Hashing::new(BufWriter::with_capacity(CHUNK, out));
    let (chunk_tx, chunk_rx) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    let (spare_tx, spare_rx) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT + 2);

    let (produced, consumed) = std::thread::scope(|scope| {
        let producer = scope.spawn(move || produce(upper, options, chunk_tx, spare_rx));
        let consumed = consume(codec, &chunk_rx, &spare_tx, &mut sink);
        // Unblock the producer if the consumer stopped early.
        drop(chunk_rx);
        (producer.join(), consumed)
    });
    let (diff_id, uncompressed_size) = match produced {
        Ok(result) => result?,
        Err(_) => {
            return Err(LayerError::Write(io::Error::other(
                "the layer tar writer thread panicked",
            )));
        }
    };
    consumed?;
    let (buffered, digest, size) = sink.finish();
    buffered
        .into_inner()
        .map_err(|e| LayerError::Write(e.into_error()))?
        .flush()
        .map_err(LayerError::Write)?;
    Ok(ExportedLayer {
        diff_id,
        digest,
        size,
        uncompressed_size,
        compression,
        media_type: media_type(compression, true),
    })
}

/// The tar side: writes the layer into chunks and hashes it.
fn produce(
    upper: &Path,
    options: &DiffOptions,
    chunks: SyncSender<Vec<u8>>,
    spares: Receiver<Vec<u8>>,
) -> Result<(Digest, u64), LayerError> {
    let sink = Hashing::new(ChunkSender {
        buf: Vec::with_capacity(CHUNK),
        chunks,
        spares,
    });
    let mut writer = ChangeWriter::new(sink, upper, options);
    walk_upper(upper, options, &mut writer)?;
    let (sink, _) = writer.finish()?;
    let (mut sender, digest, size) = sink.finish();
    sender.send_rest().map_err(LayerError::Write)?;
    Ok((digest, size))
}

/// The compression side, on the caller's thread (the output needs not be `Send`); gzip
/// fans out to worker threads.
fn consume<W: Write>(
    codec: Codec,
    chunks: &Receiver<Vec<u8>>,
    spares: &SyncSender<Vec<u8>>,
    out: &mut W,
) -> Result<(), LayerError> {
    if let Codec::Gzip(level) = codec {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        return pgzip::compress(chunks, out, level, threads).map_err(LayerError::Write);
    }
    let mut compressor = Compressor::new(out, codec)?;
    for mut chunk in chunks.iter() {
        compressor.write_all(&chunk).map_err(LayerError::Write)?;
        chunk.clear();
        // The producer may have finished; a lost spare buffer is harmless.
        let _ = spares.try_send(chunk);
    }
    compressor.finish().map_err(LayerError::Write)?;
    Ok(())
}

/// A writer that batches bytes into chunks for the consumer thread.
struct ChunkSender {
    buf: Vec<u8>,
    chunks: SyncSender<Vec<u8>>,
    spares: Receiver<Vec<u8>>,
}

impl ChunkSender {
    fn send_full(&mut self) -> io::Result<()> {
        let next = self
            .spares
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        self.chunks
            .send(full)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the compressor stopped"))
    }

    fn send_rest(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            self.send_full()
        }
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send_full()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A pass-through writer that hashes and counts what goes through.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn finish(self) -> (W, Digest, u64) {
        let digest = Digest::from_sha256_bytes(self.hasher.finalize().into());
        (self.inner, digest, self.count)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hasher.update(&data[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
