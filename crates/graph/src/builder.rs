//! Building a graph: nodes are added to an arena and frozen into a [`Definition`].
//!
//! The arena lets a frontend create a node before its definition is complete (the
//! build context source only learns which paths it must send after every stage has
//! been lowered) and still reference it from other nodes.

use hearth_core::Platform;

use crate::definition::{Definition, GraphError};
use crate::op::{NodeMetadata, Op};

/// A node in a [`GraphBuilder`], valid only for that builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u32);

/// One output of a node in a [`GraphBuilder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Input {
    /// The producing node.
    pub node: NodeId,
    /// Which of its outputs (0 for everything but multi-output execs).
    pub output: u32,
}

impl NodeId {
    /// The node's first output.
    pub fn output0(self) -> Input {
        Input {
            node: self,
            output: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PendingNode {
    pub(crate) op: Op,
    pub(crate) inputs: Vec<Input>,
    pub(crate) platform: Option<Platform>,
    pub(crate) metadata: NodeMetadata,
}

/// Collects nodes; [`GraphBuilder::finish`] freezes those reachable from a root.
#[derive(Debug, Clone, Default)]
pub struct GraphBuilder {
    pub(crate) nodes: Vec<PendingNode>,
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node. `inputs` are referenced by index from the op (mount inputs, file
    /// action sources); they must be nodes of this builder.
    pub fn add(
        &mut self,
        op: Op,
        inputs: Vec<Input>,
        platform: Option<Platform>,
        metadata: NodeMetadata,
    ) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).unwrap_or(u32::MAX));
        self.nodes.push(PendingNode {
            op,
            inputs,
            platform,
            metadata,
        });
        id
    }

    /// Replaces the op of a node added earlier, keeping its inputs and metadata.
    pub fn replace_op(&mut self, id: NodeId, op: Op) -> Result<(), GraphError> {
        let node = self
            .nodes
            .get_mut(id.0 as usize)
            .ok_or(GraphError::UnknownNode(id.0))?;
        node.op = op;
        Ok(())
    }

    /// The op of a node, if it exists.
    pub fn op(&self, id: NodeId) -> Option<&Op> {
        self.nodes.get(id.0 as usize).map(|n| &n.op)
    }

    /// Mutable metadata of a node, if it exists.
    pub fn metadata_mut(&mut self, id: NodeId) -> Option<&mut NodeMetadata> {
        self.nodes.get_mut(id.0 as usize).map(|n| &mut n.metadata)
    }

    /// Number of nodes added so far, reachable or not.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no node was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Freezes the nodes reachable from `root` (`None` is an empty filesystem) into a
    /// [`Definition`], naming each node by its digest and merging identical nodes.
    pub fn finish(&self, root: Option<Input>) -> Result<Definition, GraphError> {
        Definition::from_builder(self, root)
    }
}
