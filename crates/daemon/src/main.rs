//! `hearthd`: the build daemon's process — configuration, logging, signals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hearth_daemon::{Address, DEFAULT_SOCKET, DaemonInfo, ServeOptions, TlsFiles};
use tokio_util::sync::CancellationToken;

/// hearthd serves hearth builds to local and remote clients from one warm cache.
#[derive(Debug, Parser)]
#[command(name = "hearthd", version, about)]
struct Args {
    /// Configuration file (buildkitd.toml syntax).
    #[arg(long, value_name = "FILE", default_value = "/etc/hearth/hearthd.toml")]
    config: PathBuf,
    /// Check a configuration file, print what is wrong with it, and exit (non-zero on
    /// errors).
    #[arg(long, value_name = "FILE")]
    validate_config: Option<PathBuf>,
    /// State directory (overrides `root` in the file).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Listening address, `unix:///path` or `tcp://host:port` (repeatable; overrides
    /// `[grpc] address`).
    #[arg(long = "addr", value_name = "ADDRESS")]
    addresses: Vec<String>,
    /// Log debug messages (also `debug = true` in the file).
    #[arg(long)]
    debug: bool,
    /// Seconds running builds get to finish after SIGTERM.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    shutdown_timeout: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(path) = &args.validate_config {
        return validate(path);
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            // Before logging is set up, tracing prints nothing.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("hearthd: {err:#}");
            }
            ExitCode::from(1)
        }
    }
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn validate(path: &std::path::Path) -> ExitCode {
    match hearth_config::load(path) {
        Ok(loaded) => {
            if loaded.findings.is_empty() {
                println!("{}: ok", path.display());
            } else {
                println!("{}", loaded.render());
            }
            // Not a finding, but what an operator reviewing the file must see.
            for host in loaded.config.daemon_credential_hosts() {
                println!(
                    "{}: note: builds through hearthd use the daemon's own registry credentials for {host} (registry.\"{host}\".daemon-credentials)",
                    path.display()
                );
            }
            if loaded.has_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("hearthd: {e}");
            ExitCode::from(1)
        }
    }
}

/// Logs to stderr with levels; under systemd (JOURNAL_STREAM set) without timestamps
/// and colours, since journald records both its own way.
fn init_logging(debug: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEARTHD_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if debug { "debug" } else { "info" })
    });
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    if journald {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let loaded = if args.config.exists() {
        hearth_config::load(&args.config)?
    } else {
        hearth_config::parse("", &args.config.display().to_string())
    };
    init_logging(args.debug || loaded.config.debug);
    for line in loaded.render().lines().filter(|l| !l.is_empty()) {
        tracing::warn!("{line}");
    }
    if loaded.has_errors() {
        anyhow::bail!(
            "the configuration file {} has errors; fix them (hearthd --validate-config {0}) and start again",
            args.config.display()
        );
    }
    let config = loaded.config;
    let config_text = std::fs::read_to_string(&args.config).unwrap_or_default();
    let addresses = if !args.addresses.is_empty() {
        args.addresses
            .iter()
            .map(|a| Address::parse(a))
            .collect::<Result<Vec<_>, _>>()?
    } else if !config.grpc.address.is_empty() {
        config
            .grpc
            .address
            .iter()
            .map(|a| match a {
                hearth_config::ListenAddress::Unix(p) => Address::Unix(p.clone()),
                hearth_config::ListenAddress::Tcp(h) => Address::Tcp(h.clone()),
            })
            .collect()
    } else {
        vec![Address::Unix(PathBuf::from(DEFAULT_SOCKET))]
    };
    // The daemon's own registry credentials (root's docker login), only for the hosts
    // the configuration opts in; builds otherwise use their client's.
    let own_credentials = Arc::new(hearth_daemon::OwnCredentials::new(
        config.daemon_credential_hosts(),
        hearth_auth::DockerConfigCredentials::from_env(),
    ));
    let options = hearth_engine::options_from_config(
        &config,
        args.root.clone(),
        Arc::clone(&own_credentials) as Arc<dyn hearth_registry::CredentialSource>,
    )?;
    let policy = Arc::new(hearth_daemon::BuildPolicy {
        entitlements: hearth_daemon::Entitlements::new(
            config.insecure_entitlements.clone(),
            args.config.clone(),
        ),
        own_credentials: Arc::clone(&own_credentials),
    });
    for host in own_credentials.hosts() {
        tracing::info!(
            host,
            "builds use the daemon's own registry credentials for this host (daemon-credentials)"
        );
    }
    let info = DaemonInfo {
        config_file: if args.config.exists() {
            args.config.display().to_string()
        } else {
            String::new()
        },
        config: config_text,
        runtime: options.runtime.display().to_string(),
        max_parallelism: u32::try_from(options.max_parallelism).unwrap_or(u32::MAX),
    };
    let serve = ServeOptions {
        addresses: addresses.clone(),
        gid: config.grpc.gid,
        tls: TlsFiles {
            cert: config.grpc.tls.cert.clone(),
            key: config.grpc.tls.key.clone(),
            ca: config.grpc.tls.ca.clone(),
        },
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        gc_rules: gc_rules(&config, &options.root),
        gc_interval: Duration::from_secs(600),
        policy,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let root = options.root.clone();
        let mut options = options;
        options.on_wait = Some(Box::new(|holder: &str| {
            tracing::warn!("waiting for the state directory, held by {holder}");
        }));
        let engine = hearth_engine::Engine::open(options)
            .await
            .with_context(|| format!("opening the state directory {}", root.display()))?;
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        let listed: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        hearth_daemon::serve(Arc::new(engine), info, serve, shutdown, || {
            tracing::info!(
                root = %root.display(),
                addresses = %listed.join(", "),
                "hearthd {} is ready",
                env!("CARGO_PKG_VERSION")
            );
        })
        .await?;
        tracing::info!("hearthd stopped");
        Ok(())
    })
}

/// The collector's policies for the disk the root is on; none with `gc = false`.
fn gc_rules(
    config: &hearth_config::Config,
    root: &std::path::Path,
) -> Vec<hearth_engine::gc::PruneRule> {
    let worker = &config.worker.oci;
    if !worker.gc.is_enabled() {
        return Vec::new();
    }
    let total = hearth_engine::gc::disk_size(root);
    worker
        .gc_policies(total)
        .iter()
        .map(|p| hearth_engine::gc::PruneRule::from(&p.resolve(total)))
        .collect()
}

async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: finishing running builds"),
        _ = int.recv() => tracing::info!("SIGINT: finishing running builds"),
    }
    shutdown.cancel();
}
