//! hearthd: one engine, one state root, served to many clients over the `hearth.v1` gRPC
//! API. Builds run concurrently on the shared store and cache; each client's context,
//! secrets and outputs travel on its own `Build` stream (see `session`).

mod asks;
mod credentials;
mod entitlements;
mod listen;
mod listing;
mod service;
mod session;
mod transfer;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hearth_api::v1::builder_server::BuilderServer;
use hearth_engine::Engine;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

pub use credentials::OwnCredentials;
pub use entitlements::Entitlements;
pub use listen::{Address, DEFAULT_SOCKET, ListenError, bind_unix};
pub use service::{DaemonInfo, FEATURES, Service};

/// What the operator's configuration grants builds; a client can only ask.
#[derive(Debug)]
pub struct BuildPolicy {
    /// The entitlements builds may ask for (`insecure-entitlements`).
    pub entitlements: Entitlements,
    /// The daemon's own registry credentials, for the hosts whose section sets
    /// `daemon-credentials = true` and no other.
    pub own_credentials: Arc<OwnCredentials>,
}

/// TLS files for TCP listeners (`[grpc.tls]`).
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// Server certificate (PEM).
    pub cert: Option<std::path::PathBuf>,
    /// Its key (PEM).
    pub key: Option<std::path::PathBuf>,
    /// CA that client certificates must be signed by (PEM).
    pub ca: Option<std::path::PathBuf>,
}

/// Why the daemon could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be set up.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// A TLS file could not be read.
    #[error("reading {}: {source}", path.display())]
    Tls {
        /// The file.
        path: std::path::PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("serving {address}: {message}")]
    Server {
        /// The listener.
        address: String,
        /// What failed.
        message: String,
    },
}

/// One listener's server, running until shutdown.
type ServerFuture = std::pin::Pin<Box<dyn Future<Output = Result<(), ServeError>> + Send>>;

/// How the daemon serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen.
    pub addresses: Vec<Address>,
    /// Group of unix sockets (`[grpc] gid`); the `hearth` group when unset and present.
    pub gid: Option<u32>,
    /// TLS for TCP listeners.
    pub tls: TlsFiles,
    /// How long running builds may take to finish after a shutdown signal.
    pub shutdown_timeout: Duration,
    /// The collector's policies, in order; empty when `gc = false`.
    pub gc_rules: Vec<hearth_engine::gc::PruneRule>,
    /// How often the collector runs besides after each build.
    pub gc_interval: Duration,
    /// What builds are granted.
    pub policy: Arc<BuildPolicy>,
}

/// Runs the policies after every build (`kick`) and every `interval`; a build running at
/// the same time keeps what it uses (see `hearth_engine::gc`).
async fn collect_garbage(
    engine: Arc<Engine>,
    rules: Vec<hearth_engine::gc::PruneRule>,
    interval: Duration,
    kick: Arc<tokio::sync::Notify>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = kick.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
        let engine = Arc::clone(&engine);
        let rules = rules.clone();
        let outcome =
            tokio::task::spawn_blocking(move || hearth_engine::gc::prune(&engine, &rules, false))
                .await;
        match outcome {
            Ok(Ok(report)) if !report.removed.is_empty() => tracing::info!(
                records = report.removed.len(),
                freed = report.freed,
                before = report.before,
                after = report.after,
                "gc: pruned by policy"
            ),
            Ok(Ok(_)) => tracing::debug!("gc: nothing to prune"),
            Ok(Err(e)) => tracing::warn!("gc failed: {e}"),
            Err(e) => tracing::warn!("gc task failed: {e}"),
        }
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|source| ServeError::Tls {
        path: path.to_path_buf(),
        source,
    })
}

fn server_tls(address: &str, tls: &TlsFiles) -> Result<ServerTlsConfig, ServeError> {
    let (Some(cert), Some(key), Some(ca)) = (&tls.cert, &tls.key, &tls.ca) else {
        return Err(ListenError::TcpWithoutTls(address.to_owned()).into());
    };
    Ok(ServerTlsConfig::new()
        .identity(Identity::from_pem(read(cert)?, read(key)?))
        .client_ca_root(Certificate::from_pem(read(ca)?))
        .client_auth_optional(false))
}

/// Serves `engine` on every address until `shutdown` is cancelled, then gives running
/// builds `shutdown_timeout` to finish. `ready` is called once every listener is bound.
pub async fn serve(
    engine: Arc<Engine>,
    info: DaemonInfo,
    options: ServeOptions,
    shutdown: CancellationToken,
    ready: impl FnOnce(),
) -> Result<(), ServeError> {
    let kick = Arc::new(tokio::sync::Notify::new());
    if !options.gc_rules.is_empty() {
        tokio::spawn(collect_garbage(
            Arc::clone(&engine),
            options.gc_rules.clone(),
            options.gc_interval,
            Arc::clone(&kick),
            shutdown.clone(),
        ));
    }
    let service = Service::new(engine, info, kick, Arc::clone(&options.policy));
    let running = service.running();
    let service = Arc::new(service);
    let mut servers: Vec<ServerFuture> = Vec::new();
    for address in &options.addresses {
        let name = address.to_string();
        let stop = shutdown.clone();
        let svc = BuilderServer::from_arc(Arc::clone(&service));
        match address {
            Address::Unix(path) => {
                let listener = bind_unix(path, options.gid).await?;
                let incoming = UnixListenerStream::new(listener);
                servers.push(Box::pin(async move {
                    Server::builder()
                        .add_service(svc)
                        .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                        .await
                        .map_err(|e| ServeError::Server {
                            address: name,
                            message: e.to_string(),
                        })
                }));
            }
            Address::Tcp(host) => {
                let tls = server_tls(host, &options.tls)?;
                let listener =
                    tokio::net::TcpListener::bind(host)
                        .await
                        .map_err(|e| ServeError::Server {
                            address: name.clone(),
                            message: e.to_string(),
                        })?;
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let mut builder =
                    Server::builder()
                        .tls_config(tls)
                        .map_err(|e| ServeError::Server {
                            address: name.clone(),
                            message: e.to_string(),
                        })?;
                servers.push(Box::pin(async move {
                    builder
                        .add_service(svc)
                        .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                        .await
                        .map_err(|e| ServeError::Server {
                            address: name,
                            message: e.to_string(),
                        })
                }));
            }
        }
    }
    ready();
    let all = futures_util::future::try_join_all(servers);
    tokio::pin!(all);
    tokio::select! {
        result = &mut all => { result?; }
        () = shutdown.cancelled() => {}
    }
    // Stopped accepting; let running builds finish, within the limit.
    let deadline = tokio::time::Instant::now() + options.shutdown_timeout;
    while running.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = running.load(Ordering::SeqCst);
    if left > 0 {
        tracing::warn!(
            builds = left,
            "shutting down with builds still running; their clients will see the connection close"
        );
    }
    Ok(())
}
