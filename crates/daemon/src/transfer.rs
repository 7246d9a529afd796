//! Context contents (and client cache blobs) from the client, by digest: the daemon
//! asks with `NeedFiles` (in batches, each well inside gRPC's message limit), the client
//! answers with `FileChunk`s, and every file is hashed on arrival and renamed into place
//! only when it matches its digest.
//!
//! What a client can make the daemon write is bounded: only digests asked for, each no
//! longer than the size the listing (or the cache manifest) gave for it, and a few files
//! open at once. Older clients send the answers to several `NeedFiles` at once, so the
//! chunks of different files may interleave.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hearth_api::v1::FileChunk;
use hearth_core::{Digest, ErrorKind};
use sha2::Digest as _;
use tokio::sync::oneshot;

/// Why a chunk was not taken: the client broke the protocol (its request is invalid),
/// or the daemon could not store it (a full disk is the daemon's, not the client's).
#[derive(Debug, Clone)]
pub(crate) struct Refused {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl Refused {
    fn local(err: &std::io::Error, message: String) -> Self {
        Self {
            kind: ErrorKind::of_chain(err, ErrorKind::Internal),
            message,
        }
    }
}

impl From<String> for Refused {
    fn from(message: String) -> Self {
        Self {
            kind: ErrorKind::InvalidInput,
            message,
        }
    }
}

/// Digests per `NeedFiles` message: about 70 bytes each, so a message stays near
/// 600 KiB, well inside the client's 4 MiB limit.
pub(crate) const NEED_FILES_BATCH: usize = 8192;
/// Files being received at once.
const MAX_OPEN: usize = 16;

/// One transfer: the files asked for and those arriving.
pub(crate) struct Transfer {
    dir: PathBuf,
    remaining: HashSet<Digest>,
    receiving: HashMap<Digest, Receiving>,
    pub(crate) done: Option<oneshot::Sender<Result<(), String>>>,
}

struct Receiving {
    file: fs::File,
    hasher: sha2::Sha256,
    partial: PathBuf,
    written: u64,
    expected: u64,
}

impl Transfer {
    /// A transfer of `digests` into `dir`; `done` fires once all arrived or one failed.
    pub(crate) fn new(
        dir: &Path,
        digests: &[Digest],
        done: oneshot::Sender<Result<(), String>>,
    ) -> Self {
        Self {
            dir: dir.to_path_buf(),
            remaining: digests.iter().copied().collect(),
            receiving: HashMap::new(),
            done: Some(done),
        }
    }

    /// Takes one chunk; `sizes` are the sizes the daemon knows for each digest. An error
    /// is a protocol violation by the client.
    pub(crate) fn chunk(
        &mut self,
        chunk: FileChunk,
        sizes: &HashMap<Digest, u64>,
    ) -> Result<(), Refused> {
        let digest: Digest = chunk
            .digest
            .parse()
            .map_err(|_| format!("the client sent a file with digest {:?}", chunk.digest))?;
        if !self.remaining.contains(&digest) {
            return Err(format!("the client sent {digest}, which was not asked for").into());
        }
        if !self.receiving.contains_key(&digest) {
            if self.receiving.len() >= MAX_OPEN {
                return Err(format!("the client sent more than {MAX_OPEN} files at once").into());
            }
            let expected = *sizes
                .get(&digest)
                .ok_or_else(|| format!("no size is known for {digest}"))?;
            let partial = self.dir.join(format!("{}.partial", digest.hex()));
            let file = fs::File::create(&partial)
                .map_err(|e| Refused::local(&e, format!("creating {}: {e}", partial.display())))?;
            self.receiving.insert(
                digest,
                Receiving {
                    file,
                    hasher: sha2::Sha256::new(),
                    partial,
                    written: 0,
                    expected,
                },
            );
        }
        let receiving = self
            .receiving
            .get_mut(&digest)
            .ok_or_else(|| "no file being received".to_owned())?;
        receiving.written += chunk.data.len() as u64;
        if receiving.written > receiving.expected {
            let _ = fs::remove_file(&receiving.partial);
            return Err(format!(
                "the client sent more than the {} bytes listed for {digest}",
                receiving.expected
            )
            .into());
        }
        receiving.file.write_all(&chunk.data).map_err(|e| {
            Refused::local(&e, format!("writing {}: {e}", receiving.partial.display()))
        })?;
        receiving.hasher.update(&chunk.data);
        if !chunk.eof {
            return Ok(());
        }
        let Some(done) = self.receiving.remove(&digest) else {
            return Ok(());
        };
        let actual = Digest::from_sha256_bytes(done.hasher.finalize().into());
        if actual != digest {
            let _ = fs::remove_file(&done.partial);
            return Err(
                format!("the client sent content for {digest} that hashes to {actual}").into(),
            );
        }
        let complete = self.dir.join(digest.hex());
        fs::rename(&done.partial, &complete)
            .map_err(|e| Refused::local(&e, format!("storing {}: {e}", complete.display())))?;
        self.remaining.remove(&digest);
        if self.remaining.is_empty()
            && let Some(done) = self.done.take()
        {
            let _ = done.send(Ok(()));
        }
        Ok(())
    }

    /// Ends the transfer with `why`.
    pub(crate) fn fail(&mut self, why: String) {
        if let Some(done) = self.done.take() {
            let _ = done.send(Err(why));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn chunk(content: &[u8], data: &[u8], eof: bool) -> FileChunk {
        FileChunk {
            digest: Digest::of(content).to_string(),
            data: data.to_vec(),
            eof,
        }
    }

    #[test]
    fn interleaved_files_arrive_verified_and_more_than_listed_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (b"alpha".as_slice(), b"beta".as_slice());
        let sizes = HashMap::from([(Digest::of(a), 5), (Digest::of(b), 4)]);
        let (done, finished) = oneshot::channel();
        let mut transfer = Transfer::new(dir.path(), &[Digest::of(a), Digest::of(b)], done);
        // Two older-client tasks answering two NeedFiles at once.
        transfer.chunk(chunk(a, b"al", false), &sizes).unwrap();
        transfer.chunk(chunk(b, b"beta", false), &sizes).unwrap();
        transfer.chunk(chunk(a, b"pha", false), &sizes).unwrap();
        transfer.chunk(chunk(b, b"", true), &sizes).unwrap();
        transfer.chunk(chunk(a, b"", true), &sizes).unwrap();
        assert_eq!(
            fs::read(dir.path().join(Digest::of(a).hex())).unwrap(),
            b"alpha"
        );
        assert_eq!(finished.blocking_recv().unwrap(), Ok(()));

        let (done, _finished) = oneshot::channel();
        let mut transfer = Transfer::new(dir.path(), &[Digest::of(b)], done);
        let err = transfer
            .chunk(chunk(b, b"beta and then some", false), &sizes)
            .unwrap_err();
        assert!(
            err.message.contains("more than the 4 bytes listed"),
            "{}",
            err.message
        );
        let err = transfer
            .chunk(chunk(a, b"alpha", true), &sizes)
            .unwrap_err();
        assert!(
            err.message.contains("which was not asked for"),
            "{}",
            err.message
        );
    }
}
