//! Streaming a blob body into a caller's writer while checking its size and sha256.
//!
//! Bytes reach the sink before the digest can be known, so the sink must be an ingest
//! area (a temp file the store renames into place only on success), never the committed
//! store; on any error the caller throws the partial write away. Checking the size as the
//! bytes arrive stops a registry from streaming more than the descriptor promised.

use futures_util::StreamExt;
use hearth_core::Digest;
use reqwest::Response;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::RegistryError;
use crate::manifest::Descriptor;
use crate::transport::describe;

/// Why a blob stream stopped, and whether the sink had already received bytes (after
/// which no other endpoint can be tried for the same sink).
pub(crate) struct StreamFailure {
    pub(crate) error: RegistryError,
    pub(crate) sink_touched: bool,
}

/// Streams `response`'s body into `sink`, verifying it against `descriptor`. Returns the
/// number of bytes written, which equals `descriptor.size`.
pub(crate) async fn stream_verified(
    host: &str,
    response: Response,
    descriptor: &Descriptor,
    sink: &mut (dyn AsyncWrite + Unpin + Send),
) -> Result<u64, StreamFailure> {
    let size_mismatch = |actual: u64| RegistryError::SizeMismatch {
        digest: descriptor.digest,
        expected: descriptor.size,
        actual,
    };
    // A declared length that disagrees fails before anything is written, so another
    // endpoint can still be tried.
    if let Some(length) = response.content_length() {
        if length != descriptor.size {
            return Err(StreamFailure {
                error: size_mismatch(length),
                sink_touched: false,
            });
        }
    }
    let mut hasher = Sha256::new();
    let mut written: u64 = 0;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| StreamFailure {
            error: RegistryError::Transport {
                host: host.to_owned(),
                message: format!(
                    "reading blob {} failed after {written} bytes: {}",
                    descriptor.digest,
                    describe(&e)
                ),
            },
            sink_touched: written > 0,
        })?;
        let len = chunk.len() as u64;
        if written.saturating_add(len) > descriptor.size {
            return Err(StreamFailure {
                error: size_mismatch(written.saturating_add(len)),
                sink_touched: written > 0,
            });
        }
        hasher.update(&chunk);
        sink.write_all(&chunk)
            .await
            .map_err(|source| StreamFailure {
                error: RegistryError::Sink {
                    digest: descriptor.digest,
                    source,
                },
                sink_touched: true,
            })?;
        written += len;
    }
    sink.flush().await.map_err(|source| StreamFailure {
        error: RegistryError::Sink {
            digest: descriptor.digest,
            source,
        },
        sink_touched: true,
    })?;
    if written != descriptor.size {
        return Err(StreamFailure {
            error: size_mismatch(written),
            sink_touched: written > 0,
        });
    }
    let actual = Digest::from_sha256_bytes(hasher.finalize().into());
    if actual != descriptor.digest {
        return Err(StreamFailure {
            error: RegistryError::DigestMismatch {
                expected: descriptor.digest,
                actual,
            },
            sink_touched: true,
        });
    }
    Ok(written)
}
