//! Which URLs serve a registry: mirrors first, then the registry itself, each with the
//! scheme and TLS settings its own configuration section gives it.
//!
//! This follows BuildKit's `util/resolver.NewRegistryConfig` (v0.24) closely, because users
//! move `buildkitd.toml` files between BuildKit and hearth and expect the same hosts to be
//! contacted the same way:
//! - a mirror `host[/path]` is served under `/v2/<path>`, and its scheme comes from the
//!   mirror's *own* `[registry."<mirror host>"]` section, not from the mirrored registry's;
//! - `docker.io` is reached at `registry-1.docker.io`;
//! - without an explicit `http = …`, loopback hosts (`localhost`, `127.0.0.0/8`, `::1`)
//!   use plain HTTP (containerd's `docker.MatchLocalhost`), everything else HTTPS;
//! - `insecure = true` means HTTPS without certificate verification, and together with
//!   plain HTTP, "try HTTPS, fall back to HTTP" (BuildKit's `httpFallback`).

use std::fmt;
use std::net::IpAddr;

use crate::config::{HostConfig, RegistryConfig};

/// The registry name Docker Hub images are normalised to.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// The protocol an endpoint is contacted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// TLS.
    Https,
    /// Plain HTTP.
    Http,
}

impl Scheme {
    /// `https` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// One place a registry's content can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` to connect to.
    pub host: String,
    /// The API root on that host: `/v2`, or `/v2/<prefix>` for a mirror with a path.
    pub path: String,
    /// The first scheme to use.
    pub scheme: Scheme,
    /// Skip TLS certificate verification (`insecure = true`).
    pub insecure: bool,
    /// Retry over plain HTTP when the HTTPS connection fails (`insecure` with `http`).
    pub http_fallback: bool,
    /// Whether this endpoint is a pull mirror; mirrors are never pushed to.
    pub mirror: bool,
    /// The configuration section whose `ca`/`keypair`/`insecure` apply, if any.
    pub config_host: Option<String>,
}

impl Endpoint {
    /// The URL of the API root, e.g. `https://registry-1.docker.io/v2`.
    pub fn base_url(&self, scheme: Scheme) -> String {
        format!("{}://{}{}", scheme.as_str(), self.host, self.path)
    }

    /// The host to name in messages and to ask credentials for: Docker Hub's API host is
    /// reported as `docker.io`, the name users log in to.
    pub fn credential_host(&self) -> &str {
        if self.host == DOCKER_HUB_API_HOST {
            DOCKER_HUB
        } else {
            &self.host
        }
    }
}

impl fmt::Display for Endpoint {
    /// `host[:port]` plus the mirror prefix, the way users wrote it in the configuration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        if let Some(prefix) = self.path.strip_prefix("/v2/") {
            write!(f, "/{prefix}")?;
        }
        Ok(())
    }
}

/// See [`RegistryConfig::endpoints`].
pub(crate) fn endpoints(config: &RegistryConfig, registry: &str) -> Vec<Endpoint> {
    let api_host = if registry == DOCKER_HUB {
        DOCKER_HUB_API_HOST
    } else {
        registry
    };
    let Some(section) = config.host(registry) else {
        // No section: containerd's default hosts, with plain HTTP for loopback only.
        return vec![endpoint_for(api_host, "/v2", None, None, false)];
    };
    let mut out = Vec::with_capacity(section.mirrors.len() + 1);
    for raw in &section.mirrors {
        let (host, prefix) = split_mirror(raw);
        if host.is_empty() {
            continue;
        }
        let path = if prefix.is_empty() {
            "/v2".to_owned()
        } else {
            format!("/v2/{prefix}")
        };
        let own = config.host(host);
        out.push(endpoint_for(
            host,
            &path,
            own,
            own.map(|_| host.to_owned()),
            true,
        ));
    }
    // The registry's own section is keyed by its name (`docker.io`), even though the
    // connection goes to the API host.
    out.push(endpoint_for(
        api_host,
        "/v2",
        Some(section),
        Some(registry.to_owned()),
        false,
    ));
    out
}

fn endpoint_for(
    host: &str,
    path: &str,
    section: Option<&HostConfig>,
    config_host: Option<String>,
    mirror: bool,
) -> Endpoint {
    let http = match section.and_then(|s| s.http) {
        Some(explicit) => explicit,
        None => is_localhost(host),
    };
    let insecure = section.is_some_and(|s| s.insecure);
    let (scheme, http_fallback) = match (insecure, http) {
        (true, http) => (Scheme::Https, http),
        (false, true) => (Scheme::Http, false),
        (false, false) => (Scheme::Https, false),
    };
    Endpoint {
        host: host.to_owned(),
        path: path.to_owned(),
        scheme,
        insecure,
        http_fallback,
        mirror,
        config_host,
    }
}

/// Splits a mirror entry into `host[:port]` and a repository prefix without slashes at
/// either end, ignoring a leading `scheme://` (BuildKit's `extractMirrorHostAndPath`).
fn split_mirror(raw: &str) -> (&str, &str) {
    let rest = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let rest = rest.trim_start_matches('/');
    match rest.split_once('/') {
        Some((host, path)) => (host, path.trim_matches('/')),
        None => (rest, ""),
    }
}

/// containerd's `docker.MatchLocalhost`: `localhost` or a loopback IP, with or without
/// a port.
pub(crate) fn is_localhost(host: &str) -> bool {
    let name = if let Some(bracketed) = host.strip_prefix('[') {
        bracketed.split_once(']').map_or(bracketed, |(ip, _)| ip)
    } else if host.matches(':').count() == 1 {
        host.split_once(':').map_or(host, |(name, _)| name)
    } else {
        host
    };
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn config(sections: &[(&str, HostConfig)]) -> RegistryConfig {
        RegistryConfig {
            hosts: sections
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    /// `(scheme://host/path, mirror, insecure, fallback)` for compact comparison.
    fn summary(endpoints: &[Endpoint]) -> Vec<(String, bool, bool, bool)> {
        endpoints
            .iter()
            .map(|e| (e.base_url(e.scheme), e.mirror, e.insecure, e.http_fallback))
            .collect()
    }

    fn row(url: &str, mirror: bool, insecure: bool, fallback: bool) -> (String, bool, bool, bool) {
        (url.to_owned(), mirror, insecure, fallback)
    }

    #[test]
    fn docker_io_without_configuration_is_registry_1_over_https() {
        let eps = RegistryConfig::default().endpoints("docker.io");
        assert_eq!(
            summary(&eps),
            vec![row("https://registry-1.docker.io/v2", false, false, false)]
        );
        assert_eq!(eps[0].credential_host(), "docker.io");
        assert_eq!(eps[0].config_host, None);
        assert_eq!(eps[0].to_string(), "registry-1.docker.io");
    }

    #[test]
    fn docker_io_mirrors_come_first_and_use_their_own_sections() {
        let cfg = config(&[
            (
                "docker.io",
                HostConfig {
                    mirrors: vec![
                        "127.0.0.1:5001".into(),
                        "https://mirror.example.com/dockerhub/".into(),
                        "plain.example.com".into(),
                    ],
                    ..HostConfig::default()
                },
            ),
            (
                "plain.example.com",
                HostConfig {
                    http: Some(true),
                    ..HostConfig::default()
                },
            ),
        ]);
        let eps = cfg.endpoints("docker.io");
        assert_eq!(
            summary(&eps),
            vec![
                // Loopback without a section of its own: plain HTTP, as in BuildKit.
                row("http://127.0.0.1:5001/v2", true, false, false),
                row(
                    "https://mirror.example.com/v2/dockerhub",
                    true,
                    false,
                    false
                ),
                row("http://plain.example.com/v2", true, false, false),
                row("https://registry-1.docker.io/v2", false, false, false),
            ]
        );
        assert_eq!(eps[1].to_string(), "mirror.example.com/dockerhub");
        assert_eq!(eps[2].config_host.as_deref(), Some("plain.example.com"));
        assert_eq!(eps[3].config_host.as_deref(), Some("docker.io"));
    }

    #[test]
    fn http_and_insecure_follow_buildkit() {
        let cfg = config(&[
            (
                "localhost:5000",
                HostConfig {
                    http: Some(false),
                    ..HostConfig::default()
                },
            ),
            (
                "insecure.example.com",
                HostConfig {
                    insecure: true,
                    ..HostConfig::default()
                },
            ),
            (
                "both.example.com",
                HostConfig {
                    insecure: true,
                    http: Some(true),
                    ..HostConfig::default()
                },
            ),
        ]);
        let first = |name: &str| summary(&cfg.endpoints(name)).remove(0);
        // An explicit `http = false` overrides the loopback default.
        assert_eq!(
            first("localhost:5000"),
            row("https://localhost:5000/v2", false, false, false)
        );
        assert_eq!(
            first("localhost:6000"),
            row("http://localhost:6000/v2", false, false, false)
        );
        assert_eq!(
            first("[::1]:5000"),
            row("http://[::1]:5000/v2", false, false, false)
        );
        assert_eq!(
            first("insecure.example.com"),
            row("https://insecure.example.com/v2", false, true, false)
        );
        assert_eq!(
            first("both.example.com"),
            row("https://both.example.com/v2", false, true, true)
        );
        assert_eq!(
            first("ghcr.io"),
            row("https://ghcr.io/v2", false, false, false)
        );
    }

    #[test]
    fn localhost_matching_is_containerds() {
        for yes in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.1.2.3:80",
            "::1",
            "[::1]",
            "[::1]:5000",
        ] {
            assert!(is_localhost(yes), "{yes}");
        }
        for no in [
            "example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:5000",
        ] {
            assert!(!is_localhost(no), "{no}");
        }
    }

    #[test]
    fn mirror_entries_split_like_buildkit() {
        assert_eq!(split_mirror("hub.docker.io"), ("hub.docker.io", ""));
        assert_eq!(
            split_mirror("yourmirror.local:5000/proxy.docker.io"),
            ("yourmirror.local:5000", "proxy.docker.io")
        );
        assert_eq!(split_mirror("https://url/"), ("url", ""));
        assert_eq!(split_mirror("https://url/path/"), ("url", "path"));
    }
}
