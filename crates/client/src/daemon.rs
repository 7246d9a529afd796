//! Finding and talking to hearthd: which daemon a client builds with, whether it speaks
//! this client's API, and what it understands.

use std::path::Path;

use hearth_api::v1::builder_client::BuilderClient;
use hearth_api::v1::{ContextEntry, ContextIndex, InfoRequest, InfoResponse};
use tonic::transport::Channel;

use crate::ClientError;

/// hearthd's socket when nothing else is named.
pub const DEFAULT_SOCKET: &str = "/run/hearth/hearthd.sock";

/// The most listing entries per message, and about the most bytes: gRPC refuses
/// messages over 4 MiB, so a large context goes in many messages.
const LISTING_CHUNK_ENTRIES: usize = 4096;
const LISTING_CHUNK_BYTES: usize = 1 << 20;

/// A daemon that answered, and what it understands.
pub struct Daemon {
    /// The connection.
    pub client: BuilderClient<Channel>,
    info: InfoResponse,
}

impl Daemon {
    /// Whether the daemon announced `feature` (`InfoResponse.features`).
    pub fn supports(&self, feature: &str) -> bool {
        self.info.features.iter().any(|f| f == feature)
    }
}

/// Where a client looks for a daemon.
#[derive(Debug, Clone, Default)]
pub struct DaemonTarget {
    /// `--addr`/`HEARTH_HOST`: this daemon must answer.
    pub addr: Option<String>,
    /// Mutual TLS for `tcp://` addresses.
    pub tls: Option<hearth_api::ClientTls>,
    /// A state directory of this process was asked for (`--root`): never the default
    /// socket.
    pub local_root: bool,
}

/// The daemon to build with: the named address (which must answer), else — unless a
/// local state root is asked for — the default socket when a daemon answers there, else
/// none (build in-process).
pub async fn find(target: &DaemonTarget) -> Result<Option<Daemon>, ClientError> {
    if let Some(addr) = &target.addr {
        let mut client = hearth_api::connect(addr, target.tls.as_ref()).await?;
        let info = check_version(&mut client, addr).await?;
        return Ok(Some(Daemon { client, info }));
    }
    if target.local_root || !Path::new(DEFAULT_SOCKET).exists() {
        return Ok(None);
    }
    let default = format!("unix://{DEFAULT_SOCKET}");
    match hearth_api::connect(&default, None).await {
        Ok(mut client) => {
            let info = check_version(&mut client, &default).await?;
            Ok(Some(Daemon { client, info }))
        }
        // A socket nobody answers on (a stopped daemon): build in-process.
        Err(_) => Ok(None),
    }
}

async fn check_version(
    client: &mut BuilderClient<Channel>,
    addr: &str,
) -> Result<InfoResponse, ClientError> {
    let info = client
        .info(InfoRequest { storage: false })
        .await
        .map_err(|e| {
            ClientError::Daemon(format!(
                "asking hearthd at {addr} who it is: {}",
                e.message()
            ))
        })?
        .into_inner();
    if info.api_version != hearth_api::API_VERSION {
        return Err(ClientError::Daemon(format!(
            "hearthd at {addr} speaks API v{}, this hearth speaks v{}; use matching versions",
            info.api_version,
            hearth_api::API_VERSION
        )));
    }
    Ok(info)
}

/// The listing as `ContextIndex` messages of bounded size, each but the last with
/// `more` set; a daemon without "context-chunks" gets it in one message.
pub fn listing_messages(entries: Vec<ContextEntry>, chunked: bool) -> Vec<ContextIndex> {
    if !chunked {
        return vec![ContextIndex {
            entries,
            more: false,
        }];
    }
    let mut messages = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        // The strings plus a generous allowance for the numbers and field tags.
        let size = entry.path.len() + entry.link_target.len() + entry.digest.len() + 48;
        if !current.is_empty()
            && (current.len() >= LISTING_CHUNK_ENTRIES || bytes + size > LISTING_CHUNK_BYTES)
        {
            messages.push(ContextIndex {
                entries: std::mem::take(&mut current),
                more: true,
            });
            bytes = 0;
        }
        bytes += size;
        current.push(entry);
    }
    messages.push(ContextIndex {
        entries: current,
        more: false,
    });
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> ContextEntry {
        ContextEntry {
            path: format!("dir/file-{n:06}"),
            ..ContextEntry::default()
        }
    }

    #[test]
    fn a_large_listing_goes_in_bounded_messages_and_an_old_daemon_gets_one() {
        let entries: Vec<ContextEntry> = (0..10_000).map(entry).collect();
        let chunked = listing_messages(entries.clone(), true);
        assert!(chunked.len() >= 3, "{} messages", chunked.len());
        assert!(
            chunked
                .iter()
                .all(|m| m.entries.len() <= LISTING_CHUNK_ENTRIES)
        );
        let (last, rest) = chunked.split_last().unwrap();
        assert!(rest.iter().all(|m| m.more) && !last.more);
        let rejoined: Vec<ContextEntry> = chunked.into_iter().flat_map(|m| m.entries).collect();
        assert_eq!(rejoined, entries);
        let single = listing_messages(entries, false);
        assert_eq!(single.len(), 1);
        assert!(!single[0].more);
    }
}
