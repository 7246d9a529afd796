//! The `[registry."host"]` sections as plain data for the registry client.
//!
//! The daemon maps [`RegistryHost`] onto `hearth_registry::HostConfig` field by field; this
//! crate stays independent of the client so that reading a configuration file never pulls
//! in HTTP and TLS.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use crate::model::Config;

/// One registry host's connection settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryHost {
    /// Pull mirrors tried before the host, in order: `host[:port][/path]`.
    pub mirrors: Vec<String>,
    /// `http`; `None` (key absent) means BuildKit's default: plain HTTP for loopback hosts
    /// only.
    pub http: Option<bool>,
    /// `insecure`: HTTPS without certificate verification (with `http`, falling back to
    /// plain HTTP).
    pub insecure: bool,
    /// Extra root certificates (PEM).
    pub ca: Vec<PathBuf>,
    /// Client certificates as `(cert, key)` PEM file pairs.
    pub keypair: Vec<(PathBuf, PathBuf)>,
    /// `tlsconfigdir` directories not yet read; see [`RegistryHost::read_tls_config_dirs`].
    pub tls_config_dirs: Vec<PathBuf>,
}

impl RegistryHost {
    /// Reads the `tlsconfigdir` directories into `ca` and `keypair` as BuildKit's
    /// `loadTLSConfig` does: every `*.crt` is a root certificate, every `*.cert` a client
    /// certificate whose key is the `*.key` of the same name. Directories that are missing
    /// or unreadable for lack of permission are skipped, as in BuildKit. Entries are taken
    /// in name order (Go's `os.ReadDir` sorts).
    pub fn read_tls_config_dirs(&mut self) -> io::Result<()> {
        for dir in std::mem::take(&mut self.tls_config_dirs) {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                    ) =>
                {
                    continue;
                }
                Err(error) => return Err(error),
            };
            let mut names = entries
                .map(|entry| entry.map(|e| e.file_name()))
                .collect::<io::Result<Vec<_>>>()?;
            names.sort();
            for name in names {
                let Some(name) = name.to_str() else {
                    continue;
                };
                if name.ends_with(".crt") {
                    self.ca.push(dir.join(name));
                }
                if let Some(stem) = name.strip_suffix(".cert") {
                    self.keypair
                        .push((dir.join(name), dir.join(format!("{stem}.key"))));
                }
            }
        }
        Ok(())
    }
}

impl Config {
    /// The hosts whose `[registry."host"]` section sets `daemon-credentials = true`: the
    /// only ones for which builds through hearthd may use the daemon's own credentials.
    pub fn daemon_credential_hosts(&self) -> Vec<String> {
        self.registry
            .iter()
            .filter(|(_, registry)| registry.daemon_credentials)
            .map(|(host, _)| host.clone())
            .collect()
    }

    /// The registry sections as the registry client's per-host settings, keyed by host as
    /// written.
    pub fn registry_hosts(&self) -> BTreeMap<String, RegistryHost> {
        self.registry
            .iter()
            .map(|(host, registry)| {
                (
                    host.clone(),
                    RegistryHost {
                        mirrors: registry.mirrors.clone(),
                        http: registry.http,
                        insecure: registry.insecure.unwrap_or(false),
                        ca: registry.ca.clone(),
                        keypair: registry
                            .keypair
                            .iter()
                            .map(|pair| (pair.cert.clone(), pair.key.clone()))
                            .collect(),
                        tls_config_dirs: registry.tls_config_dir.clone(),
                    },
                )
            })
            .collect()
    }
}
