//! The registry configuration: BuildKit's `[registry."host"]` sections of `buildkitd.toml`
//! as typed values.
//!
//! Parsing TOML is the edge's job (the daemon's config loader); this module holds the
//! result, so the registry client never sees strings it has to interpret twice.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::endpoint::{self, Endpoint};

/// Per-host registry settings, keyed by the host as users write it in `buildkitd.toml`
/// (`docker.io`, `127.0.0.1:5000`, `mirror.example.com`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// The `[registry."<host>"]` sections.
    pub hosts: BTreeMap<String, HostConfig>,
}

/// One `[registry."<host>"]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// Pull mirrors tried before the host itself, in order: `host[:port][/path]`, where a
    /// path is a repository prefix on the mirror (`mirror.example.com/dockerhub`). A
    /// scheme written in front is ignored; the mirror's own section decides `http`.
    pub mirrors: Vec<String>,
    /// `http = true|false`. `None` (the key absent) means "plain HTTP only for loopback
    /// hosts", which is BuildKit's default: `localhost`, `127.0.0.0/8` and `::1` are
    /// contacted over HTTP unless `http = false` is written explicitly.
    pub http: Option<bool>,
    /// `insecure = true`: use HTTPS without verifying the certificate; combined with
    /// `http`, fall back to plain HTTP when the host does not speak TLS.
    pub insecure: bool,
    /// `ca = [...]`: PEM files with extra root certificates, trusted besides the system's.
    pub ca: Vec<PathBuf>,
    /// `[[registry."<host>".keypair]]`: client certificate and key PEM files (mTLS).
    pub keypair: Vec<(PathBuf, PathBuf)>,
}

impl RegistryConfig {
    /// The section for `host`, if the configuration has one.
    pub fn host(&self, host: &str) -> Option<&HostConfig> {
        self.hosts.get(host)
    }

    /// The endpoints to try, in order, for images named under `registry` (the domain of a
    /// normalised reference, e.g. `docker.io`): its mirrors, then the registry itself.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        endpoint::endpoints(self, registry)
    }
}
