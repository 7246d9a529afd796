//! From the configuration file (`buildkitd.toml` syntax) to engine options: one mapping
//! for the CLI's embedded engine and for hearthd, so both build the same way.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use hearth_config::{Config, Snapshotter};
use hearth_registry::{CredentialSource, HostConfig, RegistryConfig};

use crate::{DownloadLimits, EngineError, EngineOptions, SnapshotterChoice};

/// The state root when neither `--root` nor the file's `root` names one.
pub const DEFAULT_ROOT: &str = "/var/lib/hearth";

/// The `[registry."host"]` sections, with their TLS directories read.
pub fn registry_config(config: &Config) -> Result<RegistryConfig, EngineError> {
    let mut hosts = BTreeMap::new();
    for (name, mut host) in config.registry_hosts() {
        host.read_tls_config_dirs().map_err(|e| {
            EngineError::Input(format!(
                "reading the TLS directories of [registry.\"{name}\"]: {e}"
            ))
        })?;
        hosts.insert(
            name,
            HostConfig {
                mirrors: host.mirrors,
                http: host.http,
                insecure: host.insecure,
                ca: host.ca,
                keypair: host.keypair,
            },
        );
    }
    Ok(RegistryConfig { hosts })
}

/// Engine options for `config`; `root` (a `--root` flag) wins over the file's `root`.
pub fn options_from_config(
    config: &Config,
    root: Option<PathBuf>,
    credentials: Arc<dyn CredentialSource>,
) -> Result<EngineOptions, EngineError> {
    let worker = &config.worker.oci;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Ok(EngineOptions {
        root: root
            .or(config.root.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
        runtime: PathBuf::from(worker.binary.clone().unwrap_or_else(|| "runc".to_owned())),
        registry: registry_config(config)?,
        credentials,
        max_parallelism: worker.max_parallelism.map(|n| n as usize).unwrap_or(cores),
        snapshotter: match worker.snapshotter {
            Snapshotter::Auto => SnapshotterChoice::Auto,
            Snapshotter::Overlayfs => SnapshotterChoice::Overlayfs,
            Snapshotter::Native => SnapshotterChoice::Native,
        },
        downloads: DownloadLimits::default(),
        on_wait: None,
    })
}

/// Whether `program` is an executable file: a path, or a name found on `PATH` (how the
/// runtime binary from the configuration is found).
pub fn program_found(program: &str) -> bool {
    let executable = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(std::path::Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(program))))
}
