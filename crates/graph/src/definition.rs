//! A frozen build graph whose nodes are named by content digests.

use std::collections::{BTreeMap, HashMap};

use hearth_core::{Digest, Platform};
use serde::{Deserialize, Serialize};

use crate::GRAPH_ENCODING_VERSION;
use crate::builder::{GraphBuilder, Input, NodeId};
use crate::op::{ExecOp, FileAction, NodeMetadata, Op};

/// One output of a frozen node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutputRef {
    /// The producing node.
    pub node: Digest,
    /// Which of its outputs.
    pub output: u32,
}

/// A frozen node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// What it does.
    pub op: Op,
    /// What it reads, referenced by index from `op`.
    pub inputs: Vec<OutputRef>,
    /// The platform it runs for.
    pub platform: Option<Platform>,
}

/// Why a graph could not be frozen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// A node id that the builder never issued.
    #[error("node {0} does not exist in this graph")]
    UnknownNode(u32),
    /// An op refers to an input index the node does not have.
    #[error("node {node} refers to input {index} but has only {count} inputs")]
    DanglingInput {
        /// The node.
        node: u32,
        /// The index used.
        index: u32,
        /// How many inputs it has.
        count: usize,
    },
    /// An input names an output its producer does not have.
    #[error("node {node} reads output {output} of node {producer}, which has {outputs} outputs")]
    MissingOutput {
        /// The reading node.
        node: u32,
        /// The producing node.
        producer: u32,
        /// The output index read.
        output: u32,
        /// How many outputs the producer has.
        outputs: u32,
    },
    /// The nodes form a cycle.
    #[error("the build graph has a cycle through node {0}")]
    Cycle(u32),
    /// The canonical encoding failed (a bug: every op type is plain data).
    #[error("cannot encode node {node}: {message}")]
    Encoding {
        /// The node.
        node: u32,
        /// The serializer's message.
        message: String,
    },
}

/// A frozen, deduplicated build graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    nodes: BTreeMap<Digest, Node>,
    metadata: BTreeMap<Digest, NodeMetadata>,
    /// Nodes in dependency order: every node after all its inputs.
    order: Vec<Digest>,
    root: Option<OutputRef>,
}

#[derive(Serialize)]
struct CanonicalNode<'a> {
    version: &'static str,
    op: &'a Op,
    inputs: &'a [OutputRef],
    platform: &'a Option<Platform>,
}

/// How many outputs a node of this op has.
fn output_count(op: &Op) -> u32 {
    match op {
        Op::Exec(exec) => exec
            .mounts
            .iter()
            .filter_map(|m| m.output)
            .map(|o| o + 1)
            .max()
            .unwrap_or(0),
        _ => 1,
    }
}

/// Every input index the op refers to.
fn referenced_inputs(op: &Op, input_count: usize) -> Vec<u32> {
    match op {
        Op::Source(_) => Vec::new(),
        Op::Exec(ExecOp { mounts, .. }) => mounts.iter().filter_map(|m| m.input).collect(),
        Op::File(file) => {
            let mut out: Vec<u32> = file.base.into_iter().collect();
            for action in &file.actions {
                if let FileAction::Copy(copy) = action {
                    out.extend(copy.source);
                }
            }
            out
        }
        Op::Merge(_) => (0..u32::try_from(input_count).unwrap_or(u32::MAX)).collect(),
    }
}

impl Definition {
    pub(crate) fn from_builder(
        builder: &GraphBuilder,
        root: Option<Input>,
    ) -> Result<Self, GraphError> {
        let mut digests: HashMap<NodeId, Digest> = HashMap::new();
        let mut def = Definition {
            nodes: BTreeMap::new(),
            metadata: BTreeMap::new(),
            order: Vec::new(),
            root: None,
        };
        let Some(root) = root else {
            return Ok(def);
        };

        // Iterative post-order walk: a Dockerfile can chain thousands of steps, too deep
        // for recursion on a small thread stack.
        enum Visit {
            Enter(NodeId),
            Exit(NodeId),
        }
        let mut on_path: HashMap<NodeId, bool> = HashMap::new();
        let mut stack = vec![Visit::Enter(root.node)];
        while let Some(visit) = stack.pop() {
            match visit {
                Visit::Enter(id) => {
                    if digests.contains_key(&id) {
                        continue;
                    }
                    if on_path.get(&id).copied().unwrap_or(false) {
                        return Err(GraphError::Cycle(id.0));
                    }
                    let node = builder
                        .nodes
                        .get(id.0 as usize)
                        .ok_or(GraphError::UnknownNode(id.0))?;
                    on_path.insert(id, true);
                    stack.push(Visit::Exit(id));
                    for input in node.inputs.iter().rev() {
                        if !digests.contains_key(&input.node) {
                            stack.push(Visit::Enter(input.node));
                        }
                    }
                }
                Visit::Exit(id) => {
                    on_path.insert(id, false);
                    let digest = def.freeze_node(builder, id, &digests)?;
                    digests.insert(id, digest);
                }
            }
        }
        let root_digest = digests
            .get(&root.node)
            .copied()
            .ok_or(GraphError::UnknownNode(root.node.0))?;
        let root_node = builder
            .nodes
            .get(root.node.0 as usize)
            .ok_or(GraphError::UnknownNode(root.node.0))?;
        let outputs = output_count(&root_node.op);
        if root.output >= outputs {
            return Err(GraphError::MissingOutput {
                node: root.node.0,
                producer: root.node.0,
                output: root.output,
                outputs,
            });
        }
        def.root = Some(OutputRef {
            node: root_digest,
            output: root.output,
        });
        Ok(def)
    }

    fn freeze_node(
        &mut self,
        builder: &GraphBuilder,
        id: NodeId,
        digests: &HashMap<NodeId, Digest>,
    ) -> Result<Digest, GraphError> {
        let pending = builder
            .nodes
            .get(id.0 as usize)
            .ok_or(GraphError::UnknownNode(id.0))?;
        for index in referenced_inputs(&pending.op, pending.inputs.len()) {
            if index as usize >= pending.inputs.len() {
                return Err(GraphError::DanglingInput {
                    node: id.0,
                    index,
                    count: pending.inputs.len(),
                });
            }
        }
        let mut inputs = Vec::with_capacity(pending.inputs.len());
        for input in &pending.inputs {
            let producer = builder
                .nodes
                .get(input.node.0 as usize)
                .ok_or(GraphError::UnknownNode(input.node.0))?;
            let outputs = output_count(&producer.op);
            if input.output >= outputs {
                return Err(GraphError::MissingOutput {
                    node: id.0,
                    producer: input.node.0,
                    output: input.output,
                    outputs,
                });
            }
            let digest = digests
                .get(&input.node)
                .copied()
                .ok_or(GraphError::Cycle(input.node.0))?;
            inputs.push(OutputRef {
                node: digest,
                output: input.output,
            });
        }
        let node = Node {
            op: pending.op.clone(),
            inputs,
            platform: pending.platform.clone(),
        };
        let digest = node_digest(&node).map_err(|message| GraphError::Encoding {
            node: id.0,
            message,
        })?;
        match self.metadata.get_mut(&digest) {
            Some(existing) => {
                // The same work reached through two stages: keep the first name, but
                // honour a cache bypass requested by either.
                existing.ignore_cache |= pending.metadata.ignore_cache;
            }
            None => {
                self.metadata.insert(digest, pending.metadata.clone());
                self.nodes.insert(digest, node);
                self.order.push(digest);
            }
        }
        Ok(digest)
    }

    /// One graph holding several definitions (the plans of one build's platforms), and
    /// each one's root in it. A node the parts share (a build stage that runs on the
    /// build platform for every target, the context) appears once, so a solve of the
    /// combined graph does that work once. The combined graph's own root is the first
    /// part's.
    pub fn combine(parts: &[Definition]) -> (Definition, Vec<Option<OutputRef>>) {
        let mut combined = Definition {
            nodes: BTreeMap::new(),
            metadata: BTreeMap::new(),
            order: Vec::new(),
            root: parts.first().and_then(|p| p.root),
        };
        for part in parts {
            // Each part's order lists inputs first; a node already taken from an earlier
            // part precedes everything that reads it there too.
            for digest in &part.order {
                let Some(node) = part.nodes.get(digest) else {
                    continue;
                };
                let metadata = part.metadata.get(digest).cloned().unwrap_or_default();
                match combined.metadata.get_mut(digest) {
                    Some(existing) => existing.ignore_cache |= metadata.ignore_cache,
                    None => {
                        combined.metadata.insert(*digest, metadata);
                        combined.nodes.insert(*digest, node.clone());
                        combined.order.push(*digest);
                    }
                }
            }
        }
        let roots = parts.iter().map(|p| p.root).collect();
        (combined, roots)
    }

    /// The final output; `None` means the result is an empty filesystem.
    pub fn root(&self) -> Option<OutputRef> {
        self.root
    }

    /// A node by digest.
    pub fn node(&self, digest: &Digest) -> Option<&Node> {
        self.nodes.get(digest)
    }

    /// A node's metadata by digest.
    pub fn metadata(&self, digest: &Digest) -> Option<&NodeMetadata> {
        self.metadata.get(digest)
    }

    /// Nodes in dependency order (inputs before the nodes that read them).
    pub fn nodes_in_order(&self) -> impl Iterator<Item = (&Digest, &Node)> {
        self.order
            .iter()
            .filter_map(|d| self.nodes.get(d).map(|n| (d, n)))
    }

    /// Number of distinct nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True for an empty-filesystem result with no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// The identity digest of a node: sha256 of its canonical encoding.
pub fn node_digest(node: &Node) -> Result<Digest, String> {
    let canonical = CanonicalNode {
        version: GRAPH_ENCODING_VERSION,
        op: &node.op,
        inputs: &node.inputs,
        platform: &node.platform,
    };
    let bytes = serde_json::to_vec(&canonical).map_err(|e| e.to_string())?;
    Ok(Digest::of(&bytes))
}
