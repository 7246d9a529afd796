//! Content-addressed blobs: `blobs/sha256/<hex>`, written through an ingest file and
//! verified on read.
//!
//! Lifecycle, as in containerd's content store: a [`BlobWriter`] writes to `tmp/ingest-*`
//! while hashing; until [`BlobWriter::commit`] the content is invisible. Commit fsyncs the
//! file, checks the digest, renames it into place and fsyncs the directory, so a blob that is
//! visible is complete and durable. Readers never get bytes that do not match the name:
//! [`Store::read_blob`] checks before returning, [`BlobReader`] checks at end of file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use hearth_core::Digest;
use sha2::{Digest as _, Sha256};

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil;
use crate::store::Store;

/// Bigger than the default 8 KiB so layer-sized blobs are written in few syscalls.
const WRITE_BUFFER: usize = 256 * 1024;

impl Store {
    /// Starts writing a blob. Nothing is visible until [`BlobWriter::commit`].
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let path = self
            .layout()
            .tmp_dir()
            .join(format!("ingest-{}", fsutil::random_name()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx("create ingest file", &path)?;
        Ok(BlobWriter {
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            hasher: Sha256::new(),
            size: 0,
            tmp_path: path,
            store: self.clone(),
        })
    }

    /// Writes `data` as a blob and returns its digest.
    pub fn put_blob(&self, data: &[u8]) -> Result<Digest> {
        let mut writer = self.blob_writer()?;
        writer
            .write_all(data)
            .ctx("write ingest file", &writer.tmp_path)?;
        Ok(writer.commit(None)?.0)
    }

    /// The file of blob `digest`, whether or not it exists. Unverified: for code that streams
    /// the file itself (hard-linking, sendfile); everything else should use
    /// [`Store::open_blob`] or [`Store::read_blob`].
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.layout().blobs_dir().join(digest.hex())
    }

    /// Whether blob `digest` is in the store.
    pub fn has_blob(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(md) => Ok(md.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).ctx("inspect", &path),
        }
    }

    /// The size in bytes of blob `digest`.
    pub fn blob_size(&self, digest: &Digest) -> Result<u64> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(md) => Ok(md.len()),
            Err(e) => Err(not_found_or_io(e, digest, &path, "inspect")),
        }
    }

    /// The whole content of blob `digest`, verified against the digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let data = fs::read(&path).map_err(|e| not_found_or_io(e, digest, &path, "read"))?;
        if Digest::of(&data) != *digest {
            return Err(StoreError::Corrupt {
                digest: *digest,
                path,
            });
        }
        Ok(data)
    }

    /// Opens blob `digest` for streaming; the reader verifies the digest when it reaches the
    /// end of the file.
    pub fn open_blob(&self, digest: &Digest) -> Result<BlobReader> {
        let path = self.blob_path(digest);
        let file = File::open(&path).map_err(|e| not_found_or_io(e, digest, &path, "open"))?;
        let size = file.metadata().ctx("inspect", &path)?.len();
        Ok(BlobReader {
            file,
            size,
            hasher: Some(Sha256::new()),
            digest: *digest,
            path,
        })
    }

    /// Deletes blob `digest`; `Ok(false)` if it was not there.
    ///
    /// Delete the metadata that references the blob (and commit) first: the database may
    /// only name blobs that exist.
    pub fn remove_blob(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => {
                fsutil::fsync_dir(&self.layout().blobs_dir())?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).ctx("remove blob", &path),
        }
    }

    /// The digests of every blob file, in no particular order. Files whose names are not
    /// digests are skipped (`verify` reports them).
    pub fn blob_digests(&self) -> Result<Vec<Digest>> {
        let dir = self.layout().blobs_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let entry = entry.ctx("read directory", &dir)?;
            if let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|hex| format!("sha256:{hex}").parse().ok())
            {
                out.push(digest);
            }
        }
        Ok(out)
    }
}

fn not_found_or_io(e: io::Error, digest: &Digest, path: &Path, action: &'static str) -> StoreError {
    if e.kind() == io::ErrorKind::NotFound {
        StoreError::BlobNotFound { digest: *digest }
    } else {
        StoreError::io(action, path, e)
    }
}

/// A blob being written. Write the content, then [`commit`](Self::commit); dropping the
/// writer instead deletes the partial file.
#[derive(Debug)]
pub struct BlobWriter {
    // `None` only after commit has taken it.
    file: Option<BufWriter<File>>,
    hasher: Sha256,
    size: u64,
    tmp_path: PathBuf,
    store: Store,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Makes the blob visible under its digest and returns the digest and size.
    ///
    /// If `expected` is given and the content does not match it, the content is discarded
    /// and [`StoreError::DigestMismatch`] returned. Committing content the store already has
    /// is not an error; the new copy is simply discarded.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let tmp_path = self.tmp_path.clone();
        let Some(buffered) = self.file.take() else {
            return Err(StoreError::io(
                "commit",
                &tmp_path,
                io::Error::other("writer already committed"),
            ));
        };
        let file = buffered
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .ctx("write ingest file", &tmp_path)?;
        // Synced before the rename: otherwise a power cut could leave a visible blob whose
        // data never reached the disk.
        file.sync_all().ctx("sync", &tmp_path)?;
        drop(file);

        let actual = Digest::from_sha256_bytes(self.hasher.clone().finalize().into());
        if let Some(expected) = expected {
            if *expected != actual {
                // Drop removes the ingest file.
                return Err(StoreError::DigestMismatch {
                    expected: *expected,
                    actual,
                });
            }
        }

        let target = self.store.blob_path(&actual);
        let existing = fs::symlink_metadata(&target).ok();
        if existing.is_some_and(|md| md.is_file() && md.len() == self.size) {
            // Same name, same size: the same content, as far as a writer needs to know.
            // Drop removes our copy.
            return Ok((actual, self.size));
        }
        fs::rename(&tmp_path, &target).ctx("commit blob to", &target)?;
        fsutil::fsync_dir(&self.store.layout().blobs_dir())?;
        Ok((actual, self.size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("blob writer already committed"));
        };
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Best effort: a file that survives (say, on a crash) is removed by recovery.
        // After a successful rename the path no longer exists and this is a no-op.
        drop(self.file.take());
        let _ = fs::remove_file(&self.tmp_path);
    }
}

/// A verifying reader of one blob: it returns an [`io::ErrorKind::InvalidData`] error
/// wrapping [`StoreError::Corrupt`] at end of file if the content does not match the digest.
///
/// Bytes are handed out before the end is reached, so a consumer that must never act on
/// corrupt data should not commit its result until it has read to the end.
#[derive(Debug)]
pub struct BlobReader {
    file: File,
    size: u64,
    // `None` once the content has been verified.
    hasher: Option<Sha256>,
    digest: Digest,
    path: PathBuf,
}

impl BlobReader {
    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The blob's digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    fn corrupt(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            StoreError::Corrupt {
                digest: self.digest,
                path: self.path.clone(),
            },
        )
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.file.read(buf)?;
        let Some(hasher) = self.hasher.as_mut() else {
            // Already verified; anything appended since is not part of the blob.
            return if n == 0 { Ok(0) } else { Err(self.corrupt()) };
        };
        if n > 0 {
            hasher.update(&buf[..n]);
            return Ok(n);
        }
        let actual = Digest::from_sha256_bytes(hasher.clone().finalize().into());
        if actual != self.digest {
            // The hasher stays, so every further read reports the corruption again.
            return Err(self.corrupt());
        }
        self.hasher = None;
        Ok(0)
    }
}
