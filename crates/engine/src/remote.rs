//! A build whose client is elsewhere (hearthd's): its context is a listing the worker
//! syncs from, its secrets are asked for when a step needs them, and its file outputs
//! are streamed back for the client to write, extract or load.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use hearth_core::Digest;

use hearth_exporter::OutputStreams;
use hearth_worker::{RemoteContext, SecretProvider};

/// What a remote client provides for one build.
#[derive(Clone)]
pub struct RemoteClient {
    /// The context listing and where its contents come from.
    pub context: RemoteContext,
    /// The `.dockerignore` patterns, read by the client.
    pub dockerignore: Vec<String>,
    /// Where file outputs go.
    pub outputs: Arc<dyn OutputStreams>,
    /// Where secrets come from.
    pub secrets: Arc<dyn SecretProvider>,
    /// `--cache-from type=local` directories the client read: by index into the
    /// request's `cache_from`, the manifest and config bytes.
    pub cache_sources: HashMap<usize, (Vec<u8>, Vec<u8>)>,
    /// `--cache-to type=local` directories on the client: by index into the request's
    /// `cache_to`, the blobs they hold already.
    pub cache_dests: HashMap<usize, HashSet<Digest>>,
}

impl fmt::Debug for RemoteClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteClient")
            .field("context", &self.context)
            .field("dockerignore", &self.dockerignore)
            .finish_non_exhaustive()
    }
}
