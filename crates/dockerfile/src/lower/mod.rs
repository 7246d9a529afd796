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
mod asks;
mod bases;
mod commands;
mod copy;
mod env;
mod expose;
mod git;
mod graph;
mod paths;
mod reference;
mod register;
mod run;
mod scope;
mod signal;
mod stage;
mod table;

use std::collections::{BTreeMap, BTreeSet};

use hearth_core::image::ImageConfig;
use hearth_core::{Digest, Platform};
use hearth_graph::op::NetworkMode;
use hearth_graph::{Definition, SourceRange};

use crate::diagnostic::{Diagnostic, Diagnostics, LineRange, suggest, with_suggestion};
use crate::instructions::{Dockerfile, Features, Instruction};
use asks::SessionAsks;
use graph::PlanGraph;
use scope::Scope;
use stage::PendingCommand;
use table::StageTable;

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
    /// `--build-context NAME=…` by normalised name (see [`named_context_key`]): what replaces
    /// a stage of that name, or a base image or `COPY --from` source of that name.
    pub named_contexts: BTreeMap<String, NamedContext>,
}

/// What a `--build-context` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// `docker-image://REF`: an image, resolved like a base image.
    Image(String),
    /// A directory, synced as the local source `name` with its own `.dockerignore`.
    Local {
        /// The session's name for the directory.
        name: String,
        /// Its `.dockerignore` patterns.
        excludes: Vec<String>,
    },
}

/// The key a `--build-context` name is known by, as buildx and BuildKit normalise it: an
/// image reference in docker's short form without `:latest` (`docker.io/library/alpine` and
/// `alpine:latest` are both `alpine`). `None` for a name that is not a valid reference.
pub fn named_context_key(name: &str) -> Option<String> {
    let full = reference::normalize(name).ok()?;
    let short = full
        .strip_prefix("docker.io/library/")
        .or_else(|| full.strip_prefix("docker.io/"))
        .unwrap_or(&full);
    Some(short.strip_suffix(":latest").unwrap_or(short).to_owned())
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
            named_contexts: BTreeMap::new(),
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

/// One conversion of a Dockerfile into a build plan. Its parts each hold one concern;
/// the `impl` blocks across this module's files dispatch instructions against them.
pub(crate) struct Lowering<'a> {
    dockerfile: &'a Dockerfile,
    features: Features,
    options: &'a BuildOptions,
    resolver: &'a dyn ImageResolver,
    pub(crate) graph: PlanGraph,
    pub(crate) stages: StageTable,
    pub(crate) scope: Scope,
    pub(crate) asks: SessionAsks,
    pub(crate) diagnostics: Vec<Diagnostic>,
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
        Self {
            dockerfile,
            features,
            options,
            resolver,
            graph: PlanGraph::new(),
            stages: StageTable::default(),
            scope: Scope::new(escape, options),
            asks: SessionAsks::default(),
            diagnostics,
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
            &self.scope.target_platform,
            &self.options.build_args,
            &target_name,
        );
        self.scope.global_args = args::apply_meta_args(
            defaults,
            &self.scope.lex,
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
        self.stages.target = match &self.options.target {
            None => self.stages.states.len().saturating_sub(1),
            Some(name) => match self.stages.by_name.get(&name.to_ascii_lowercase()) {
                Some(&i) => i,
                None => {
                    let names: Vec<&str> = self
                        .stages
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
        let registered = self.stages.states.len();
        for index in 0..registered {
            let commands: Vec<Instruction> = self.stages.states[index].stage.commands.clone();
            let mut pending = Vec::with_capacity(commands.len());
            for instruction in commands {
                match self.command_sources(&instruction) {
                    Ok(sources) => {
                        for source in sources.iter().flatten() {
                            self.stages.states[index].deps.insert(*source);
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
            self.stages.states[index].commands = pending;
        }
        if self.has_errors() {
            return;
        }
        if let Err(e) = self.stages.check_cycles() {
            self.error(e.lines, e.message);
            return;
        }
        if self.stages.states.len() == 1 {
            self.stages.states[0].stage_name.clear();
        }
        loop {
            let reachable = self.stages.reachable(self.stages.target);
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
        let reachable = self.stages.reachable(self.stages.target);
        for index in 0..self.stages.states.len() {
            if !reachable.contains(&index) || self.stages.states[index].dispatched {
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

    fn dispatch_stage(&mut self, index: usize) {
        self.inherit_base(index);
        self.stages.states[index].dispatched = true;
        if self.stages.states[index].platform.is_none() {
            self.stages.states[index].platform = Some(self.scope.target_platform.clone());
        }
        {
            let st = &mut self.stages.states[index];
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
        let workdir = self.stages.states[index].image.config.working_dir.clone();
        if !workdir.is_empty()
            && let Err(message) = self.dispatch_workdir(index, &workdir, None)
        {
            let lines = self.stages.states[index].stage.lines;
            self.error(lines, message);
            return;
        }
        let user = self.stages.states[index].image.config.user.clone();
        if !user.is_empty() {
            self.stages.states[index].state.user = user;
        }
        self.stages.states[index].state.network = self.options.network;
        let commands = self.stages.states[index].commands.clone();
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
        let target = self.stages.target;
        let root = self.stages.states[target].state.root;
        let definition = match self.graph.finish(root, &self.options.dockerignore) {
            Ok(d) => d,
            Err(e) => {
                self.diagnostics.push(e);
                return Err(Diagnostics(self.diagnostics));
            }
        };
        let mut image = self.stages.states[target].image.clone();
        for (k, v) in &self.options.labels {
            image.config.labels.insert(k.clone(), v.clone());
        }
        if !self.scope.implicit_target {
            let tp = &self.scope.target_platform;
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
        let reachable = self.stages.reachable(target);
        let stages = self
            .stages
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
        let (secrets, ssh) = self.asks.into_requests();
        let (warnings, _): (Vec<Diagnostic>, Vec<Diagnostic>) =
            self.diagnostics.into_iter().partition(|d| !d.is_error());
        Ok(BuildPlan {
            definition,
            image,
            stages,
            warnings,
            secrets,
            ssh,
        })
    }
}

pub(crate) fn source_range(lines: LineRange) -> SourceRange {
    SourceRange {
        start: u32::try_from(lines.start).unwrap_or(u32::MAX),
        end: u32::try_from(lines.end).unwrap_or(u32::MAX),
    }
}
