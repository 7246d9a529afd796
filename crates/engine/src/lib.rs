//! One build, end to end, in this process.
//!
//! [`Engine::build`] reads the Dockerfile and `.dockerignore`, asks the frontend for a
//! plan (resolving base images through the registry client), solves the plan's graph
//! with the worker, and writes the requested outputs with the exporter. The CLI drives it
//! directly (embedded mode); the daemon will drive the same type.

pub use hearth_cache as cache;
mod distribution;
mod error;
pub mod gc;
mod images;
mod remote;
mod resolver;
mod settings;

use hearth_core::Platform;
use hearth_dockerfile::{BuildOptions, BuildPlan};
use hearth_exporter::{OutputContext, PlatformResult};
use hearth_registry::{Client, CredentialSource, RegistryConfig};
use hearth_solver::{EngineStep, EventSender, SolveOptions, Solver};
use hearth_store::{OnWait, Store, StoreOptions};
use hearth_worker::{BuildWorker, Host, HostOptions, LocalContext, Ref, Session};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub use distribution::PullReport;
pub use error::{DockerfileFailure, EngineError, StepFailure};
pub use hearth_exporter::{Export, ExportKind, ImageFormat, ImageIndex};
pub use hearth_exporter::{OutputStream, OutputStreams};
pub use hearth_store::{ImageRecord, PlatformImageRecord, VerifyReport, unix_now};
pub use hearth_worker::snapshot::SnapshotterKind as SnapshotterChoice;
pub use hearth_worker::{DownloadLimits, SecretSource};
pub use remote::RemoteClient;
pub use settings::{DEFAULT_ROOT, options_from_config, program_found, registry_config};

/// How to open an engine.
pub struct EngineOptions {
    /// State root (`/var/lib/hearth`).
    pub root: PathBuf,
    /// OCI runtime binary.
    pub runtime: PathBuf,
    /// Registry hosts.
    pub registry: RegistryConfig,
    /// The engine's own registry credentials (asked only when a registry challenges), for
    /// `pull`, `push` and work no build request covers. A build uses its request's
    /// [`BuildRequest::credentials`]; hearthd gives here only the hosts its
    /// configuration opts in (`daemon-credentials = true`).
    pub credentials: Arc<dyn CredentialSource>,
    /// Steps run at once.
    pub max_parallelism: usize,
    /// `[worker.oci] snapshotter`.
    pub snapshotter: SnapshotterChoice,
    /// Bounds of `ADD <url>` downloads.
    pub downloads: DownloadLimits,
    /// Called once if another process holds the root, before waiting for it.
    pub on_wait: Option<OnWait>,
}

/// Where the Dockerfile comes from.
#[derive(Debug, Clone)]
pub enum DockerfileSource {
    /// A file.
    Path(PathBuf),
    /// Text given directly (`-f -`), with a name for messages.
    Text {
        /// Shown in messages.
        name: String,
        /// The Dockerfile.
        text: String,
    },
}

/// One build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile.
    pub dockerfile: DockerfileSource,
    /// Frontend options (target, build args, labels, cache bypass, network).
    pub options: BuildOptions,
    /// `--platform a,b,…`: each is planned and solved in one solve, and image outputs
    /// carry their index. Empty: the frontend's `options.target_platform` (the build
    /// platform when unset), exactly as a single-platform build.
    pub platforms: Vec<Platform>,
    /// Secrets by id.
    pub secrets: BTreeMap<String, SecretSource>,
    /// `--allow network.host`.
    pub allow_network_host: bool,
    /// `--allow security.insecure`.
    pub allow_insecure: bool,
    /// Outputs.
    pub exports: Vec<Export>,
    /// Set when the client is elsewhere (hearthd): `context` is then only a name, the
    /// files, `.dockerignore`, secrets and file outputs go through this.
    pub remote: Option<RemoteClient>,
    /// `--cache-from`, in order: earlier sources win for a key several know.
    pub cache_from: Vec<cache::CacheImport>,
    /// `--cache-to`.
    pub cache_to: Vec<cache::CacheExport>,
    /// `--build-context NAME=…`, by name as given.
    pub build_contexts: BTreeMap<String, BuildContext>,
    /// This build's registry credentials, for every pull, push and cache transfer it
    /// makes: the user's docker config when embedded, the client's (asked over the build
    /// stream) through hearthd. Tokens they obtain serve this build only.
    pub credentials: Arc<dyn CredentialSource>,
}

/// What a `--build-context` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildContext {
    /// `docker-image://REF`.
    Image(String),
    /// A directory on this machine (embedded builds only, for now).
    Dir(PathBuf),
}

/// What a successful build produced.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    /// The images (with their index for several platforms), when an output needed them.
    pub image: Option<ImageIndex>,
    /// Warnings about the Dockerfile.
    pub warnings: Vec<hearth_dockerfile::Diagnostic>,
    /// The Dockerfile text and its name, for rendering warnings.
    pub dockerfile: (String, String),
    /// Nodes the plan had.
    pub nodes: usize,
}

/// The build engine of one state root.
pub struct Engine {
    host: Arc<Host>,
    max_parallelism: usize,
}

impl Engine {
    /// Opens the store at `options.root` (waiting if another process holds it),
    /// cleans up after a crashed predecessor, and prepares the worker.
    pub async fn open(options: EngineOptions) -> Result<Self, EngineError> {
        // Paths under the root reach runc inside bundle files, where a relative path
        // would be taken from the bundle's directory.
        let root = std::path::absolute(&options.root).map_err(|e| {
            EngineError::Input(format!(
                "the state directory {}: {e}",
                options.root.display()
            ))
        })?;
        let on_wait = options.on_wait;
        let store = tokio::task::spawn_blocking(move || {
            Store::open(
                &root,
                StoreOptions {
                    wait: true,
                    on_wait,
                    ..StoreOptions::default()
                },
            )
        })
        .await
        .map_err(|e| EngineError::Internal(format!("opening the store: {e}")))??;
        let registry = Client::new(options.registry, options.credentials)?;
        let host = Host::new(
            store,
            registry,
            &HostOptions {
                runtime: options.runtime,
                snapshotter: options.snapshotter,
                downloads: options.downloads,
            },
        )?;
        host.cleanup().await;
        Ok(Self {
            host,
            max_parallelism: options.max_parallelism.max(1),
        })
    }

    /// The worker host (store, registry, counters).
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.host.store()
    }

    /// Runs one build, reporting progress on `events`.
    pub async fn build(
        &self,
        request: BuildRequest,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<BuildOutcome, EngineError> {
        let (file_name, text) = read_dockerfile(&request)?;
        let mut options = request.options.clone();
        let definition_step = internal_step(
            &events,
            &format!("[internal] load build definition from {file_name}"),
        );
        let dockerfile_path = match &request.dockerfile {
            DockerfileSource::Path(p) => p.clone(),
            DockerfileSource::Text { .. } => request.context.join("Dockerfile"),
        };
        options.dockerignore = match &request.remote {
            Some(remote) => remote.dockerignore.clone(),
            None => {
                hearth_dockerignore::fs::read_ignore_for_build(&request.context, &dockerfile_path)
                    .map_err(|e| {
                        EngineError::Input(format!(
                            "reading .dockerignore in {}: {e}",
                            request.context.display()
                        ))
                    })?
                    .patterns
            }
        };
        let named_locals = named_contexts(&request, &mut options)?;
        internal_done(&events, definition_step);

        // Shares the engine's connections, never its tokens: see `Client::with_credentials`.
        let registry = self
            .host
            .registry()
            .with_credentials(Arc::clone(&request.credentials));
        let targets = target_platforms(&request.platforms, &options);
        hearth_exporter::check_outputs(&request.exports, targets.len())?;
        let plans = self
            .plan_all(&registry, &text, &file_name, &options, &targets, &events)
            .await?;
        let (combined, roots) = hearth_graph::Definition::combine(
            &plans
                .iter()
                .map(|p| p.definition.clone())
                .collect::<Vec<_>>(),
        );
        let definition = Arc::new(combined);
        let client_imports = cache::import_caches(
            &self.host,
            &registry,
            &request.cache_from,
            request.remote.as_ref().map(|r| &r.cache_sources),
            &events,
        )
        .await;
        let mut locals = BTreeMap::from([(
            "context".to_owned(),
            match &request.remote {
                Some(remote) => LocalContext::Remote(remote.context.clone()),
                None => LocalContext::Dir(request.context.clone()),
            },
        )]);
        locals.extend(named_locals);
        let session = Session {
            locals,
            secrets: request.secrets.clone(),
            remote_secrets: request
                .remote
                .as_ref()
                .map(|r| hearth_worker::RemoteSecrets(Arc::clone(&r.secrets))),
            allow_network_host: request.allow_network_host,
            allow_insecure: request.allow_insecure,
            client_imports,
            registry: Some(registry.clone()),
        };
        let worker = Arc::new(BuildWorker::new(Arc::clone(&self.host), session));
        let solver = Solver::new(Arc::clone(&worker));
        let solved = solver
            .solve_roots(
                Arc::clone(&definition),
                &roots,
                &SolveOptions {
                    max_parallelism: self.max_parallelism,
                },
                events.clone(),
                cancel,
            )
            .await
            .map_err(|e| EngineError::step(e, &definition, &text, &file_name))?;
        let epoch = source_date_epoch(&request.options)?;
        let content_keys = worker.content_keys();
        let inline = request
            .cache_to
            .iter()
            .any(|c| c.target == cache::CacheTarget::Inline);
        let mut results = Vec::with_capacity(plans.len());
        for ((plan, output), platform) in plans.iter().zip(solved.outputs).zip(&targets) {
            let layers = match output {
                None => Vec::new(),
                Some(Ref::Layers(l)) => l.as_ref().clone(),
                Some(Ref::Context(_)) => {
                    return Err(EngineError::Internal(
                        "the build result is the context itself".into(),
                    ));
                }
            };
            let config_extra = if inline {
                let solved_build = cache::SolvedBuild {
                    definition: &definition,
                    keys: &solved.keys,
                    root_layers: &layers,
                    content_keys: content_keys.clone(),
                };
                vec![cache::inline_field(&self.host, &solved_build)?]
            } else {
                Vec::new()
            };
            results.push(PlatformResult {
                platform: platform
                    .clone()
                    .unwrap_or_else(|| plan.image.platform().normalized()),
                layers,
                config: plan.image.clone(),
                config_extra,
            });
        }
        let image = hearth_exporter::write_outputs(
            &OutputContext {
                host: &self.host,
                registry: &registry,
                epoch,
                events: &events,
                streams: request.remote.as_ref().map(|r| &r.outputs),
            },
            &results,
            &request.exports,
        )
        .await?;
        // A cache export of several platforms follows the first one's chain in `min`
        // mode; `max` mode exports every platform's records.
        let first_layers = results
            .first()
            .map(|r| r.layers.clone())
            .unwrap_or_default();
        let solved_build = cache::SolvedBuild {
            definition: &definition,
            keys: &solved.keys,
            root_layers: &first_layers,
            content_keys,
        };
        let client_dests = request.remote.as_ref().map(|remote| cache::ClientDests {
            outputs: &remote.outputs,
            present: &remote.cache_dests,
            first_index: request.exports.len(),
        });
        cache::export_caches(
            &self.host,
            &registry,
            &solved_build,
            &request.cache_to,
            client_dests,
            &events,
        )
        .await
        .map_err(EngineError::from)?;
        let warnings = plans.iter().flat_map(|p| p.warnings.iter().cloned()).fold(
            Vec::new(),
            |mut all: Vec<hearth_dockerfile::Diagnostic>, w| {
                if !all.contains(&w) {
                    all.push(w);
                }
                all
            },
        );
        Ok(BuildOutcome {
            image,
            warnings,
            dockerfile: (file_name, text),
            nodes: definition.len(),
        })
    }

    /// One plan per target platform, made concurrently.
    async fn plan_all(
        &self,
        registry: &Client,
        text: &str,
        file_name: &str,
        options: &BuildOptions,
        targets: &[Option<Platform>],
        events: &EventSender,
    ) -> Result<Vec<BuildPlan>, EngineError> {
        let multi = targets.len() > 1;
        let resolver = Arc::new(resolver::RegistryResolver::new(
            registry.clone(),
            tokio::runtime::Handle::current(),
            events.clone(),
            multi,
        ));
        let plans = targets.iter().map(|target| {
            let mut options = options.clone();
            if let Some(target) = target {
                options.target_platform = Some(target.clone());
            }
            options.multi_platform = multi;
            self.plan(Arc::clone(&resolver), text, file_name, options)
        });
        futures_util::future::try_join_all(plans).await
    }

    async fn plan(
        &self,
        resolver: Arc<resolver::RegistryResolver>,
        text: &str,
        file_name: &str,
        options: BuildOptions,
    ) -> Result<BuildPlan, EngineError> {
        let text_owned = text.to_owned();
        let planner = Arc::clone(&resolver);
        let plan = tokio::task::spawn_blocking(move || {
            hearth_dockerfile::plan(&text_owned, &options, planner.as_ref())
        })
        .await
        .map_err(|e| EngineError::Internal(format!("planning: {e}")))?;
        plan.map_err(|diagnostics| {
            EngineError::Dockerfile(Box::new(DockerfileFailure {
                diagnostics,
                kind: resolver
                    .failure_kind()
                    .unwrap_or(hearth_core::ErrorKind::InvalidInput),
                text: text.to_owned(),
                file_name: file_name.to_owned(),
            }))
        })
    }
}

/// The frontend's view of `--build-context`s (`options.named_contexts`) and the session's
/// directories they add. A directory's own `.dockerignore` applies to it, as in BuildKit.
fn named_contexts(
    request: &BuildRequest,
    options: &mut BuildOptions,
) -> Result<BTreeMap<String, LocalContext>, EngineError> {
    let mut locals = BTreeMap::new();
    for (name, context) in &request.build_contexts {
        let key = hearth_dockerfile::named_context_key(name).ok_or_else(|| {
            EngineError::Input(format!(
                "invalid context name {name}: it must be a valid image reference (lowercase letters, digits, separators)"
            ))
        })?;
        // BuildKit never looks these names up; saying so beats silently ignoring them.
        if key == "context" || key == "scratch" {
            return Err(EngineError::Input(format!(
                "--build-context {name}=…: `{key}` cannot be replaced (the main context is the build's path argument)"
            )));
        }
        let named = match context {
            BuildContext::Image(reference) => {
                hearth_dockerfile::NamedContext::Image(reference.clone())
            }
            BuildContext::Dir(_) if request.remote.is_some() => {
                return Err(EngineError::Input(format!(
                    "--build-context {name}=DIR: directories are not sent to hearthd yet; build without the daemon (--root DIR) or use docker-image://"
                )));
            }
            BuildContext::Dir(dir) => {
                let excludes = match std::fs::read(dir.join(".dockerignore")) {
                    Ok(bytes) => hearth_dockerignore::read_ignore_file(&bytes).map_err(|e| {
                        EngineError::Input(format!("{}/.dockerignore: {e}", dir.display()))
                    })?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                    Err(e) => {
                        return Err(EngineError::Input(format!(
                            "reading {}/.dockerignore: {e}",
                            dir.display()
                        )));
                    }
                };
                let local = key.clone();
                locals.insert(local.clone(), LocalContext::Dir(dir.clone()));
                hearth_dockerfile::NamedContext::Local {
                    name: local,
                    excludes,
                }
            }
        };
        options.named_contexts.insert(key, named);
    }
    Ok(locals)
}

/// The platforms to plan: `--platform`'s list without repeats, or the frontend's single
/// target (`None`: the build platform, with BuildKit's implicit-target rules).
fn target_platforms(requested: &[Platform], options: &BuildOptions) -> Vec<Option<Platform>> {
    let mut targets: Vec<Option<Platform>> = Vec::new();
    for platform in requested {
        let platform = Some(platform.clone().normalized());
        if !targets.contains(&platform) {
            targets.push(platform);
        }
    }
    if targets.is_empty() {
        targets.push(options.target_platform.clone());
    }
    targets
}

/// The `SOURCE_DATE_EPOCH` build argument, which BuildKit takes as the image's creation
/// time (and, with `rewrite-timestamp=true`, as the bound for file times).
fn source_date_epoch(options: &BuildOptions) -> Result<Option<i64>, EngineError> {
    match options
        .build_args
        .get("SOURCE_DATE_EPOCH")
        .map(|v| v.trim())
    {
        None | Some("") => Ok(None),
        Some(value) => value.parse::<i64>().map(Some).map_err(|_| {
            EngineError::Input(format!(
                "invalid SOURCE_DATE_EPOCH {value:?}: expected seconds since 1970-01-01 UTC"
            ))
        }),
    }
}

fn read_dockerfile(request: &BuildRequest) -> Result<(String, String), EngineError> {
    match &request.dockerfile {
        DockerfileSource::Text { name, text } => Ok((name.clone(), text.clone())),
        DockerfileSource::Path(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| EngineError::Input(format!("reading {}: {e}", path.display())))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                EngineError::Input(format!(
                    "{} is not valid UTF-8 (byte {})",
                    path.display(),
                    e.utf8_error().valid_up_to()
                ))
            })?;
            let name = Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "Dockerfile".into());
            Ok((name, text))
        }
    }
}

/// A step the engine performs itself, shown like a vertex.
pub(crate) type InternalStep = EngineStep;

pub(crate) fn internal_step(events: &EventSender, name: &str) -> InternalStep {
    EngineStep::start(events, name)
}

pub(crate) fn internal_done(events: &EventSender, step: InternalStep) {
    step.done(events);
}
