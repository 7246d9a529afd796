//! The build graph under construction: the builder, the build context's source node and
//! the context paths the stages read, which that node only learns at the end.

use std::collections::BTreeSet;

use hearth_graph::op::{LocalSource, SourceOp};
use hearth_graph::{Definition, GraphBuilder, Input, NodeId, NodeMetadata, Op};

use super::paths;
use crate::diagnostic::{Diagnostic, LineRange};

pub(crate) struct PlanGraph {
    pub(crate) builder: GraphBuilder,
    /// The `context` local source every COPY and bind mount from the context reads.
    pub(crate) context: NodeId,
    /// Context paths read so far; `/` means the whole context.
    pub(crate) ctx_paths: BTreeSet<String>,
}

impl PlanGraph {
    pub(crate) fn new() -> Self {
        let mut builder = GraphBuilder::new();
        // The context source is created first and filled in at the end, once every
        // stage has said which context paths it reads.
        let context = builder.add(
            Op::Source(SourceOp::Local(LocalSource {
                name: "context".to_owned(),
                follow_paths: Vec::new(),
                exclude_patterns: Vec::new(),
            })),
            Vec::new(),
            None,
            NodeMetadata {
                name: "[internal] load build context".to_owned(),
                internal: true,
                ..NodeMetadata::default()
            },
        );
        Self {
            builder,
            context,
            ctx_paths: BTreeSet::new(),
        }
    }

    /// Fills in the context source (only the paths read, minus `.dockerignore`'s
    /// `excludes`) and freezes the graph at `root`.
    pub(crate) fn finish(
        mut self,
        root: Option<Input>,
        excludes: &[String],
    ) -> Result<Definition, Diagnostic> {
        let follow_paths = if self.ctx_paths.contains("/") {
            Vec::new()
        } else {
            self.ctx_paths
                .iter()
                .map(|p| paths::join(&[".", p]))
                .collect()
        };
        let context_op = Op::Source(SourceOp::Local(LocalSource {
            name: "context".to_owned(),
            follow_paths,
            exclude_patterns: excludes.to_vec(),
        }));
        if let Err(e) = self.builder.replace_op(self.context, context_op) {
            return Err(Diagnostic::error(LineRange::single(1), e.to_string()));
        }
        self.builder.finish(root).map_err(|e| {
            Diagnostic::error(
                LineRange::single(1),
                format!("internal error building the graph: {e}"),
            )
        })
    }
}
