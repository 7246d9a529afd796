//! Opening the embedded engine from the global flags and the configuration file.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use hearth_auth::DockerConfigCredentials;
use hearth_engine::{Engine, EngineOptions};
use hearth_registry::RegistryConfig;

/// Flags every engine-using subcommand shares.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct GlobalArgs {
    /// Configuration file (buildkitd.toml syntax).
    #[arg(long, global = true, value_name = "FILE", env = "HEARTH_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// State directory (default: `root` from the configuration, else /var/lib/hearth).
    #[arg(long, global = true, value_name = "DIR", env = "HEARTH_ROOT")]
    pub(crate) root: Option<PathBuf>,
    /// hearthd to build with (`unix:///path.sock`, `tcp://host:port`); without it, the
    /// default socket if a daemon answers there, else the engine runs in-process.
    #[arg(long, global = true, value_name = "ADDRESS", env = "HEARTH_HOST")]
    pub(crate) addr: Option<String>,
    /// CA that signed hearthd's certificate (tcp:// addresses).
    #[arg(long, global = true, value_name = "FILE", env = "HEARTH_TLS_CA")]
    pub(crate) tlscacert: Option<PathBuf>,
    /// Client certificate for tcp:// addresses.
    #[arg(long, global = true, value_name = "FILE", env = "HEARTH_TLS_CERT")]
    pub(crate) tlscert: Option<PathBuf>,
    /// Client key for tcp:// addresses.
    #[arg(long, global = true, value_name = "FILE", env = "HEARTH_TLS_KEY")]
    pub(crate) tlskey: Option<PathBuf>,
}

/// Where hearthd listens unless told otherwise.
pub(crate) use hearth_client::daemon::DEFAULT_SOCKET;

impl GlobalArgs {
    /// The TLS files for a tcp:// daemon, when all three are given.
    pub(crate) fn client_tls(&self) -> Option<hearth_api::ClientTls> {
        Some(hearth_api::ClientTls {
            ca: self.tlscacert.clone()?,
            cert: self.tlscert.clone()?,
            key: self.tlskey.clone()?,
            server_name: None,
        })
    }
}

/// The settings an embedded engine runs with, after the configuration file.
pub(crate) struct Settings {
    pub(crate) options: EngineOptions,
    /// The credentials the engine reads, kept to report their warnings.
    pub(crate) credentials: Arc<DockerConfigCredentials>,
}

/// Reads the configuration (`--config`, else the default path if it exists), prints its
/// warnings, and refuses it when it has errors, as buildkitd does.
pub(crate) fn load_config(global: &GlobalArgs) -> anyhow::Result<hearth_config::Config> {
    let loaded = match &global.config {
        Some(path) => hearth_config::load(path)?,
        None => hearth_config::load_if_exists(&hearth_config::Config::default_path())?,
    };
    if !loaded.findings.is_empty() {
        let _ = writeln!(std::io::stderr().lock(), "{}", loaded.render());
    }
    if loaded.has_errors() {
        bail!(
            "the configuration file {} has errors; fix them and try again",
            loaded.source_name
        );
    }
    Ok(loaded.config)
}

/// The `[registry."host"]` sections, with their TLS directories read.
pub(crate) fn registry_config(config: &hearth_config::Config) -> anyhow::Result<RegistryConfig> {
    Ok(hearth_engine::registry_config(config)?)
}

/// Registry credentials as docker keeps them (`$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`, and its credential helpers), read only when a registry asks.
pub(crate) fn credentials() -> Arc<DockerConfigCredentials> {
    Arc::new(DockerConfigCredentials::from_env())
}

/// Prints what went wrong reading credentials (a malformed config.json, a failing
/// helper); the registry then saw no credentials for that host.
pub(crate) fn report_credential_warnings(credentials: &DockerConfigCredentials) {
    let mut stderr = std::io::stderr().lock();
    for warning in credentials.warnings() {
        let _ = writeln!(stderr, "warning: {warning}");
    }
}

/// The engine settings from the global flags and the configuration file.
pub(crate) fn settings(global: &GlobalArgs) -> anyhow::Result<Settings> {
    let config = load_config(global)?;
    let credentials = credentials();
    let mut options =
        hearth_engine::options_from_config(&config, global.root.clone(), credentials.clone())?;
    options.on_wait = Some(Box::new(|holder: &str| {
        let _ = writeln!(
            std::io::stderr().lock(),
            "waiting for the state directory: {holder}"
        );
    }));
    Ok(Settings {
        options,
        credentials,
    })
}

/// Opens the engine described by `settings`.
pub(crate) async fn open(settings: Settings) -> anyhow::Result<Engine> {
    let root = settings.options.root.clone();
    Engine::open(settings.options)
        .await
        .with_context(|| format!("opening hearth's state directory {}", root.display()))
}
