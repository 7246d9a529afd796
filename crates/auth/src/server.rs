//! The keys docker files credentials under.
//!
//! Docker Hub is stored under its old index URL `https://index.docker.io/v1/`; every other
//! registry under its `host[:port]`. Older docker versions and hand-edited files also use
//! `https://host/...` or `http://host` keys, so a key is compared by the host it names,
//! as docker's `ConvertToHostname` does.

/// The key docker stores Docker Hub's credentials under.
pub const DOCKER_HUB_SERVER_KEY: &str = "https://index.docker.io/v1/";

/// The name Docker Hub is asked for and logged in to.
pub const DOCKER_HUB_HOST: &str = "docker.io";

/// Names that all mean Docker Hub.
const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The key docker writes `host`'s credentials under: [`DOCKER_HUB_SERVER_KEY`] for Docker
/// Hub (under any of its names), else the `host[:port]` with any scheme and path removed.
pub fn server_key(host: &str) -> String {
    let stripped = strip_to_host(host);
    if is_docker_hub(stripped) {
        DOCKER_HUB_SERVER_KEY.to_owned()
    } else {
        stripped.to_owned()
    }
}

/// The registry a key names, in the form compared when reading: scheme and path removed,
/// lowercased, and Docker Hub's names (`index.docker.io`, `registry-1.docker.io`,
/// `https://index.docker.io/v1/`) all given as [`DOCKER_HUB_HOST`].
pub fn registry_host(key: &str) -> String {
    let stripped = strip_to_host(key);
    if is_docker_hub(stripped) {
        DOCKER_HUB_HOST.to_owned()
    } else {
        stripped.to_ascii_lowercase()
    }
}

/// Whether two keys name the same registry.
pub(crate) fn same_registry(a: &str, b: &str) -> bool {
    registry_host(a) == registry_host(b)
}

/// `key` without a leading `http://` or `https://` and without anything from the first
/// `/` on, keeping its case.
fn strip_to_host(key: &str) -> &str {
    let key = key.trim();
    let rest = ["https://", "http://"]
        .iter()
        .find_map(|scheme| {
            key.get(..scheme.len())
                .filter(|prefix| prefix.eq_ignore_ascii_case(scheme))
                .and_then(|_| key.get(scheme.len()..))
        })
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_ALIASES
        .iter()
        .any(|alias| alias.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_is_keyed_by_the_index_url_under_every_name() {
        for name in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
            "https://registry-1.docker.io/v2/",
            "Docker.IO",
        ] {
            assert_eq!(server_key(name), DOCKER_HUB_SERVER_KEY, "{name}");
            assert_eq!(registry_host(name), DOCKER_HUB_HOST, "{name}");
        }
    }

    #[test]
    fn other_registries_are_keyed_by_host_and_port() {
        assert_eq!(server_key("registry.example.com"), "registry.example.com");
        assert_eq!(server_key("http://host:5000"), "host:5000");
        assert_eq!(server_key("https://host:5000/v2/"), "host:5000");
        assert_eq!(server_key("[::1]:5000"), "[::1]:5000");
        assert_eq!(registry_host("HTTPS://Host:5000/path"), "host:5000");
        assert!(same_registry("http://host:5000", "host:5000"));
        assert!(!same_registry("host:5000", "host:5001"));
        assert!(!same_registry("host", "host:5000"));
    }
}
