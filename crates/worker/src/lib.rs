//! The worker: runs build graph nodes on this machine.
//!
//! It implements [`hearth_solver::Worker`] with hearth's storage and runtime: image
//! sources are pulled from registries and unpacked once into layer directories, the
//! build context is synced into the store, `Exec` nodes run in runc on an overlay of
//! their input's layers, `File` nodes run hearth's copy/mkdir/mkfile/rm on such an
//! overlay, and `Merge` nodes just stack layer lists. Every result is a list of
//! immutable layer directories (see [`snapshot`]), recorded in the store's metadata
//! under its cache key so later builds find it.
//!
//! [`Host`] holds what all builds share (store, registry client, runtime); a
//! [`BuildWorker`] adds one build's session (its context directories, secrets and
//! entitlements) and is what the solver drives.

mod cachemount;
mod content;
pub mod context;
mod copywriter;
pub mod emulation;
mod error;
mod exec;
mod file;
mod flights;
mod http;
mod image;
pub mod imported;
pub mod sources;
pub use image::download_blob;
mod keys;
mod pin;
mod records;
mod remote;
mod secrets;
pub mod snapshot;
mod usage;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;
use futures::future::BoxFuture;
use hearth_core::Digest;
use hearth_executor::runc::Runc;
use hearth_graph::Op;
use hearth_graph::op::SourceOp;
use hearth_registry::Client;
use hearth_solver::{CacheKey, InputKeyMode, Job, KeyInput, NodeCtx, WorkerError};
use hearth_store::{LayerId, Store};

pub use context::ContextView;
pub use error::Error;
pub use http::{DownloadError, DownloadLimits};
pub use remote::{FetchFuture, FileFetcher, RemoteContext, RemoteEntry};
pub use usage::Protected;

/// A result: a filesystem.
#[derive(Debug, Clone)]
pub enum Ref {
    /// A stack of layer directories, bottom first; empty is an empty filesystem.
    Layers(Arc<Vec<LayerId>>),
    /// The build context as synced for this build.
    Context(Arc<ContextView>),
}

impl Ref {
    /// The layers, for results that are layer stacks.
    pub fn layers(&self) -> Option<&[LayerId]> {
        match self {
            Self::Layers(l) => Some(l),
            Self::Context(_) => None,
        }
    }
}

/// Where a secret's value comes from (`--secret id=…,src=…|env=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file on the client.
    File(PathBuf),
    /// An environment variable of the client.
    Env(String),
}

/// Where a build's local directory is.
#[derive(Debug, Clone)]
pub enum LocalContext {
    /// A directory on this machine.
    Dir(PathBuf),
    /// A directory on a client of the daemon, listed by the client.
    Remote(RemoteContext),
}

/// A future a [`SecretProvider`] returns.
pub type SecretFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Option<Vec<u8>>, String>> + Send + 'a>,
>;

/// Secrets held elsewhere (by a daemon's client), fetched when a step needs one.
pub trait SecretProvider: Send + Sync {
    /// The value of secret `id`, `None` if the client has no such secret.
    fn secret<'a>(&'a self, id: &'a str) -> SecretFuture<'a>;
}

/// A [`SecretProvider`] in a session.
#[derive(Clone)]
pub struct RemoteSecrets(pub std::sync::Arc<dyn SecretProvider>);

impl std::fmt::Debug for RemoteSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteSecrets")
    }
}

/// What one build brings: its local directories, secrets and permissions.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Local directories by name (`context`): on this machine, or on a daemon's client.
    pub locals: BTreeMap<String, LocalContext>,
    /// Secrets by id.
    pub secrets: BTreeMap<String, SecretSource>,
    /// Asked for secrets not in `secrets`: a daemon's client, which holds them.
    pub remote_secrets: Option<RemoteSecrets>,
    /// `--allow network.host`.
    pub allow_network_host: bool,
    /// `--allow security.insecure`.
    pub allow_insecure: bool,
    /// Results a cache directory on the daemon's client offers, for this build only.
    pub client_imports: Vec<imported::ImportedRecord>,
    /// The registry client with this build's credentials (`Client::with_credentials`);
    /// the host's when unset.
    pub registry: Option<Client>,
}

/// Counters for tests and metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Containers started.
    pub execs: AtomicU64,
    /// File operations run.
    pub file_ops: AtomicU64,
    /// Layers downloaded.
    pub layers_pulled: AtomicU64,
}

/// Settings of the machine's worker.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The OCI runtime binary.
    pub runtime: PathBuf,
    /// `[worker.oci] snapshotter`.
    pub snapshotter: snapshot::SnapshotterKind,
    /// Bounds of `ADD <url>` downloads.
    pub downloads: DownloadLimits,
}

/// What every build on this machine shares.
pub struct Host {
    pub(crate) store: Store,
    pub(crate) registry: Client,
    pub(crate) runc: Runc,
    pub(crate) state_dir: PathBuf,
    pub(crate) empty_dir: PathBuf,
    pub(crate) snapshotter: snapshot::Snapshotter,
    /// The client and limits of `ADD <url>`.
    pub(crate) downloader: http::Downloader,
    /// Counters.
    pub metrics: Metrics,
    pub(crate) cache_mounts: cachemount::CacheMounts,
    /// Work in progress by cache key, shared by concurrent builds.
    pub(crate) flights: flights::Flights,
    /// Running builds and what they use.
    pub(crate) in_use: usage::InUse,
    /// Where RUN steps for a platform the CPU does not run find their emulator.
    emulators: std::sync::RwLock<emulation::EmulatorSearch>,
}

impl Host {
    /// A worker host over `store`, pulling with `registry`.
    pub fn new(store: Store, registry: Client, options: &HostOptions) -> Result<Arc<Self>, Error> {
        let state_dir = store.root().join("v1").join("state");
        let empty_dir = state_dir.join("empty");
        std::fs::create_dir_all(&empty_dir).map_err(|source| Error::io(&empty_dir, source))?;
        let hosts = state_dir.join("hosts");
        std::fs::write(
            &hosts,
            hearth_executor::files::hosts_file(hearth_executor::DEFAULT_HOSTNAME),
        )
        .map_err(|source| Error::io(&hosts, source))?;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        for (name, host_network) in [("resolv.conf", true), ("resolv.conf.isolated", false)] {
            let path = state_dir.join(name);
            std::fs::write(
                &path,
                hearth_executor::files::resolv_conf(&host_resolv, host_network),
            )
            .map_err(|source| Error::io(&path, source))?;
        }
        let snapshotter =
            snapshot::Snapshotter::new(options.snapshotter, &store.tmp_dir(), &empty_dir)?;
        let runc = Runc::new(
            &options.runtime,
            store.runc_dir(),
            store.tmp_dir().join("bundles"),
        );
        Ok(Arc::new(Self {
            cache_mounts: cachemount::CacheMounts::new(store.cache_mounts_dir()),
            flights: flights::Flights::default(),
            in_use: usage::InUse::default(),
            store,
            registry,
            runc,
            state_dir,
            empty_dir,
            snapshotter,
            downloader: http::Downloader::new(options.downloads)?,
            metrics: Metrics::default(),
            emulators: std::sync::RwLock::new(emulation::EmulatorSearch::from_env()),
        }))
    }

    /// Where RUN steps for a platform the CPU does not run look for `qemu-<arch>-static`
    /// from now on (by default `PATH`, then `/usr/bin`).
    pub fn set_emulator_search(&self, search: emulation::EmulatorSearch) {
        *self
            .emulators
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = search;
    }

    /// Where RUN steps look for their emulator.
    pub fn emulator_search(&self) -> emulation::EmulatorSearch {
        self.emulators
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The platforms this host builds natively, through binfmt_misc and by emulation.
    pub fn platforms(&self) -> emulation::HostPlatforms {
        emulation::host_platforms(&self.emulator_search())
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The snapshotter in use.
    pub fn snapshotter(&self) -> &snapshot::Snapshotter {
        &self.snapshotter
    }

    /// What running builds use, for the collector.
    pub fn protected(&self) -> Protected {
        self.in_use.protected()
    }

    /// Where context copies live (`source.local` records).
    pub fn contexts_dir(&self) -> std::path::PathBuf {
        self.store.root().join("v1").join("contexts")
    }

    /// The directory of cache mount `id` (`RUN --mount=type=cache,id=…`), whether or not
    /// it exists yet.
    pub fn cache_mount_dir(&self, id: &str) -> PathBuf {
        self.cache_mounts.dir_for(id)
    }

    /// The registry client with the engine's own credentials; a build derives its own
    /// (`Client::with_credentials`), sharing this one's connections.
    pub fn registry(&self) -> &Client {
        &self.registry
    }

    /// Kills containers a crashed process left behind.
    pub async fn cleanup(&self) -> Vec<String> {
        self.runc.remove_stale().await
    }

    /// Containers started so far.
    pub fn exec_count(&self) -> u64 {
        self.metrics.execs.load(Ordering::SeqCst)
    }

    pub(crate) fn scratch_dir(&self, prefix: &str) -> Result<PathBuf, Error> {
        let dir = self
            .store
            .tmp_dir()
            .join(format!("{prefix}-{}", random_id()));
        std::fs::create_dir_all(&dir).map_err(|source| Error::io(&dir, source))?;
        Ok(dir)
    }

    pub(crate) fn layer_paths(&self, layers: &[LayerId]) -> Vec<PathBuf> {
        layers.iter().map(|l| self.store.layer_dir(l)).collect()
    }
}

pub(crate) fn random_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..16)
        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
        .collect()
}

/// The worker the solver drives for one build.
pub struct BuildWorker {
    host: Arc<Host>,
    session: Session,
    /// This build's registration with the host's in-use table.
    build: u64,
    /// Content digests by input key this build used, for cache exports.
    content_keys: std::sync::Mutex<BTreeMap<String, Digest>>,
    /// The session's client imports by key.
    client_imports: Arc<sources::ClientImports>,
    /// Where a result the store lacks may come from, asked in order.
    sources: Vec<Arc<dyn sources::CacheSource>>,
}

impl Drop for BuildWorker {
    fn drop(&mut self) {
        let used = self.host.in_use.unregister(self.build);
        usage::touch(&self.host, &used);
    }
}

impl BuildWorker {
    /// A worker for one build with `session`; until it is dropped, what the build uses is
    /// protected from garbage collection.
    pub fn new(host: Arc<Host>, session: Session) -> Self {
        let build = host.in_use.register();
        let client_imports = Arc::new(sources::ClientImports::new(&session.client_imports));
        let sources: Vec<Arc<dyn sources::CacheSource>> = vec![
            Arc::new(sources::StoreImports),
            Arc::clone(&client_imports) as Arc<dyn sources::CacheSource>,
        ];
        Self {
            host,
            session,
            build,
            content_keys: std::sync::Mutex::default(),
            client_imports,
            sources,
        }
    }

    /// The content digests by input key (memo id, digest) this build computed or used,
    /// which a cache export carries so that an importer can key `COPY --from` steps
    /// without the stage's result.
    pub fn content_keys(&self) -> Vec<(String, Digest)> {
        let memos = match self.content_keys.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        memos.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    fn note_content_key(&self, memo_id: String, digest: Digest) {
        let mut memos = match self.content_keys.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        memos.insert(memo_id, digest);
    }

    /// A cached result: the store's own, else the first cache source's that knows the key,
    /// loaded now. The one lookup path for every kind of cache.
    async fn load_result(&self, key: &CacheKey) -> Result<Option<Ref>, Error> {
        if let Some(found) = records::load(&self.host, key)? {
            return Ok(Some(found));
        }
        let mut knowing = Vec::new();
        for source in &self.sources {
            if source.knows(&self.host, key)? {
                knowing.push(source);
            }
        }
        if knowing.is_empty() {
            return Ok(None);
        }
        // Two builds needing the same import load it once.
        let _flight = self.host.flights.acquire(*key).await;
        if let Some(found) = records::load(&self.host, key)? {
            return Ok(Some(found));
        }
        let ctx = sources::LoadContext {
            host: &self.host,
            registry: self.registry(),
            client: self.client_fetcher(),
        };
        for source in knowing {
            if let Some(found) = source.load(&ctx, key).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Where this build's client serves files from, when it is a daemon's client.
    fn client_fetcher(&self) -> Option<Arc<dyn FileFetcher>> {
        self.session.locals.values().find_map(|l| match l {
            LocalContext::Remote(remote) => Some(Arc::clone(&remote.fetcher)),
            LocalContext::Dir(_) => None,
        })
    }

    /// The import for `key` this build's client offers, if any (for cache exports).
    pub fn client_import(&self, key: &Digest) -> Option<&imported::ImportedRecord> {
        self.client_imports.get(key)
    }

    /// Adds a cache source, asked after those already there.
    pub fn add_cache_source(&mut self, source: Arc<dyn sources::CacheSource>) {
        self.sources.push(source);
    }

    /// The shared host.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The registry client this build pulls with.
    pub fn registry(&self) -> &Client {
        self.session
            .registry
            .as_ref()
            .unwrap_or(&self.host.registry)
    }
}

fn boxed(e: Error) -> WorkerError {
    Box::new(e)
}

impl hearth_solver::Worker for BuildWorker {
    type Output = Ref;

    fn error_kind(&self, err: &WorkerError) -> hearth_core::ErrorKind {
        match err.downcast_ref::<Error>() {
            Some(own) => own.kind(),
            None => {
                hearth_core::ErrorKind::of_chain(err.as_ref(), hearth_core::ErrorKind::Internal)
            }
        }
    }

    fn input_key_mode(&self, node: &NodeCtx<'_>, index: usize) -> InputKeyMode {
        keys::input_mode(node, index)
    }

    fn known_content_key(
        &self,
        node: &NodeCtx<'_>,
        index: usize,
        input_key: CacheKey,
    ) -> Option<Digest> {
        if !content::key_pins_content(node, index) {
            return None;
        }
        // As with BuildKit's links between cache keys, results under one key are taken to
        // be interchangeable: what was read from one stands for what another would give,
        // even when the input's own result is not kept (a `mode=min` cache).
        let id = content::key_memo_id(node, index, &input_key);
        let digest = content::remembered(&self.host, &id).ok().flatten()?;
        self.note_content_key(id, digest);
        Some(digest)
    }

    fn content_key<'a>(
        &'a self,
        node: NodeCtx<'a>,
        index: usize,
        input_key: CacheKey,
        input: &'a Ref,
    ) -> BoxFuture<'a, Result<Digest, WorkerError>> {
        async move {
            let digest = content::content_key(&self.host, &node, index, &input_key, input)
                .await
                .map_err(boxed)?;
            if content::key_pins_content(&node, index) {
                self.note_content_key(content::key_memo_id(&node, index, &input_key), digest);
            }
            Ok(digest)
        }
        .boxed()
    }

    fn cache_key(&self, node: &NodeCtx<'_>, inputs: &[KeyInput]) -> Result<CacheKey, WorkerError> {
        keys::cache_key(node, inputs).map_err(|e| boxed(Error::Key(e.to_string())))
    }

    fn load<'a>(
        &'a self,
        node: NodeCtx<'a>,
        key: CacheKey,
    ) -> BoxFuture<'a, Result<Option<Vec<Ref>>, WorkerError>> {
        async move {
            // The context and downloads are always read fresh: their cache keys say
            // nothing about their content.
            if is_read_fresh(&node.node.op) {
                return Ok(None);
            }
            let found = self.load_result(&key).await.map_err(boxed)?;
            if found.is_some() {
                self.host.in_use.add(self.build, key);
            }
            Ok(found.map(|layers| vec![layers]))
        }
        .boxed()
    }

    fn probe<'a>(&'a self, node: NodeCtx<'a>, key: CacheKey) -> BoxFuture<'a, bool> {
        async move {
            if is_read_fresh(&node.node.op) {
                return false;
            }
            matches!(records::load(&self.host, &key), Ok(Some(_)))
                || self
                    .sources
                    .iter()
                    .any(|source| matches!(source.knows(&self.host, &key), Ok(true)))
        }
        .boxed()
    }

    fn exec<'a>(
        &'a self,
        node: NodeCtx<'a>,
        key: CacheKey,
        inputs: Vec<Ref>,
        job: &'a Job,
    ) -> BoxFuture<'a, Result<Vec<Ref>, WorkerError>> {
        async move {
            // Fresh sources are never shared; everything else runs once per key across
            // concurrent builds.
            let shared = !is_read_fresh(&node.node.op);
            let _flight = if shared {
                let (guard, waited) = self.host.flights.acquire(key).await;
                let bypass = node.metadata.is_some_and(|m| m.ignore_cache);
                if waited && !bypass {
                    job.progress.status("waiting for a concurrent build doing the same step");
                    if let Some(done) = records::load(&self.host, &key).map_err(boxed)? {
                        return Ok(vec![done]);
                    }
                }
                Some(guard)
            } else {
                None
            };
            self.host.in_use.add(self.build, key);
            let result = match &node.node.op {
                Op::Source(SourceOp::Image(img)) => image::pull(&self.host, self.registry(), img, key, job).await,
                Op::Source(SourceOp::Local(local)) => context::sync(&self.host, &self.session, local, job).await,
                Op::Source(SourceOp::Http(http)) => http::fetch(&self.host, http, job).await,
                Op::Source(SourceOp::Git(git)) => Err(Error::Unsupported(format!(
                    "git sources are not supported yet ({}); clone the repository into the context instead",
                    git.remote
                ))),
                Op::Exec(op) => exec::run(self, &node, op, key, &inputs, job).await,
                Op::File(op) => file::run(&self.host, &node, op, key, &inputs, job).await,
                Op::Merge(_) => merge(&self.host, key, &inputs),
            };
            result.map(|r| vec![r]).map_err(boxed)
        }
        .boxed()
    }
}

/// Whether `op` is read afresh by every build: the build context and downloads, whose
/// cache keys name where they come from, not what they hold, so no result is kept for them.
pub fn is_read_fresh(op: &Op) -> bool {
    matches!(op, Op::Source(SourceOp::Local(_) | SourceOp::Http(_)))
}

fn merge(host: &Host, key: CacheKey, inputs: &[Ref]) -> Result<Ref, Error> {
    let mut layers = Vec::new();
    for input in inputs {
        match input {
            Ref::Layers(l) => layers.extend(l.iter().cloned()),
            Ref::Context(_) => {
                return Err(Error::Internal("merging the build context directly".into()));
            }
        }
    }
    records::save(host, key, &layers, "merge", "merge")?;
    Ok(Ref::Layers(Arc::new(layers)))
}
