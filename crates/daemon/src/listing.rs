//! Receiving a client's context listing: one or more `ContextIndex` messages, each but
//! the last with `more` set, so a context of any size fits gRPC's message limit. What the
//! daemon holds for a listing is bounded: entries, the length of each path and symlink
//! target, and their bytes in all.

use std::time::Duration;

use hearth_api::v1::build_client_message::Message as ClientMessage;
use hearth_api::v1::{BuildClientMessage, ContextIndex};
use hearth_core::Digest;
use hearth_worker::RemoteEntry;
use tonic::Streaming;

/// What a listing may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Entries in all.
    pub(crate) entries: usize,
    /// Bytes of one path or symlink target (Linux's `PATH_MAX`).
    pub(crate) path: usize,
    /// Bytes of all paths and symlink targets together.
    pub(crate) bytes: usize,
    /// Longest wait for the next listing message.
    pub(crate) stall: Duration,
}

/// The daemon's limits: a million entries and 256 MiB of names is far beyond any context
/// a build should send, and bounds what one client can make the daemon hold.
pub(crate) const LIMITS: Limits = Limits {
    entries: 1 << 20,
    path: 4096,
    bytes: 256 << 20,
    stall: Duration::from_secs(300),
};

/// A listing being put together from its messages.
#[derive(Debug)]
pub(crate) struct Listing {
    limits: Limits,
    entries: Vec<RemoteEntry>,
    bytes: usize,
}

impl Listing {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            entries: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds one message's entries; returns whether more messages follow.
    pub(crate) fn add(&mut self, index: ContextIndex) -> Result<bool, String> {
        if index.more && index.entries.is_empty() {
            return Err("the client sent an empty context listing message before its last".into());
        }
        let limits = self.limits;
        if self.entries.len() + index.entries.len() > limits.entries {
            return Err(format!(
                "the build context has more than {} entries, more than hearthd accepts; \
                 leave out what the build does not use with a .dockerignore",
                limits.entries
            ));
        }
        for entry in index.entries {
            for (what, text) in [
                ("path", &entry.path),
                ("symlink target", &entry.link_target),
            ] {
                if text.len() > limits.path {
                    let shown: String = text.chars().take(80).collect();
                    return Err(format!(
                        "the context {what} {shown:?}… is {} bytes long, more than the {} hearthd accepts",
                        text.len(),
                        limits.path
                    ));
                }
            }
            self.bytes += entry.path.len() + entry.link_target.len();
            if self.bytes > limits.bytes {
                return Err(format!(
                    "the build context's names take more than {} MiB, more than hearthd accepts; \
                     leave out what the build does not use with a .dockerignore",
                    limits.bytes >> 20
                ));
            }
            let digest =
                if entry.digest.is_empty() {
                    None
                } else {
                    Some(entry.digest.parse::<Digest>().map_err(|_| {
                        format!("invalid digest {:?} for {}", entry.digest, entry.path)
                    })?)
                };
            self.entries.push(RemoteEntry {
                path: entry.path,
                mode: entry.mode,
                size: entry.size,
                mtime_ns: i128::from(entry.mtime_ns),
                link: Some(entry.link_target).filter(|l| !l.is_empty()),
                digest,
            });
        }
        Ok(index.more)
    }

    pub(crate) fn into_entries(self) -> Vec<RemoteEntry> {
        self.entries
    }
}

/// Reads the listing that follows `BuildStart` on `inbound`.
pub(crate) async fn receive(
    inbound: &mut Streaming<BuildClientMessage>,
    limits: Limits,
) -> Result<Vec<RemoteEntry>, String> {
    let mut listing = Listing::new(limits);
    loop {
        let next = tokio::time::timeout(limits.stall, inbound.message())
            .await
            .map_err(|_| {
                format!(
                    "the client sent no context listing for {}s",
                    limits.stall.as_secs()
                )
            })?
            .map_err(|e| format!("the client's stream failed: {}", e.message()))?;
        let index = match next.and_then(|m| m.message) {
            Some(ClientMessage::ContextIndex(index)) => index,
            Some(_) => return Err("BuildStart is followed by the context listing".into()),
            None => return Err("the client closed its stream before its context listing".into()),
        };
        if !listing.add(index)? {
            return Ok(listing.into_entries());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use hearth_api::v1::ContextEntry;

    fn file(path: &str) -> ContextEntry {
        ContextEntry {
            path: path.into(),
            mode: 0o100_644,
            size: 1,
            digest: Digest::of(b"x").to_string(),
            ..ContextEntry::default()
        }
    }

    fn chunk(paths: &[&str], more: bool) -> ContextIndex {
        ContextIndex {
            entries: paths.iter().map(|p| file(p)).collect(),
            more,
        }
    }

    const SMALL: Limits = Limits {
        entries: 3,
        path: 8,
        bytes: 12,
        stall: Duration::from_secs(1),
    };

    #[test]
    fn chunks_add_up_to_one_listing_and_a_single_message_is_complete() {
        let mut listing = Listing::new(LIMITS);
        assert_eq!(listing.add(chunk(&["a", "b"], true)), Ok(true));
        assert_eq!(listing.add(chunk(&["c"], false)), Ok(false));
        let paths: Vec<String> = listing.into_entries().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["a", "b", "c"]);
        // An older client's listing: one message, `more` unset.
        let mut old = Listing::new(LIMITS);
        assert_eq!(old.add(chunk(&["a"], false)), Ok(false));
    }

    #[test]
    fn entries_path_lengths_and_total_bytes_are_bounded() {
        let mut listing = Listing::new(SMALL);
        listing.add(chunk(&["a", "b"], true)).unwrap();
        let err = listing.add(chunk(&["c", "d"], true)).unwrap_err();
        assert!(err.contains("more than 3 entries"), "{err}");

        let err = Listing::new(SMALL)
            .add(chunk(&["123456789"], false))
            .unwrap_err();
        assert!(err.contains("is 9 bytes long, more than the 8"), "{err}");

        let err = Listing::new(SMALL)
            .add(chunk(&["1234567", "1234567"], false))
            .unwrap_err();
        assert!(err.contains("names take more than"), "{err}");

        let err = Listing::new(SMALL).add(chunk(&[], true)).unwrap_err();
        assert!(err.contains("empty context listing message"), "{err}");
    }
}
