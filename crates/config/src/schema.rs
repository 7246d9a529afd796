//! The keys of every buildkitd.toml section, as BuildKit v0.24 declares them
//! (`cmd/buildkitd/config/config.go`, `util/resolver/config/config.go`).
//!
//! The decoder reads keys by these names and reports any other key as unknown; the list of
//! all sections lets it say where a key that is misplaced belongs.

/// Top level.
pub(crate) const TOP: &[&str] = &[
    "debug",
    "trace",
    "root",
    "insecure-entitlements",
    "log",
    "grpc",
    "otel",
    "cdi",
    "worker",
    "registry",
    "dns",
    "history",
    "frontend",
    "system",
];
/// `[log]`.
pub(crate) const LOG: &[&str] = &["format"];
/// `[grpc]`.
pub(crate) const GRPC: &[&str] = &[
    "address",
    "debugAddress",
    "uid",
    "gid",
    "securityDescriptor",
    "tls",
];
/// `[grpc.tls]`.
pub(crate) const GRPC_TLS: &[&str] = &["cert", "key", "ca"];
/// `[otel]`.
pub(crate) const OTEL: &[&str] = &["socketPath"];
/// `[cdi]`.
pub(crate) const CDI: &[&str] = &["disabled", "specDirs", "autoAllowed"];
/// `[worker]`.
pub(crate) const WORKER: &[&str] = &["oci", "containerd"];
/// `[worker.oci]`.
pub(crate) const OCI: &[&str] = &[
    "enabled",
    "labels",
    "platforms",
    "snapshotter",
    "rootless",
    "noProcessSandbox",
    // GCConfig, embedded.
    "gc",
    "gckeepstorage",
    "reservedSpace",
    "maxUsedSpace",
    "minFreeSpace",
    "gcpolicy",
    // NetworkConfig, embedded.
    "networkMode",
    "cniConfigPath",
    "cniBinaryPath",
    "cniPoolSize",
    "bridgeName",
    "bridgeSubnet",
    "userRemapUnsupported",
    "binary",
    "proxySnapshotterPath",
    "defaultCgroupParent",
    "stargzSnapshotter",
    "apparmor-profile",
    "selinux",
    "max-parallelism",
];
/// `[worker.containerd]`.
pub(crate) const CONTAINERD: &[&str] = &[
    "address",
    "enabled",
    "labels",
    "platforms",
    "namespace",
    "runtime",
    "gc",
    "gckeepstorage",
    "reservedSpace",
    "maxUsedSpace",
    "minFreeSpace",
    "gcpolicy",
    "networkMode",
    "cniConfigPath",
    "cniBinaryPath",
    "cniPoolSize",
    "bridgeName",
    "bridgeSubnet",
    "snapshotter",
    "apparmor-profile",
    "selinux",
    "max-parallelism",
    "defaultCgroupParent",
    "rootless",
];
/// `[worker.containerd.runtime]`.
pub(crate) const CONTAINERD_RUNTIME: &[&str] = &["name", "path", "options"];
/// `[[worker.*.gcpolicy]]`.
pub(crate) const GC_POLICY: &[&str] = &[
    "all",
    "filters",
    "keepDuration",
    "keepBytes",
    "reservedSpace",
    "maxUsedSpace",
    "minFreeSpace",
];
/// The mistaken `[worker.*.gc]` table: not BuildKit's, but read to explain the mistake.
pub(crate) const SEED_GC: &[&str] = &[
    "enabled",
    "policy",
    "reservedSpace",
    "maxUsedSpace",
    "minFreeSpace",
    "keepBytes",
    "gckeepstorage",
];
/// `[registry."host"]`.
pub(crate) const REGISTRY: &[&str] = &[
    "mirrors",
    "http",
    "insecure",
    "ca",
    "keypair",
    "tlsconfigdir",
    // hearth's own: builds through hearthd use the daemon's credentials for this host.
    "daemon-credentials",
];
/// `[[registry."host".keypair]]`.
pub(crate) const KEYPAIR: &[&str] = &["key", "cert"];
/// `[dns]`.
pub(crate) const DNS: &[&str] = &["nameservers", "options", "searchDomains"];
/// `[history]`.
pub(crate) const HISTORY: &[&str] = &["maxAge", "maxEntries"];
/// `[frontend]`.
pub(crate) const FRONTEND: &[&str] = &["dockerfile.v0", "gateway.v0"];
/// `[frontend."dockerfile.v0"]`.
pub(crate) const FRONTEND_DOCKERFILE: &[&str] = &["enabled"];
/// `[frontend."gateway.v0"]`.
pub(crate) const FRONTEND_GATEWAY: &[&str] = &["enabled", "allowedRepositories"];
/// `[system]`.
pub(crate) const SYSTEM: &[&str] = &["platformsCacheMaxAge"];

/// Every section with the header users write for it, for "this key belongs under …"
/// hints. The seed-style gc table is left out: it is never the right place.
pub(crate) const SECTIONS: &[(&str, &[&str])] = &[
    ("", TOP),
    ("[log]", LOG),
    ("[grpc]", GRPC),
    ("[grpc.tls]", GRPC_TLS),
    ("[otel]", OTEL),
    ("[cdi]", CDI),
    ("[worker.oci]", OCI),
    ("[worker.containerd]", CONTAINERD),
    ("[worker.containerd.runtime]", CONTAINERD_RUNTIME),
    ("[[worker.oci.gcpolicy]]", GC_POLICY),
    ("[registry.\"<host>\"]", REGISTRY),
    ("[[registry.\"<host>\".keypair]]", KEYPAIR),
    ("[dns]", DNS),
    ("[history]", HISTORY),
    ("[frontend.\"gateway.v0\"]", FRONTEND_GATEWAY),
    ("[system]", SYSTEM),
];

/// Where `key` belongs if it is not in `here`: the first other section that has it.
pub(crate) fn home_of(key: &str, here: &[&str]) -> Option<&'static str> {
    if here.contains(&key) {
        return None;
    }
    SECTIONS
        .iter()
        .find(|(_, keys)| keys.contains(&key))
        .map(|(header, _)| *header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misplaced_keys_find_their_section() {
        assert_eq!(home_of("max-parallelism", GC_POLICY), Some("[worker.oci]"));
        assert_eq!(home_of("debug", OCI), Some(""));
        assert_eq!(home_of("mirrors", TOP), Some("[registry.\"<host>\"]"));
        assert_eq!(home_of("all", GC_POLICY), None);
        assert_eq!(home_of("nonsense", TOP), None);
    }
}
