//! Lowering: typed stages to the build graph and the image configuration.
//!
//! This is BuildKit's `dockerfile2llb` conversion: resolve each stage's base (an
//! image, `scratch`, or an earlier stage), find the stages the target needs, run
//! ONBUILD triggers, then dispatch every instruction of every needed stage in order,
//! turning RUN into exec nodes, COPY/ADD/WORKDIR into file nodes and the rest into
//! image-config changes. Stages the target does not need are never dispatched, so
//! their mistakes (bad mounts, failing commands) cannot fail the build.
//!
//! Base image configurations come from an [`ImageResolver`] supplied by the caller;
//! lowering itself does no I/O.

mod args;
mod commands;
mod copy;
mod env;
mod expose;
mod git;
mod paths;
mod reference;
mod run;
mod signal;
mod stage;

use std::collections::{BTreeMap, BTreeSet};

use hearth_core::image::ImageConfig;
use hearth_core::{Digest, Platform};
use hearth_graph::op::{ImageSource, LocalSource, NetworkMode, SourceOp};
use hearth_graph::{Definition, GraphBuilder, NodeId, NodeMetadata, Op, SourceRange};

use crate::diagnostic::{Diagnostic, Diagnostics, LineRange, suggest, with_suggestion};
use crate::instructions::{Command, Dockerfile, Features, Instruction};
use crate::shell::{Lex, NoEnv};
use env::EnvList;
use stage::{DispatchState, PendingCommand, State};

/// Which steps must run even when cached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NoCache {
    /// Use the cache everywhere.
    #[default]
    None,
    /// `--no-cache`.
    All,
    /// `--no-cache-filter=stage,…`.
    Stages(Vec<String>),
}

/// Inputs of a conversion besides the Dockerfile itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// `--target`; the last stage when `None`.
    pub target: Option<String>,
    /// `--build-arg KEY=VALUE`.
    pub build_args: BTreeMap<String, String>,
    /// `--platform`; the build platform when `None`.
    pub target_platform: Option<Platform>,
    /// The platform the build runs on.
    pub build_platform: Platform,
    /// `--label` values added to the final image.
    pub labels: BTreeMap<String, String>,
    /// Cache bypass.
    pub no_cache: NoCache,
    /// `.dockerignore` patterns, already read.
    pub dockerignore: Vec<String>,
    /// `--network` for every RUN without its own `--network`.
    pub network: NetworkMode,
    /// Prefix of cache mount ids, to keep builders apart.
    pub cache_id_namespace: String,
    /// This plan is one of several platforms of one build: step names then carry the
    /// platform (BuildKit's `MultiPlatformRequested`).
    pub multi_platform: bool,
}

impl BuildOptions {
    /// Defaults for a build on this host.
    pub fn for_host() -> Self {
        Self {
            target: None,
            build_args: BTreeMap::new(),
            target_platform: None,
            build_platform: Platform::host(),
            labels: BTreeMap::new(),
            no_cache: NoCache::None,
            dockerignore: Vec::new(),
            network: NetworkMode::Default,
            cache_id_namespace: String::new(),
            multi_platform: false,
        }
    }
}

/// What an [`ImageResolver`] knows about a base image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The manifest digest the build is pinned to, when known.
    pub digest: Option<Digest>,
    /// The image configuration.
    pub config: ImageConfig,
}

/// Looks up base image configurations for FROM and `COPY --from=<image>`.
pub trait ImageResolver {
    /// Resolves a normalised reference for a platform. The error text is shown to
    /// the user after the image name.
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String>;
}

/// A resolver for inspection without a registry: every image is taken to be an
/// empty image of the requested platform. Plans made with it show the structure of a
/// build, not its exact environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineResolver;

impl ImageResolver for OfflineResolver {
    fn resolve(&self, _reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        let mut config = empty_image(platform);
        // A real image has layers; keep one placeholder so the base is not mistaken
        // for an empty image and dropped from the graph.
        config.rootfs.diff_ids.push(Digest::of(b""));
        Ok(ResolvedImage {
            digest: None,
            config,
        })
    }
}

/// A secret or SSH agent a build asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    /// Id.
    pub id: String,
    /// Whether the build fails without it.
    pub required: bool,
}

/// What the frontend understood about one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageReport {
    /// Position in the Dockerfile (implicit image stages from `COPY --from` come last).
    pub index: usize,
    /// Name (`stage-N` when unnamed).
    pub name: String,
    /// The base after ARG expansion (normalised for images).
    pub base: String,
    /// Platform, when set.
    pub platform: Option<Platform>,
    /// Whether the target needs it.
    pub reachable: bool,
    /// Every dispatched step, expanded, as progress shows it.
    pub steps: Vec<String>,
}

/// The result of converting a Dockerfile.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    /// The build graph of the target.
    pub definition: Definition,
    /// The target's image configuration (no creation times yet).
    pub image: ImageConfig,
    /// Every stage, reachable or not.
    pub stages: Vec<StageReport>,
    /// Warnings found on the way.
    pub warnings: Vec<Diagnostic>,
    /// Secrets RUN steps mount.
    pub secrets: Vec<SessionRequest>,
    /// SSH agents RUN steps mount.
    pub ssh: Vec<SessionRequest>,
}

/// The configuration of `FROM scratch` for a platform.
pub(crate) fn empty_image(platform: &Platform) -> ImageConfig {
    let mut img = ImageConfig::default();
    img.set_platform(platform);
    img.config.working_dir = "/".to_owned();
    if platform.os != "windows" {
        img.config.env = vec![format!("PATH={DEFAULT_PATH}")];
    }
    img
}

/// BuildKit's default `PATH` for Linux containers.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Converts a typed Dockerfile to a build plan.
pub(crate) fn lower(
    dockerfile: &Dockerfile,
    escape: char,
    features: Features,
    options: &BuildOptions,
    resolver: &dyn ImageResolver,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<BuildPlan, Diagnostics> {
    if dockerfile.stages.is_empty() {
        if !diagnostics.iter().any(Diagnostic::is_error) {
            diagnostics.push(Diagnostic::error(
                LineRange::single(1),
                "dockerfile contains no stages to build",
            ));
        }
        return Err(Diagnostics(diagnostics));
    }
    let mut lowering = Lowering::new(dockerfile, escape, features, options, resolver, diagnostics);
    lowering.run();
    lowering.finish()
}

/// Where a dispatch error happened and what it is.
pub(crate) struct StepError {
    pub(crate) lines: LineRange,
    pub(crate) message: String,
}

pub(crate) struct Lowering<'a> {
    dockerfile: &'a Dockerfile,
    features: Features,
    options: &'a BuildOptions,
    resolver: &'a dyn ImageResolver,
    pub(crate) lex: Lex,
    pub(crate) graph: GraphBuilder,
    pub(crate) context: NodeId,
    pub(crate) states: Vec<DispatchState>,
    by_name: BTreeMap<String, usize>,
    pub(crate) global_args: EnvList,
    pub(crate) target_platform: Platform,
    implicit_target: bool,
    pub(crate) proxy_env: Vec<String>,
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) ctx_paths: BTreeSet<String>,
    pub(crate) secrets: BTreeMap<String, bool>,
    pub(crate) ssh: BTreeMap<String, bool>,
    target: usize,
}

impl<'a> Lowering<'a> {
    fn new(
        dockerfile: &'a Dockerfile,
        escape: char,
        features: Features,
        options: &'a BuildOptions,
        resolver: &'a dyn ImageResolver,
        diagnostics: Vec<Diagnostic>,
    ) -> Self {
        let mut graph = GraphBuilder::new();
        // The context source is created first and filled in at the end, once every
        // stage has said which context paths it reads.
        let context = graph.add(
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
        let target_platform = options
            .target_platform
            .clone()
            .unwrap_or_else(|| options.build_platform.clone());
        Self {
            dockerfile,
            features,
            options,
            resolver,
            lex: Lex::new(escape),
            graph,
            context,
            states: Vec::new(),
            by_name: BTreeMap::new(),
            global_args: EnvList::default(),
            implicit_target: options.target_platform.is_none(),
            target_platform,
            proxy_env: args::proxy_env(&options.build_args),
            diagnostics,
            ctx_paths: BTreeSet::new(),
            secrets: BTreeMap::new(),
            ssh: BTreeMap::new(),
            target: 0,
        }
    }

    fn error(&mut self, lines: LineRange, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(lines, message));
    }

    fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    fn run(&mut self) {
        let stages = &self.dockerfile.stages;
        let target_name = match &self.options.target {
            Some(t) => t.clone(),
            None => stages.last().map(|s| s.name.clone()).unwrap_or_default(),
        };
        let defaults = args::default_args(
            &self.options.build_platform,
            &self.target_platform,
            &self.options.build_args,
            &target_name,
        );
        self.global_args = args::apply_meta_args(
            defaults,
            &self.lex,
            &self.dockerfile.meta_args,
            &self.options.build_args,
            &mut self.diagnostics,
        );
        self.lint_stage_names();
        if self.has_errors() {
            return;
        }
        for (index, stage) in stages.iter().enumerate() {
            if let Err(e) = self.register_stage(index, stage) {
                self.error(e.lines, e.message);
            }
        }
        if self.has_errors() {
            return;
        }
        self.target = match &self.options.target {
            None => self.states.len().saturating_sub(1),
            Some(name) => match self.by_name.get(&name.to_ascii_lowercase()) {
                Some(&i) => i,
                None => {
                    let names: Vec<&str> = self
                        .states
                        .iter()
                        .filter(|s| !s.stage.name.is_empty())
                        .map(|s| s.stage_name.as_str())
                        .collect();
                    let message = with_suggestion(
                        format!(
                            "target stage {} could not be found",
                            crate::shell::go_quote(name)
                        ),
                        suggest(name, names, true),
                    );
                    self.diagnostics
                        .push(Diagnostic::error(LineRange::single(1), message));
                    return;
                }
            },
        };
        let registered = self.states.len();
        for index in 0..registered {
            let commands: Vec<Instruction> = self.states[index].stage.commands.clone();
            let mut pending = Vec::with_capacity(commands.len());
            for instruction in commands {
                match self.command_sources(&instruction) {
                    Ok(sources) => {
                        for source in sources.iter().flatten() {
                            self.states[index].deps.insert(*source);
                        }
                        pending.push(PendingCommand {
                            instruction,
                            sources,
                            is_onbuild: false,
                        });
                    }
                    Err(message) => self.error(instruction.lines, message),
                }
            }
            self.states[index].commands = pending;
        }
        if self.has_errors() {
            return;
        }
        if let Err(e) = self.check_cycles() {
            self.error(e.lines, e.message);
            return;
        }
        if self.states.len() == 1 {
            self.states[0].stage_name.clear();
        }
        loop {
            let reachable = self.reachable(self.target);
            self.resolve_bases(&reachable);
            if self.has_errors() {
                return;
            }
            let mut new_deps = false;
            for &index in &reachable {
                match self.init_onbuild(index) {
                    Ok(added) => new_deps |= added,
                    Err(e) => self.error(e.lines, e.message),
                }
            }
            if self.has_errors() {
                return;
            }
            if !new_deps {
                break;
            }
        }
        let reachable = self.reachable(self.target);
        for index in 0..self.states.len() {
            if !reachable.contains(&index) || self.states[index].dispatched {
                continue;
            }
            self.dispatch_stage(index);
        }
    }

    fn lint_stage_names(&mut self) {
        let mut seen = BTreeSet::new();
        for stage in &self.dockerfile.stages {
            if stage.name.is_empty() {
                continue;
            }
            if matches!(stage.name.as_str(), "context" | "scratch") {
                self.diagnostics.push(
                    Diagnostic::warning(
                        stage.lines,
                        format!(
                            "Stage name should not use the same name as reserved stage \"{}\"",
                            stage.name
                        ),
                    )
                    .with_rule("ReservedStageName"),
                );
            }
            if !seen.insert(stage.name.clone()) {
                self.diagnostics.push(
                    Diagnostic::warning(
                        stage.lines,
                        format!(
                            "Duplicate stage name \"{}\", stage names should be unique",
                            stage.name
                        ),
                    )
                    .with_rule("DuplicateStageName"),
                );
            }
        }
    }

    fn register_stage(
        &mut self,
        index: usize,
        stage: &crate::instructions::Stage,
    ) -> Result<(), StepError> {
        let at = |message: String| StepError {
            lines: stage.lines,
            message,
        };
        let base = self
            .lex
            .process_word(&stage.base, &self.global_args)
            .map_err(|e| at(e.to_string()))?;
        if base.result.is_empty() {
            return Err(at(format!(
                "base name ({}) should not be blank",
                stage.base
            )));
        }
        let mut platform = None;
        if !stage.platform.is_empty() {
            let expanded = self
                .lex
                .process_word(&stage.platform, &self.global_args)
                .map_err(|e| {
                    at(format!(
                        "failed to process arguments for platform {}: {e}",
                        stage.platform
                    ))
                })?;
            if expanded.result.is_empty() {
                return Err(at(format!(
                    "empty platform value from expression {}",
                    stage.platform
                )));
            }
            let parsed = Platform::parse(&expanded.result)
                .map_err(|e| at(format!("failed to parse platform {}: {e}", stage.platform)))?;
            platform = Some(parsed);
        }
        let mut stage = stage.clone();
        stage.base = base.result;
        let stage_name = if stage.name.is_empty() {
            format!("stage-{index}")
        } else {
            stage.name.clone()
        };
        let mut state = DispatchState::new(stage, stage_name, false);
        state.prefix_platform = self.options.multi_platform;
        state.platform = platform;
        state.ignore_cache = match &self.options.no_cache {
            NoCache::None => false,
            NoCache::All => true,
            NoCache::Stages(names) => names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&state.stage.name)),
        };
        let mut total = 0;
        let new_index = self.add_state(state);
        let st = &self.states[new_index];
        if st.stage.base != "scratch" && st.base.is_none() {
            total = 1;
        }
        total += st
            .stage
            .commands
            .iter()
            .filter(|c| {
                matches!(
                    c.command,
                    Command::Add(_) | Command::Copy(_) | Command::Run(_) | Command::Workdir(_)
                )
            })
            .count();
        self.states[new_index].cmd_total = total;
        Ok(())
    }

    /// Adds a state, linking it to an earlier stage when its base names one.
    fn add_state(&mut self, mut state: DispatchState) -> usize {
        if let Some(&base) = self.by_name.get(&state.stage.base) {
            state.base = Some(base);
        }
        let index = self.states.len();
        if !state.stage.name.is_empty() {
            self.by_name
                .insert(state.stage.name.to_ascii_lowercase(), index);
        }
        self.states.push(state);
        index
    }

    /// The stages a command reads from: `COPY --from` and `RUN --mount from=`.
    /// Names that are not stages become implicit image stages.
    fn command_sources(&mut self, instruction: &Instruction) -> Result<Vec<Option<usize>>, String> {
        match &instruction.command {
            Command::Copy(copy) if !copy.from.is_empty() => {
                let expanded = self
                    .lex
                    .process_word(&copy.from, &NoEnv)
                    .map_err(|e| e.to_string())?;
                if expanded.result != copy.from {
                    return Err("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".to_owned());
                }
                let index = match copy.from.parse::<i64>() {
                    Ok(n) => {
                        if n < 0 || n as usize >= self.states.len() {
                            return Err(format!("invalid stage index {n}"));
                        }
                        n as usize
                    }
                    Err(_) => self.find_or_implicit(&copy.from, instruction.lines),
                };
                Ok(vec![Some(index)])
            }
            Command::Run(run) => {
                let mut sources = Vec::with_capacity(run.mounts.len());
                for spec in &run.mounts {
                    let parsed = crate::instructions::parse_mount(spec, None)?;
                    // A mount without `from` still gets a (scratch) source state, as in
                    // BuildKit, where it only matters for stage indices.
                    let from = if parsed.from.is_empty() {
                        "scratch"
                    } else {
                        parsed.from.as_str()
                    };
                    sources.push(Some(self.find_or_implicit(from, instruction.lines)));
                }
                Ok(sources)
            }
            _ => Ok(Vec::new()),
        }
    }

    fn find_or_implicit(&mut self, name: &str, lines: LineRange) -> usize {
        if let Some(&i) = self.by_name.get(&name.to_ascii_lowercase()) {
            return i;
        }
        let stage = crate::instructions::Stage {
            name: String::new(),
            base: name.to_owned(),
            platform: String::new(),
            code: String::new(),
            keyword: String::new(),
            lines,
            commands: Vec::new(),
        };
        let mut state = DispatchState::new(stage, String::new(), true);
        state.prefix_platform = self.options.multi_platform;
        self.add_state(state)
    }

    /// Rejects stages that read from each other in a loop. The error points at the
    /// first instruction on the loop and lists the rest.
    fn check_cycles(&self) -> Result<(), StepError> {
        let n = self.states.len();
        let mut done = vec![false; n];
        for start in 0..n {
            if done[start] {
                continue;
            }
            // Iterative depth-first search keeping the current path.
            let mut path: Vec<usize> = vec![start];
            let mut pending: Vec<Vec<usize>> =
                vec![self.states[start].deps.iter().rev().copied().collect()];
            while let Some(next) = pending.last_mut().and_then(Vec::pop) {
                if let Some(pos) = path.iter().position(|&p| p == next) {
                    let mut cycle: Vec<usize> = path[pos..].to_vec();
                    cycle.push(next);
                    return Err(self.cycle_error(&cycle));
                }
                if done[next] {
                    continue;
                }
                path.push(next);
                pending.push(self.states[next].deps.iter().rev().copied().collect());
                while pending.last().is_some_and(Vec::is_empty) {
                    pending.pop();
                    if let Some(finished) = path.pop() {
                        done[finished] = true;
                    }
                }
            }
            for p in path {
                done[p] = true;
            }
        }
        Ok(())
    }

    fn cycle_error(&self, cycle: &[usize]) -> StepError {
        let first = cycle[0];
        let lines = self
            .dependency_lines(first, cycle[1])
            .unwrap_or(self.states[first].stage.lines);
        let mut route = vec![self.states[first].stage_name.clone()];
        for pair in cycle.windows(2) {
            let line = self
                .dependency_lines(pair[0], pair[1])
                .map(|l| l.start)
                .unwrap_or_default();
            route.push(format!("{} (line {line})", self.states[pair[1]].stage_name));
        }
        StepError {
            lines,
            message: format!(
                "circular dependency detected on stage: {} ({})",
                self.states[first].stage_name,
                route.join(" -> ")
            ),
        }
    }

    fn dependency_lines(&self, from: usize, to: usize) -> Option<LineRange> {
        self.states[from]
            .commands
            .iter()
            .find(|c| c.sources.contains(&Some(to)))
            .map(|c| c.instruction.lines)
    }

    fn reachable(&self, target: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![target];
        while let Some(i) = stack.pop() {
            if !seen.insert(i) {
                continue;
            }
            if let Some(base) = self.states[i].base {
                stack.push(base);
            }
            stack.extend(self.states[i].deps.iter().copied());
        }
        seen
    }

    /// Resolves the base of every stage not built on another stage. All bases are
    /// checked to be valid references, as BuildKit does, but only the reachable ones
    /// are looked up.
    fn resolve_bases(&mut self, reachable: &BTreeSet<usize>) {
        for index in 0..self.states.len() {
            let st = &self.states[index];
            if st.base.is_some() || st.dispatched || st.resolved {
                continue;
            }
            let is_reachable = reachable.contains(&index);
            self.states[index].resolved = is_reachable;
            if let Err(e) = self.resolve_base(index, is_reachable) {
                self.error(e.lines, e.message);
            }
            if self.states[index].unregistered {
                self.states[index].dispatched = true;
            }
        }
    }

    fn resolve_base(&mut self, index: usize, reachable: bool) -> Result<(), StepError> {
        let lines = self.states[index].stage.lines;
        let at = |message: String| StepError { lines, message };
        let platform = self.states[index]
            .platform
            .clone()
            .unwrap_or_else(|| self.target_platform.clone());
        if self.states[index].stage.base == "scratch" {
            let st = &mut self.states[index];
            st.state = State::scratch();
            st.image = empty_image(&self.target_platform);
            st.platform = Some(self.target_platform.clone());
            return Ok(());
        }
        let orig = self.states[index].stage.base.clone();
        let normalized = reference::normalize(&orig).map_err(|e| {
            at(format!(
                "failed to parse stage name {}: {e}",
                crate::shell::go_quote(&orig)
            ))
        })?;
        self.states[index].stage.base = normalized.clone();
        let mut is_scratch = false;
        let mut pinned = normalized.clone();
        let mut platform = platform;
        if reachable {
            let resolved = self.resolver.resolve(&normalized, &platform).map_err(|e| {
                let names: Vec<String> = self
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
            if self.states[index].platform.is_none() && self.implicit_target {
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
            self.states[index].image = image;
        }
        self.states[index].stage.base = pinned.clone();
        if is_scratch {
            self.states[index].state = State::scratch();
        } else {
            let name = {
                let text = format!("FROM {pinned}");
                self.states[index].prefix_from(&text, &platform)
            };
            let node = self.graph.add(
                Op::Source(SourceOp::Image(ImageSource {
                    reference: pinned.clone(),
                    platform: platform.clone(),
                })),
                Vec::new(),
                Some(platform.clone()),
                NodeMetadata {
                    name,
                    command: self.states[index].stage.code.clone(),
                    location: Some(source_range(lines)),
                    ..NodeMetadata::default()
                },
            );
            self.states[index].state = State::on(node.output0());
        }
        self.states[index].state.platform = Some(platform.clone());
        self.states[index].platform = Some(platform);
        Ok(())
    }

    /// Inherits from the base stage and queues ONBUILD triggers. Returns whether the
    /// triggers added dependencies on other stages.
    fn init_onbuild(&mut self, index: usize) -> Result<bool, StepError> {
        self.inherit_base(index);
        let mut triggers = std::mem::take(&mut self.states[index].image.config.on_build);
        if let Some(base) = self.states[index].base
            && !self.states[index].onbuild_init
        {
            for cmd in &self.states[base].commands {
                if let Command::Onbuild(expression) = &cmd.instruction.command {
                    triggers.push(expression.clone());
                }
            }
            self.states[index].onbuild_init = true;
        }
        if triggers.is_empty() {
            return Ok(false);
        }
        let lines = self.states[index].stage.lines;
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
                self.states[index].deps.insert(*source);
            }
            added.push(PendingCommand {
                instruction,
                sources,
                is_onbuild: true,
            });
        }
        let st = &mut self.states[index];
        st.cmd_total += added.len();
        added.append(&mut st.commands);
        st.commands = added;
        Ok(new_deps)
    }

    /// BuildKit's `dispatchState.init`: a stage built on another stage starts from
    /// that stage's filesystem, environment and configuration. It runs once while
    /// looking for ONBUILD triggers (when the base is not dispatched yet) and again
    /// right before dispatch, when the base is complete.
    fn inherit_base(&mut self, index: usize) {
        let Some(base) = self.states[index].base else {
            return;
        };
        let (state, platform, mut image, build_args, workdir_set) = {
            let b = &self.states[base];
            (
                b.state.clone(),
                b.platform.clone(),
                b.image.clone(),
                b.build_args.clone(),
                b.workdir_set,
            )
        };
        image.config.on_build.clear();
        let st = &mut self.states[index];
        st.state = state;
        st.platform = platform;
        st.image = image;
        st.workdir_set = workdir_set;
        st.build_args.extend(build_args);
    }

    fn dispatch_stage(&mut self, index: usize) {
        self.inherit_base(index);
        self.states[index].dispatched = true;
        if self.states[index].platform.is_none() {
            self.states[index].platform = Some(self.target_platform.clone());
        }
        {
            let st = &mut self.states[index];
            if st.image.env_value("PATH").is_none()
                && st.platform.as_ref().is_none_or(|p| p.os != "windows")
            {
                st.image.config.env.push(format!("PATH={DEFAULT_PATH}"));
            }
            let env: Vec<String> = st.image.config.env.clone();
            for entry in env {
                let (k, v) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
                st.state.env.add_or_replace(k, v);
            }
        }
        let workdir = self.states[index].image.config.working_dir.clone();
        if !workdir.is_empty()
            && let Err(message) = self.dispatch_workdir(index, &workdir, None)
        {
            let lines = self.states[index].stage.lines;
            self.error(lines, message);
            return;
        }
        let user = self.states[index].image.config.user.clone();
        if !user.is_empty() {
            self.states[index].state.user = user;
        }
        self.states[index].state.network = self.options.network;
        let commands = self.states[index].commands.clone();
        for command in &commands {
            if let Err(message) = self.dispatch(index, command) {
                self.error(command.instruction.lines, message);
                // Later steps of this stage depend on the failed one; stop here but
                // keep checking other stages.
                return;
            }
        }
    }

    fn finish(mut self) -> Result<BuildPlan, Diagnostics> {
        if self.has_errors() {
            return Err(Diagnostics(self.diagnostics));
        }
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
            exclude_patterns: self.options.dockerignore.clone(),
        }));
        if let Err(e) = self.graph.replace_op(self.context, context_op) {
            self.diagnostics
                .push(Diagnostic::error(LineRange::single(1), e.to_string()));
            return Err(Diagnostics(self.diagnostics));
        }
        let target = self.target;
        let root = self.states[target].state.root;
        let definition = match self.graph.finish(root) {
            Ok(d) => d,
            Err(e) => {
                self.diagnostics.push(Diagnostic::error(
                    LineRange::single(1),
                    format!("internal error building the graph: {e}"),
                ));
                return Err(Diagnostics(self.diagnostics));
            }
        };
        let mut image = self.states[target].image.clone();
        for (k, v) in &self.options.labels {
            image.config.labels.insert(k.clone(), v.clone());
        }
        if !self.implicit_target {
            let tp = &self.target_platform;
            let same = tp.os == image.os && tp.architecture == image.architecture;
            image.os = tp.os.clone();
            image.architecture = tp.architecture.clone();
            if !tp.variant.is_empty() || !same {
                image.variant = tp.variant.clone();
            }
            if !tp.os_version.is_empty() || !same {
                image.os_version = tp.os_version.clone();
            }
            if !tp.os_features.is_empty() {
                image.os_features = tp.os_features.clone();
            }
        }
        let normalized = image.platform().normalized();
        image.set_platform(&normalized);
        let reachable = self.reachable(target);
        let stages = self
            .states
            .iter()
            .enumerate()
            // Implicit stages are only worth showing when they name an image.
            .filter(|(i, s)| {
                !s.unregistered || (reachable.contains(i) && s.stage.base != "scratch")
            })
            .map(|(i, s)| StageReport {
                index: i,
                name: if s.unregistered {
                    s.stage.base.clone()
                } else {
                    s.display_name(i)
                },
                base: s.stage.base.clone(),
                platform: s.platform.clone(),
                reachable: reachable.contains(&i),
                steps: if reachable.contains(&i) {
                    s.steps.clone()
                } else {
                    Vec::new()
                },
            })
            .collect();
        let (warnings, _): (Vec<Diagnostic>, Vec<Diagnostic>) =
            self.diagnostics.into_iter().partition(|d| !d.is_error());
        Ok(BuildPlan {
            definition,
            image,
            stages,
            warnings,
            secrets: self
                .secrets
                .into_iter()
                .map(|(id, required)| SessionRequest { id, required })
                .collect(),
            ssh: self
                .ssh
                .into_iter()
                .map(|(id, required)| SessionRequest { id, required })
                .collect(),
        })
    }
}

pub(crate) fn source_range(lines: LineRange) -> SourceRange {
    SourceRange {
        start: u32::try_from(lines.start).unwrap_or(u32::MAX),
        end: u32::try_from(lines.end).unwrap_or(u32::MAX),
    }
}
