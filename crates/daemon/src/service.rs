//! The `hearth.v1.Builder` service over one engine.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::Stream;
use hearth_api::v1::build_client_message::Message as ClientMessage;
use hearth_api::v1::builder_server::Builder;
use hearth_api::v1::{
    BuildClientMessage, BuildServerMessage, DiskUsageRequest, DiskUsageResponse, InfoRequest,
    InfoResponse, PruneRequest, PruneResponse,
};
use hearth_engine::Engine;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::{BuildPolicy, session};

/// What this daemon understands beyond the first v1 daemons (`InfoResponse.features`).
pub const FEATURES: &[&str] = &["context-chunks", "credentials"];

/// What `Info` reports besides live figures.
#[derive(Debug, Clone)]
pub struct DaemonInfo {
    /// The configuration file in force, if any.
    pub config_file: String,
    /// The configuration, as TOML text.
    pub config: String,
    /// The OCI runtime.
    pub runtime: String,
    /// Steps run at once per build.
    pub max_parallelism: u32,
}

/// The service.
pub struct Service {
    engine: Arc<Engine>,
    info: DaemonInfo,
    running: Arc<AtomicU32>,
    /// Wakes the collector when a build ends.
    gc: Arc<tokio::sync::Notify>,
    policy: Arc<BuildPolicy>,
}

impl Service {
    /// A service building with `engine` under `policy`, waking `gc` after each build.
    pub fn new(
        engine: Arc<Engine>,
        info: DaemonInfo,
        gc: Arc<tokio::sync::Notify>,
        policy: Arc<BuildPolicy>,
    ) -> Self {
        Self {
            engine,
            info,
            running: Arc::new(AtomicU32::new(0)),
            gc,
            policy,
        }
    }

    /// Builds running now.
    pub fn running(&self) -> Arc<AtomicU32> {
        Arc::clone(&self.running)
    }
}

/// A blocking task that panicked or was aborted: hearthd's own failure.
fn task_failed(e: tokio::task::JoinError) -> Status {
    hearth_api::status(hearth_core::ErrorKind::Internal, e.to_string())
}

/// Counts a build as running while alive.
struct Running(Arc<AtomicU32>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

type BuildStream = Pin<Box<dyn Stream<Item = Result<BuildServerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Builder for Service {
    async fn info(&self, request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let storage_bytes = if request.into_inner().storage {
            let store = self.engine.store().clone();
            tokio::task::spawn_blocking(move || store.disk_usage())
                .await
                .map_err(task_failed)?
                .map_err(|e| hearth_api::status(e.error_kind(), e.to_string()))?
                .total()
        } else {
            0
        };
        let host = self.engine.host();
        Ok(Response::new(InfoResponse {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            api_version: hearth_api::API_VERSION,
            root: self.engine.store().root().display().to_string(),
            runtime: self.info.runtime.clone(),
            snapshotter: host.snapshotter().name().to_owned(),
            max_parallelism: self.info.max_parallelism,
            config_file: self.info.config_file.clone(),
            config: self.info.config.clone(),
            storage_bytes,
            overlay_works: host.snapshotter().name() == "overlayfs",
            runtime_works: hearth_engine::program_found(&self.info.runtime),
            builds_running: self.running.load(Ordering::SeqCst),
            containers_started: host.exec_count(),
            features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
            platforms: host.platforms().lines(),
        }))
    }

    type BuildStream = BuildStream;

    async fn build(
        &self,
        request: Request<Streaming<BuildClientMessage>>,
    ) -> Result<Response<Self::BuildStream>, Status> {
        let mut inbound = request.into_inner();
        let start = match inbound.message().await?.and_then(|m| m.message) {
            Some(ClientMessage::Start(start)) => start,
            _ => return Err(Status::invalid_argument("a build starts with BuildStart")),
        };
        // The listing follows; the session reads it, so the response stream is open
        // while a large listing arrives.
        let (out, rx) = mpsc::channel(64);
        let engine = Arc::clone(&self.engine);
        let policy = Arc::clone(&self.policy);
        self.running.fetch_add(1, Ordering::SeqCst);
        let running = Running(Arc::clone(&self.running));
        let gc = Arc::clone(&self.gc);
        tokio::spawn(async move {
            let _running = running;
            session::run(engine, policy, start, inbound, out).await;
            gc.notify_one();
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn disk_usage(
        &self,
        _request: Request<DiskUsageRequest>,
    ) -> Result<Response<DiskUsageResponse>, Status> {
        let engine = Arc::clone(&self.engine);
        let (records, metadata) =
            tokio::task::spawn_blocking(move || hearth_engine::gc::usage(&engine))
                .await
                .map_err(task_failed)?
                .map_err(|e| hearth_api::status(e.kind(), e.to_string()))?;
        Ok(Response::new(DiskUsageResponse {
            records: records.iter().map(hearth_api::usage_to_wire).collect(),
            metadata_bytes: metadata,
        }))
    }

    async fn prune(
        &self,
        request: Request<PruneRequest>,
    ) -> Result<Response<PruneResponse>, Status> {
        let request = request.into_inner();
        let rule = hearth_api::rule_from_wire(&request);
        let engine = Arc::clone(&self.engine);
        let report = tokio::task::spawn_blocking(move || {
            hearth_engine::gc::prune(&engine, &[rule], request.dry_run)
        })
        .await
        .map_err(task_failed)?
        .map_err(|e| hearth_api::status(e.kind(), e.to_string()))?;
        Ok(Response::new(hearth_api::prune_to_wire(&report)))
    }
}
