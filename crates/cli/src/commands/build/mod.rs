//! `hearth build`: builds a Dockerfile with the engine running in this process.

mod remote;

pub(crate) use remote::daemon;
mod report;
mod secret;
mod signals;

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use hearth_core::Platform;
use hearth_dockerfile::{BuildOptions, NoCache};
use hearth_engine::{BuildRequest, DockerfileSource};
use hearth_exporter::{Export, ExportKind, ImageFormat};
use hearth_graph::op::NetworkMode;
use hearth_progress::{Mode, Renderer, Summary};
use hearth_solver::{Event, EventSender};

use super::debug_dockerfile::parse_build_args;
use super::engine::{self, GlobalArgs};

/// Flags of `hearth build`, spelt as docker buildx spells them.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile; `-` reads standard input).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    file: Option<PathBuf>,
    /// Name and optionally a tag (`name:tag`); keeps the image in hearth's store.
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    tags: Vec<String>,
    /// The stage to build.
    #[arg(long)]
    target: Option<String>,
    /// Build-time variable, `KEY=VALUE` (or `KEY` to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<String>,
    /// Secret to expose to the build: `id=ID,src=FILE` or `id=ID,env=VAR`.
    #[arg(long = "secret", value_name = "SPEC")]
    secrets: Vec<String>,
    /// Additional build context, `NAME=DIR` or `NAME=docker-image://REF`: replaces the stage
    /// (or base image, or `COPY --from` source) of that name. Repeatable.
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    build_contexts: Vec<String>,
    /// Target platforms (`linux/amd64`, `linux/amd64,linux/arm64`): several build one
    /// image per platform and an index of them. Repeatable.
    #[arg(long = "platform", value_name = "PLATFORM[,PLATFORM…]")]
    platforms: Vec<String>,
    /// Output destination: `type=docker|oci|local|tar|image,dest=PATH[,…]`.
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    outputs: Vec<String>,
    /// Export the build cache: `type=registry,ref=REF|type=local,dest=DIR|type=inline`
    /// `[,mode=min|max][,compression=…][,cache-mounts=true]`; a bare REF means type=registry.
    #[arg(long = "cache-to", value_name = "SPEC")]
    cache_to: Vec<String>,
    /// Import a build cache: `type=registry,ref=REF` (a cache or an image with an inline
    /// cache) or `type=local,src=DIR`; a bare REF means type=registry. Repeatable, in order.
    #[arg(long = "cache-from", value_name = "SPEC")]
    cache_from: Vec<String>,
    /// Shorthand for `--output=type=docker`: load the image into docker.
    #[arg(long)]
    load: bool,
    /// Shorthand for `--output=type=registry`: push the image to the registries of its `-t` names.
    #[arg(long)]
    push: bool,
    /// Progress output: auto, plain, tty, rawjson, or quiet.
    #[arg(long, default_value = "auto", value_name = "TYPE")]
    progress: String,
    /// Suppress the progress output and print the image ID on success.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Do not use the cache.
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Do not use the cache for these stages.
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    no_cache_filter: Vec<String>,
    /// Networking mode for RUN instructions: default, none or host.
    #[arg(long, default_value = "default", value_name = "MODE")]
    network: String,
    /// Extra privileges: network.host, security.insecure.
    #[arg(long = "allow", value_name = "ENTITLEMENT", value_delimiter = ',')]
    allow: Vec<String>,
    /// Metadata for the image, `KEY=VALUE`.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Write the image ID to this file.
    #[arg(long, value_name = "FILE")]
    iidfile: Option<PathBuf>,
    /// Write the build result metadata (image digests and names) to this file, as JSON.
    #[arg(long = "metadata-file", value_name = "FILE")]
    metadata_file: Option<PathBuf>,
    /// Build context directory.
    context: PathBuf,
}

pub(super) struct Prepared {
    pub(super) request: BuildRequest,
    pub(super) mode: Option<Mode>,
}

fn prepare(args: &Args) -> anyhow::Result<Prepared> {
    let context = args.context.clone();
    if context.as_os_str() == "-" {
        bail!("a context from standard input is not supported; give a directory");
    }
    let meta = std::fs::metadata(&context).with_context(|| {
        format!(
            "unable to prepare context: path {:?} not found",
            context.display().to_string()
        )
    })?;
    if !meta.is_dir() {
        bail!(
            "unable to prepare context: {} is not a directory",
            context.display()
        );
    }
    let dockerfile = match &args.file {
        Some(f) if f.as_os_str() == "-" => DockerfileSource::Text {
            name: "Dockerfile".to_owned(),
            text: std::io::read_to_string(std::io::stdin())
                .context("reading the Dockerfile from standard input")?,
        },
        Some(f) => DockerfileSource::Path(f.clone()),
        None => DockerfileSource::Path(context.join("Dockerfile")),
    };

    let mut options = BuildOptions::for_host();
    options.target = args.target.clone();
    options.build_args = parse_build_args(&args.build_args)?;
    // buildx passes the client's SOURCE_DATE_EPOCH to the build unless given explicitly.
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        options
            .build_args
            .entry("SOURCE_DATE_EPOCH".to_owned())
            .or_insert(epoch);
    }
    let platforms = parse_platforms(&args.platforms)?;
    if let [only] = platforms.as_slice() {
        options.target_platform = Some(only.clone());
    }
    options.labels = parse_labels(&args.labels)?;
    options.no_cache = if args.no_cache {
        NoCache::All
    } else if args.no_cache_filter.is_empty() {
        NoCache::None
    } else {
        NoCache::Stages(args.no_cache_filter.clone())
    };
    options.network = match args.network.as_str() {
        "default" | "" => NetworkMode::Default,
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other => bail!("invalid --network {other:?}: use default, none or host"),
    };

    let mut allow_network_host = false;
    let mut allow_insecure = false;
    for entitlement in &args.allow {
        match entitlement.as_str() {
            "network.host" => allow_network_host = true,
            "security.insecure" => allow_insecure = true,
            other => bail!("invalid --allow {other:?}: use network.host or security.insecure"),
        }
    }

    let mut secrets = BTreeMap::new();
    for raw in &args.secrets {
        let (id, source) = secret::parse_secret(raw)?;
        secrets.insert(id, source);
    }

    let exports = exports(args)?;
    let cache_to = args
        .cache_to
        .iter()
        .map(|raw| {
            let mut export =
                hearth_engine::cache::parse_cache_export(raw).map_err(|e| anyhow::anyhow!(e))?;
            if let hearth_engine::cache::CacheTarget::Local { dest, .. } = &mut export.target {
                *dest = std::path::absolute(&*dest)?;
            }
            Ok(export)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cache_from = args
        .cache_from
        .iter()
        .map(|raw| {
            let mut import =
                hearth_engine::cache::parse_cache_import(raw).map_err(|e| anyhow::anyhow!(e))?;
            if let hearth_engine::cache::CacheSource::Local { src, .. } = &mut import.source {
                *src = std::path::absolute(&*src)?;
            }
            Ok(import)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mode = if args.quiet || args.progress == "quiet" {
        None
    } else {
        Some(args.progress.parse::<Mode>()?)
    };
    Ok(Prepared {
        request: BuildRequest {
            context,
            dockerfile,
            options,
            platforms,
            secrets,
            allow_network_host,
            allow_insecure,
            exports,
            remote: None,
            cache_from,
            cache_to,
            build_contexts: parse_build_contexts(&args.build_contexts)?,
            // The user's docker config; a daemon build asks this process for it instead.
            credentials: engine::credentials(),
        },
        mode,
    })
}

/// `--build-context NAME=VALUE` values, in buildx's spellings: `docker-image://REF`, else a
/// directory. (oci-layout and git contexts are not supported yet.)
fn parse_build_contexts(
    raw: &[String],
) -> anyhow::Result<BTreeMap<String, hearth_engine::BuildContext>> {
    let mut contexts = BTreeMap::new();
    for item in raw {
        let Some((name, value)) = item.split_once('=') else {
            bail!("invalid context value: {item}, expected key=value");
        };
        let context = if let Some(reference) = value.strip_prefix("docker-image://") {
            hearth_engine::BuildContext::Image(reference.to_owned())
        } else if value.starts_with("oci-layout://")
            || value.starts_with("git@")
            || value.contains("://")
        {
            bail!(
                "--build-context {name}={value}: only directories and docker-image:// are supported yet"
            );
        } else {
            let dir = std::path::absolute(value)
                .with_context(|| format!("failed to get build context {name}"))?;
            if !dir.is_dir() {
                bail!("failed to get build context {name}: {value} is not a directory");
            }
            hearth_engine::BuildContext::Dir(dir)
        };
        contexts.insert(name.to_owned(), context);
    }
    Ok(contexts)
}

/// `--platform` values, each a comma-separated list as buildx takes them.
fn parse_platforms(raw: &[String]) -> anyhow::Result<Vec<Platform>> {
    raw.iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| Platform::parse(p).with_context(|| format!("invalid --platform {p:?}")))
        .collect()
}

fn parse_labels(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    raw.iter()
        .map(|item| match item.split_once('=') {
            Some(("", _)) => bail!("invalid --label {item:?}: the key is empty"),
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Ok((item.clone(), String::new())),
        })
        .collect()
}

/// The outputs: each `-o`, plus the store when `-t` names the image. Names from `-t`
/// apply to every image output that has none of its own, as in buildx.
fn exports(args: &Args) -> anyhow::Result<Vec<Export>> {
    let tags = args
        .tags
        .iter()
        .map(|t| normalize_name(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut exports = Vec::new();
    // As in buildx: `--load` is `-o type=docker`, `--push` is `-o type=registry`.
    let load = args.load.then(|| "type=docker".to_owned());
    let push = args.push.then(|| "type=registry".to_owned());
    for raw in args.outputs.iter().chain(load.iter()).chain(push.iter()) {
        let mut export = hearth_exporter::parse_output(raw)?;
        export.names = export
            .names
            .iter()
            .map(|n| normalize_name(n))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if export.names.is_empty() {
            export.names = tags.clone();
        }
        if export.push && export.names.is_empty() {
            bail!("pushing needs an image name: add -t NAME (or name=NAME to the output)");
        }
        // Several image outputs to the store (`-o type=image` and `--push`) are one export.
        if let Some(same) = exports.iter_mut().find(|e: &&mut Export| {
            e.kind == ExportKind::Store
                && export.kind == ExportKind::Store
                && e.names == export.names
                && e.format == export.format
        }) {
            same.push |= export.push;
            continue;
        }
        exports.push(export);
    }
    let stdout_outputs = exports
        .iter()
        .filter(|e| {
            matches!(&e.kind, ExportKind::DockerArchive { dest } | ExportKind::OciArchive { dest } | ExportKind::Tar { dest } if dest.as_os_str() == "-")
        })
        .count();
    if stdout_outputs > 1 {
        bail!("only one output can be written to standard output");
    }
    if !tags.is_empty() && !exports.iter().any(|e| e.kind == ExportKind::Store) {
        exports.push(Export {
            kind: ExportKind::Store,
            names: tags,
            format: ImageFormat::default(),
            push: false,
        });
    }
    Ok(exports)
}

/// `app` → `docker.io/library/app:latest`, as docker names images.
pub(crate) fn normalize_name(name: &str) -> anyhow::Result<String> {
    let reference = hearth_registry::ImageReference::parse(name)
        .with_context(|| format!("invalid image name {name:?}"))?;
    if reference.digest.is_some() {
        bail!("invalid image name {name:?}: a tag name cannot contain a digest");
    }
    Ok(reference.to_string())
}

/// Counts what the closing line reports while passing events to the display.
#[derive(Default)]
pub(super) struct Tally {
    seen: HashSet<hearth_core::Digest>,
    cached: HashSet<hearth_core::Digest>,
}

impl Tally {
    fn record(&mut self, event: &Event) {
        match event {
            Event::Started { vertex, name } if !hearth_solver::is_engine_step(name) => {
                self.seen.insert(*vertex);
            }
            Event::Cached { vertex, name } if !hearth_solver::is_engine_step(name) => {
                self.seen.insert(*vertex);
                self.cached.insert(*vertex);
            }
            _ => {}
        }
    }
}

pub(crate) fn run(global: &GlobalArgs, args: &Args) -> anyhow::Result<ExitCode> {
    let prepared = prepare(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match remote::daemon(global).await? {
            Some(daemon) => {
                if let Some(name) = prepared.request.build_contexts.iter().find_map(|(name, c)| {
                    matches!(c, hearth_engine::BuildContext::Dir(_)).then_some(name)
                }) {
                    bail!(
                        "--build-context {name}=DIR: directories are not sent to hearthd yet; build without the daemon (--root DIR) or use docker-image://"
                    );
                }
                remote::build(daemon, prepared, args).await
            }
            None => build(engine::settings(global)?, prepared, args).await,
        }
    })
}

/// The progress display: a task rendering events as they come, which returns the
/// renderer (for the failure report) and the tally (for the closing line).
pub(super) fn display(
    mode: Option<Mode>,
) -> (
    tokio::sync::mpsc::UnboundedSender<Event>,
    tokio::task::JoinHandle<(Renderer, Tally)>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = tokio::spawn(async move {
        // Quiet builds still keep the failing step's output for the error report.
        let mut renderer = match mode {
            Some(m) => Renderer::new(m, Box::new(std::io::stderr())),
            None => Renderer::new(Mode::Plain, Box::new(std::io::sink())),
        };
        let mut tally = Tally::default();
        let mut ticker = tokio::time::interval(std::time::Duration::from_millis(100));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Some(event) => {
                        tally.record(&event);
                        renderer.handle(&event);
                    }
                    None => break,
                },
                _ = ticker.tick() => renderer.tick(),
            }
        }
        (renderer, tally)
    });
    (tx, handle)
}

/// The image a build made, as `--iidfile`, `-q` and `--metadata-file` report it.
pub(super) struct ImageSummary {
    pub(super) manifest_digest: String,
    pub(super) config_digest: String,
    pub(super) media_type: String,
    pub(super) manifest_size: u64,
}

/// Ends the progress display with the closing line.
pub(super) async fn close_display(
    display: tokio::task::JoinHandle<(Renderer, Tally)>,
    started: Instant,
    failed: bool,
) -> anyhow::Result<Renderer> {
    let (mut renderer, tally) = display.await.context("the progress display stopped")?;
    let summary = Summary {
        duration: started.elapsed(),
        steps: tally.seen.len(),
        cached: tally.cached.len(),
        failed,
    };
    let _ = renderer.finish(&summary);
    Ok(renderer)
}

/// What a successful build reports: warnings, the image id, metadata.
pub(super) fn report_success(
    args: &Args,
    warnings: &[String],
    image: Option<&ImageSummary>,
    names: &[String],
) -> anyhow::Result<ExitCode> {
    let mut stderr = std::io::stderr().lock();
    if !args.quiet {
        for warning in warnings {
            let _ = writeln!(stderr, "{warning}");
        }
    }
    if let Some(image) = image {
        if let Some(path) = &args.iidfile {
            std::fs::write(path, &image.config_digest)
                .with_context(|| format!("writing --iidfile {}", path.display()))?;
        }
        if args.quiet {
            let _ = writeln!(std::io::stdout().lock(), "{}", image.config_digest);
        }
    }
    if let Some(path) = &args.metadata_file {
        write_metadata(path, image, names)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The names every output gives the image, once each, sorted.
pub(super) fn image_names(request: &BuildRequest) -> Vec<String> {
    request
        .exports
        .iter()
        .flat_map(|e| e.names.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

async fn build(
    settings: engine::Settings,
    prepared: Prepared,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let credentials = std::sync::Arc::clone(&settings.credentials);
    // One reading of the docker config for the engine and the build, so its warnings are
    // reported once.
    let mut prepared = prepared;
    prepared.request.credentials = credentials.clone();
    let engine = engine::open(settings).await?;
    // The solver cancels its token itself when a step fails; a signal cancels the parent.
    let signals = signals::SignalWatch::start()?;
    let cancel = signals.token().child_token();

    let mode = prepared.mode.map(Mode::resolve_for_stderr);
    let (tx, display) = display(mode);
    let names = image_names(&prepared.request);
    let outcome = engine
        .build(prepared.request, EventSender::new(tx), cancel.clone())
        .await;
    let stopped_by = signals.finish().await;
    let renderer = close_display(display, started, outcome.is_err()).await?;
    engine::report_credential_warnings(&credentials);

    match outcome {
        Ok(outcome) => {
            let (name, text) = &outcome.dockerfile;
            let warnings: Vec<String> = outcome
                .warnings
                .iter()
                .map(|w| w.render(name, text))
                .collect();
            let image = outcome.image.as_ref().and_then(|images| {
                let top = images.top()?;
                Some(ImageSummary {
                    manifest_digest: top.digest.to_string(),
                    config_digest: images.id()?.to_string(),
                    media_type: top.media_type.to_owned(),
                    manifest_size: top.bytes.len() as u64,
                })
            });
            report_success(args, &warnings, image.as_ref(), &names)
        }
        Err(err) => {
            if let Some(signal) = stopped_by {
                return Ok(signal.report());
            }
            Ok(report::print_failure(
                &report::Failure::of_engine(&err),
                err.kind(),
                &renderer,
                report::display_shows_logs(mode),
            ))
        }
    }
}

/// buildx's `--metadata-file` keys for an image build.
fn write_metadata(
    path: &std::path::Path,
    image: Option<&ImageSummary>,
    names: &[String],
) -> anyhow::Result<()> {
    let mut doc = serde_json::Map::new();
    if let Some(image) = image {
        doc.insert(
            "containerimage.digest".into(),
            image.manifest_digest.clone().into(),
        );
        doc.insert(
            "containerimage.config.digest".into(),
            image.config_digest.clone().into(),
        );
        let descriptor = serde_json::json!({
            "mediaType": image.media_type,
            "digest": image.manifest_digest,
            "size": image.manifest_size,
        });
        doc.insert("containerimage.descriptor".into(), descriptor);
    }
    if !names.is_empty() {
        doc.insert("image.name".into(), names.join(",").into());
    }
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("writing --metadata-file {}", path.display()))
}
