//! The build graph: hearth's equivalent of BuildKit's LLB.
//!
//! A frontend describes a build as a directed acyclic graph of [`Op`]s: `Source` (an
//! image, the local context, an HTTP file, a git repository), `Exec` (a command in a
//! container, with its mounts), `File` (copy, mkdir, mkfile, rm) and `Merge` (stacking
//! independent layers, for `COPY --link`). Frontends build the graph with a
//! [`GraphBuilder`] and freeze it into a [`Definition`], in which every node is named by
//! the digest of a canonical, versioned encoding of its op and its inputs' digests.
//!
//! Identity is not the cache key: a node digest says *what to do*, so two stages that
//! do the same thing share one node, but the solver derives cache keys from content
//! (file digests, resolved image manifests), which the frontend cannot know.
//! Progress names and source locations live in [`NodeMetadata`], outside the digest,
//! so renaming a stage does not change what gets built.

mod builder;
mod definition;
mod dump;
pub mod op;

pub use builder::{GraphBuilder, Input, NodeId};
pub use definition::{Definition, GraphError, Node, OutputRef, node_digest};
pub use op::{NodeMetadata, Op, SourceRange};

/// The version tag mixed into every node digest. Bump it whenever the meaning or the
/// encoding of any op field changes, so old digests can never alias new ones.
pub const GRAPH_ENCODING_VERSION: &str = "hearth.graph.v1";
