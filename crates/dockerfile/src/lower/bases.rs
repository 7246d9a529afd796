//! Stage bases: image references checked for every stage and resolved for reachable ones,
//! ONBUILD triggers of a base queued, and a parent stage's state inherited.

use std::collections::BTreeSet;

use hearth_graph::op::{ImageSource, LocalSource, SourceOp};
use hearth_graph::{NodeMetadata, Op};

use super::stage::{PendingCommand, State};
use super::{Lowering, NamedContext, StepError, empty_image, reference, source_range};
use crate::diagnostic::{Diagnostic, suggest, with_suggestion};
use crate::instructions::{Command, Instruction};

impl Lowering<'_> {
    /// Resolves the base of every stage not built on another stage. All bases are
    /// checked to be valid references, as BuildKit does, but only the reachable ones
    /// are looked up.
    pub(super) fn resolve_bases(&mut self, reachable: &BTreeSet<usize>) {
        for index in 0..self.stages.states.len() {
            let st = &self.stages.states[index];
            if st.base.is_some() || st.dispatched || st.resolved {
                continue;
            }
            let is_reachable = reachable.contains(&index);
            self.stages.states[index].resolved = is_reachable;
            if let Err(e) = self.resolve_base(index, is_reachable) {
                self.error(e.lines, e.message);
            }
            if self.stages.states[index].unregistered {
                self.stages.states[index].dispatched = true;
            }
        }
    }

    pub(super) fn resolve_base(&mut self, index: usize, reachable: bool) -> Result<(), StepError> {
        let lines = self.stages.states[index].stage.lines;
        let at = |message: String| StepError { lines, message };
        let platform = self.stages.states[index]
            .platform
            .clone()
            .unwrap_or_else(|| self.scope.target_platform.clone());
        if let Some(context) = self.named_context_for(index) {
            match context {
                // Resolved like any base image, under the context's reference.
                NamedContext::Image(reference) => {
                    self.stages.states[index].stage.base = reference;
                }
                NamedContext::Local { name, excludes } => {
                    self.use_local_context(index, &name, excludes, platform);
                    return Ok(());
                }
            }
        }
        if self.stages.states[index].stage.base == "scratch" {
            let st = &mut self.stages.states[index];
            st.state = State::scratch();
            st.image = empty_image(&self.scope.target_platform);
            st.platform = Some(self.scope.target_platform.clone());
            return Ok(());
        }
        let orig = self.stages.states[index].stage.base.clone();
        let normalized = reference::normalize(&orig).map_err(|e| {
            at(format!(
                "failed to parse stage name {}: {e}",
                crate::shell::go_quote(&orig)
            ))
        })?;
        self.stages.states[index].stage.base = normalized.clone();
        let mut is_scratch = false;
        let mut pinned = normalized.clone();
        let mut platform = platform;
        if reachable {
            let resolved = self.resolver.resolve(&normalized, &platform).map_err(|e| {
                let names: Vec<String> = self
                    .stages
                    .states
                    .iter()
                    .filter(|s| !s.stage.name.is_empty())
                    .map(|s| s.stage_name.clone())
                    .collect();
                let message = format!("{orig}: {e}");
                at(with_suggestion(
                    message,
                    suggest(&orig, names.iter().map(String::as_str), true),
                ))
            })?;
            let mut image = resolved.config;
            image.created = None;
            if self.stages.states[index].platform.is_none() && self.scope.implicit_target {
                let img_platform = image.platform();
                if !(img_platform.os == platform.os
                    && img_platform.architecture == platform.architecture)
                    && img_platform.os == self.options.build_platform.os
                    && img_platform.architecture == self.options.build_platform.architecture
                {
                    platform = self.options.build_platform.clone();
                }
            }
            if let Some(digest) = resolved.digest {
                pinned = reference::with_digest(&normalized, &digest.to_string());
            }
            if image.rootfs.diff_ids.is_empty() && image.history.iter().all(|h| h.empty_layer) {
                is_scratch = true;
            }
            if image.os != platform.os || image.architecture != platform.architecture {
                self.diagnostics.push(
                    Diagnostic::warning(
                        lines,
                        format!(
                            "Base image {orig} was pulled with platform \"{}\", expected \"{}\" for current build",
                            image.platform().normalized().format_all(),
                            platform.clone().normalized().format_all()
                        ),
                    )
                    .with_rule("InvalidBaseImagePlatform"),
                );
            }
            self.stages.states[index].image = image;
        }
        self.stages.states[index].stage.base = pinned.clone();
        if is_scratch {
            self.stages.states[index].state = State::scratch();
        } else {
            let name = {
                let text = format!("FROM {pinned}");
                self.stages.states[index].prefix_from(&text, &platform)
            };
            let node = self.graph.builder.add(
                Op::Source(SourceOp::Image(ImageSource {
                    reference: pinned.clone(),
                    platform: platform.clone(),
                })),
                Vec::new(),
                Some(platform.clone()),
                NodeMetadata {
                    name,
                    command: self.stages.states[index].stage.code.clone(),
                    location: Some(source_range(lines)),
                    ..NodeMetadata::default()
                },
            );
            self.stages.states[index].state = State::on(node.output0());
        }
        self.stages.states[index].state.platform = Some(platform.clone());
        self.stages.states[index].platform = Some(platform);
        Ok(())
    }

    /// The `--build-context` for stage `index`: one replacing the stage itself, else one
    /// named like its base image (`FROM alpine` with `--build-context alpine=…`). The
    /// names `scratch` and `context` are never looked up, as in BuildKit.
    fn named_context_for(&self, index: usize) -> Option<NamedContext> {
        let st = &self.stages.states[index];
        if let Some(context) = &st.named_context {
            return Some(context.clone());
        }
        let base = &st.stage.base;
        if base.eq_ignore_ascii_case("scratch") || base.eq_ignore_ascii_case("context") {
            return None;
        }
        let key = super::named_context_key(base)?;
        self.options.named_contexts.get(&key).cloned()
    }

    /// Makes stage `index` the directory `name` of the session: its files, with an empty
    /// image configuration of the stage's platform.
    fn use_local_context(
        &mut self,
        index: usize,
        name: &str,
        excludes: Vec<String>,
        platform: hearth_core::Platform,
    ) {
        let node = self.graph.builder.add(
            Op::Source(SourceOp::Local(LocalSource {
                name: name.to_owned(),
                follow_paths: Vec::new(),
                exclude_patterns: excludes,
            })),
            Vec::new(),
            None,
            NodeMetadata {
                name: format!("[context {name}] load from client"),
                ..NodeMetadata::default()
            },
        );
        let st = &mut self.stages.states[index];
        st.state = State::on(node.output0());
        st.image = empty_image(&platform);
        st.state.platform = Some(platform.clone());
        st.platform = Some(platform);
    }

    /// Inherits from the base stage and queues ONBUILD triggers. Returns whether the
    /// triggers added dependencies on other stages.
    pub(super) fn init_onbuild(&mut self, index: usize) -> Result<bool, StepError> {
        self.inherit_base(index);
        let mut triggers = std::mem::take(&mut self.stages.states[index].image.config.on_build);
        if let Some(base) = self.stages.states[index].base
            && !self.stages.states[index].onbuild_init
        {
            for cmd in &self.stages.states[base].commands {
                if let Command::Onbuild(expression) = &cmd.instruction.command {
                    triggers.push(expression.clone());
                }
            }
            self.stages.states[index].onbuild_init = true;
        }
        if triggers.is_empty() {
            return Ok(false);
        }
        let lines = self.stages.states[index].stage.lines;
        let mut added = Vec::with_capacity(triggers.len());
        let mut new_deps = false;
        for trigger in triggers {
            let parsed = crate::syntax::parse(&trigger);
            if let Some(err) = parsed.diagnostics.iter().find(|d| d.is_error()) {
                return Err(StepError {
                    lines,
                    message: format!("ONBUILD trigger {trigger:?}: {}", err.message),
                });
            }
            let [node] = parsed.nodes.as_slice() else {
                return Err(StepError {
                    lines,
                    message: "onbuild trigger should be a single expression".to_owned(),
                });
            };
            let command = match crate::instructions::parse_node(node, self.features) {
                Ok(crate::instructions::Parsed::Command(c)) => c,
                Ok(crate::instructions::Parsed::From(_)) => {
                    return Err(StepError {
                        lines,
                        message: "FROM isn't allowed as an ONBUILD trigger".to_owned(),
                    });
                }
                Err(message) => return Err(StepError { lines, message }),
            };
            let instruction = Instruction {
                command,
                keyword: node.keyword.clone(),
                code: node.original.trim().to_owned(),
                lines,
            };
            let sources = self
                .command_sources(&instruction)
                .map_err(|message| StepError { lines, message })?;
            if !sources.is_empty() {
                new_deps = true;
            }
            for source in sources.iter().flatten() {
                self.stages.states[index].deps.insert(*source);
            }
            added.push(PendingCommand {
                instruction,
                sources,
                is_onbuild: true,
            });
        }
        let st = &mut self.stages.states[index];
        st.cmd_total += added.len();
        added.append(&mut st.commands);
        st.commands = added;
        Ok(new_deps)
    }

    /// BuildKit's `dispatchState.init`: a stage built on another stage starts from
    /// that stage's filesystem, environment and configuration. It runs once while
    /// looking for ONBUILD triggers (when the base is not dispatched yet) and again
    /// right before dispatch, when the base is complete.
    pub(super) fn inherit_base(&mut self, index: usize) {
        let Some(base) = self.stages.states[index].base else {
            return;
        };
        let (state, platform, mut image, build_args, workdir_set) = {
            let b = &self.stages.states[base];
            (
                b.state.clone(),
                b.platform.clone(),
                b.image.clone(),
                b.build_args.clone(),
                b.workdir_set,
            )
        };
        image.config.on_build.clear();
        let st = &mut self.stages.states[index];
        st.state = state;
        st.platform = platform;
        st.image = image;
        st.workdir_set = workdir_set;
        st.build_args.extend(build_args);
    }
}
