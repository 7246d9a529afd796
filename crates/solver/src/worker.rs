//! What the solver needs from the code that knows how to run nodes.

use futures::future::BoxFuture;
use hearth_core::Digest;
use hearth_graph::{Definition, Node, NodeMetadata};
use tokio_util::sync::CancellationToken;

use crate::CacheKey;
use crate::events::VertexProgress;

/// An error from a worker; the solver adds which vertex it belongs to.
pub type WorkerError = Box<dyn std::error::Error + Send + Sync>;

/// A node as the worker sees it.
#[derive(Debug, Clone, Copy)]
pub struct NodeCtx<'a> {
    /// The node's identity digest.
    pub digest: Digest,
    /// The node.
    pub node: &'a Node,
    /// Its metadata (progress name, source lines, cache bypass).
    pub metadata: Option<&'a NodeMetadata>,
    /// The whole graph, to look at the node's inputs.
    pub definition: &'a Definition,
}

impl<'a> NodeCtx<'a> {
    pub(crate) fn new(
        digest: Digest,
        node: &'a Node,
        metadata: Option<&'a NodeMetadata>,
        definition: &'a Definition,
    ) -> Self {
        Self {
            digest,
            node,
            metadata,
            definition,
        }
    }

    /// The node producing input `index`, if any.
    pub fn input_node(&self, index: usize) -> Option<&'a Node> {
        self.node
            .inputs
            .get(index)
            .and_then(|i| self.definition.node(&i.node))
    }
}

/// How one input contributes to a node's cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKeyMode {
    /// The input's own cache key: any change to how the input was made is a change.
    Key,
    /// A digest of the input's result content, computed by [`Worker::content_key`]:
    /// only the data the node actually reads matters.
    Content,
}

/// One input's contribution to a cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyInput {
    /// The input node's cache key and which of its outputs is read.
    Key {
        /// The input's cache key.
        key: CacheKey,
        /// The output read.
        output: u32,
    },
    /// A content digest of the input's result.
    Content(Digest),
}

/// What a running node gets besides its inputs.
#[derive(Debug)]
pub struct Job {
    /// Where to send its output lines.
    pub progress: VertexProgress,
    /// Cancelled when the solve fails elsewhere or is abandoned.
    pub cancel: CancellationToken,
}

/// Runs nodes and keeps their results.
pub trait Worker: Send + Sync + 'static {
    /// A result: one output of a node.
    type Output: Clone + Send + Sync + 'static;

    /// How input `index` of `node` enters the node's cache key.
    fn input_key_mode(&self, node: &NodeCtx<'_>, index: usize) -> InputKeyMode;

    /// The content digest of what `node` reads from its input `index`, already known
    /// from the input's cache key `input_key` (remembered from an earlier build, or
    /// imported with a remote cache), so that the input's result need not be loaded.
    fn known_content_key(
        &self,
        _node: &NodeCtx<'_>,
        _index: usize,
        _input_key: CacheKey,
    ) -> Option<Digest> {
        None
    }

    /// The content digest of what `node` reads from its input `index`, whose result
    /// is `input` and whose cache key is `input_key`.
    fn content_key<'a>(
        &'a self,
        node: NodeCtx<'a>,
        index: usize,
        input_key: CacheKey,
        input: &'a Self::Output,
    ) -> BoxFuture<'a, Result<Digest, WorkerError>>;

    /// The cache key of `node` given its inputs' contributions, in input order.
    fn cache_key(&self, node: &NodeCtx<'_>, inputs: &[KeyInput]) -> Result<CacheKey, WorkerError>;

    /// The cached outputs for `key`, if the worker has them.
    fn load<'a>(
        &'a self,
        node: NodeCtx<'a>,
        key: CacheKey,
    ) -> BoxFuture<'a, Result<Option<Vec<Self::Output>>, WorkerError>>;

    /// Whether `load` would find outputs for `key`, without fetching anything a load
    /// would (a result held by a remote cache is not downloaded to answer this).
    fn probe<'a>(&'a self, node: NodeCtx<'a>, key: CacheKey) -> BoxFuture<'a, bool> {
        Box::pin(async move { matches!(self.load(node, key).await, Ok(Some(_))) })
    }

    /// The class of one of this worker's errors, which a [`crate::SolveError`] carries to
    /// the engine and the client. Without an answer from the worker a failure is a bug
    /// unless a full disk is behind it.
    fn error_kind(&self, err: &WorkerError) -> hearth_core::ErrorKind {
        hearth_core::ErrorKind::of_chain(err.as_ref(), hearth_core::ErrorKind::Internal)
    }

    /// Runs `node` on its inputs' results and records the outputs under `key`.
    fn exec<'a>(
        &'a self,
        node: NodeCtx<'a>,
        key: CacheKey,
        inputs: Vec<Self::Output>,
        job: &'a Job,
    ) -> BoxFuture<'a, Result<Vec<Self::Output>, WorkerError>>;
}
