//! The typed configuration: one struct per buildkitd.toml section.
//!
//! Fields hold what the file says, already checked and converted (sizes, durations,
//! addresses, enums), and nothing more: BuildKit's run-time defaults (the socket address,
//! the detected platforms, CNI paths) are the daemon's business, so an absent key is
//! `None` or empty here. Where BuildKit treats an empty string or a zero size as "not set",
//! so does the decoder, and the field is `None`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::sizes::DiskSpace;

/// hearth's daemon and client configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// `root`: where the daemon keeps its state.
    pub root: Option<PathBuf>,
    /// `debug`: debug logging.
    pub debug: bool,
    /// `trace`: trace logging (very verbose).
    pub trace: bool,
    /// `insecure-entitlements`: entitlements builds may ask for
    /// (`network.host`, `security.insecure`, `device`).
    pub insecure_entitlements: Vec<String>,
    /// `[log]`.
    pub log: Log,
    /// `[dns]`: the resolver configuration for build containers; `None` without the
    /// section, when the host's is used.
    pub dns: Option<Dns>,
    /// `[grpc]`: where the daemon listens.
    pub grpc: Grpc,
    /// `[otel]`.
    pub otel: Otel,
    /// `[cdi]`: Container Device Interface settings (hearth ignores them).
    pub cdi: Cdi,
    /// `[worker.*]`.
    pub worker: Workers,
    /// `[registry."host"]` sections, by host as written (`docker.io`, `localhost:5000`).
    pub registry: BTreeMap<String, Registry>,
    /// `[history]`: retention of the build history.
    pub history: History,
    /// `[frontend."dockerfile.v0"]` and `[frontend."gateway.v0"]`.
    pub frontend: Frontends,
    /// `[system]`.
    pub system: System,
}

impl Config {
    /// Where the daemon looks for its configuration unless told otherwise.
    pub fn default_path() -> PathBuf {
        PathBuf::from("/etc/hearth/hearthd.toml")
    }
}

/// `[log]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Log {
    /// `format`; `None` means text.
    pub format: Option<LogFormat>,
}

/// `[log] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `"text"`.
    Text,
    /// `"json"`.
    Json,
}

/// `[dns]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dns {
    /// `nameservers`.
    pub nameservers: Vec<String>,
    /// `options` (`edns0`, `ndots:2`, …).
    pub options: Vec<String>,
    /// `searchDomains`.
    pub search_domains: Vec<String>,
}

/// `[grpc]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grpc {
    /// `address`: the listening sockets, in order.
    pub address: Vec<ListenAddress>,
    /// `debugAddress`: `host:port` for the debug HTTP endpoint.
    pub debug_address: Option<String>,
    /// `uid`: owner of unix sockets.
    pub uid: Option<u32>,
    /// `gid`: group of unix sockets.
    pub gid: Option<u32>,
    /// `securityDescriptor`: Windows named-pipe ACL (hearth ignores it).
    pub security_descriptor: Option<String>,
    /// `[grpc.tls]`.
    pub tls: GrpcTls,
}

/// One `[grpc] address` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// `unix:///run/hearth/hearthd.sock`.
    Unix(PathBuf),
    /// `tcp://0.0.0.0:1234`: the `host:port` part.
    Tcp(String),
}

/// `[grpc.tls]`: PEM files for the TCP listeners.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrpcTls {
    /// `cert`.
    pub cert: Option<PathBuf>,
    /// `key`.
    pub key: Option<PathBuf>,
    /// `ca`: clients must present a certificate signed by it.
    pub ca: Option<PathBuf>,
}

/// `[otel]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Otel {
    /// `socketPath`: where the daemon accepts OpenTelemetry traces from clients.
    pub socket_path: Option<PathBuf>,
}

/// `[cdi]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cdi {
    /// `disabled`.
    pub disabled: Option<bool>,
    /// `specDirs`.
    pub spec_dirs: Vec<PathBuf>,
    /// `autoAllowed`: devices builds may use without asking.
    pub auto_allowed: Vec<String>,
}

/// `[worker.oci]` and `[worker.containerd]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workers {
    /// `[worker.oci]`, hearth's worker.
    pub oci: OciWorker,
    /// `[worker.containerd]`, read so that its mistakes are reported; hearth has no
    /// containerd worker. `None` without the section.
    pub containerd: Option<ContainerdWorker>,
}

/// `[worker.oci]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OciWorker {
    /// `enabled`; `None` means enabled.
    pub enabled: Option<bool>,
    /// `labels`: extra worker labels.
    pub labels: BTreeMap<String, String>,
    /// `platforms`; `None` means detect them.
    pub platforms: Option<Vec<String>>,
    /// `snapshotter`.
    pub snapshotter: Snapshotter,
    /// `rootless`.
    pub rootless: bool,
    /// `noProcessSandbox`: run steps in the daemon's PID namespace.
    pub no_process_sandbox: bool,
    /// `gc`, `gckeepstorage`, `reservedSpace`, `maxUsedSpace`, `minFreeSpace`,
    /// `[[gcpolicy]]`.
    pub gc: GcConfig,
    /// `networkMode`, `cniConfigPath`, `cniBinaryPath`, `cniPoolSize`, `bridgeName`,
    /// `bridgeSubnet`.
    pub network: Network,
    /// `binary`: the OCI runtime to run instead of `runc`.
    pub binary: Option<String>,
    /// `apparmor-profile`: an already loaded profile for build containers.
    pub apparmor_profile: Option<String>,
    /// `selinux`: apply SELinux labels.
    pub selinux: bool,
    /// `max-parallelism`: at most this many steps at once; `None` means no limit.
    pub max_parallelism: Option<u32>,
    /// `defaultCgroupParent`.
    pub default_cgroup_parent: Option<String>,
}

/// `[worker.oci] snapshotter`: the ones hearth has. BuildKit's others (`fuse-overlayfs`,
/// `stargz`) are reported and read as [`Snapshotter::Auto`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Snapshotter {
    /// `"auto"` (or unset): overlayfs where the root's filesystem supports it, else native.
    #[default]
    Auto,
    /// `"overlayfs"`.
    Overlayfs,
    /// `"native"`: plain copies.
    Native,
}

/// The garbage-collection settings of a worker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GcConfig {
    /// `gc`; `None` means enabled.
    pub enabled: Option<bool>,
    /// `reservedSpace` (or the deprecated `gckeepstorage` when none of the three
    /// worker-level sizes is set): feeds the default policies only.
    pub reserved_space: Option<DiskSpace>,
    /// `maxUsedSpace`: feeds the default policies only.
    pub max_used_space: Option<DiskSpace>,
    /// `minFreeSpace`: feeds the default policies only.
    pub min_free_space: Option<DiskSpace>,
    /// `[[gcpolicy]]`, in order; empty means BuildKit's default policies.
    pub policies: Vec<GcPolicy>,
}

/// One `[[worker.oci.gcpolicy]]`: a prune pass the collector runs in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcPolicy {
    /// `all`: also remove internal and shared records.
    pub all: bool,
    /// `keepDuration`: keep records used more recently than this.
    pub keep_duration: Option<Duration>,
    /// `filters`: containerd-style filters (`type==source.local`).
    pub filters: Vec<String>,
    /// `reservedSpace` (or the deprecated `keepBytes`): never prune below this.
    pub reserved_space: Option<DiskSpace>,
    /// `maxUsedSpace`: prune down to this.
    pub max_used_space: Option<DiskSpace>,
    /// `minFreeSpace`: prune until the disk has this much free.
    pub min_free_space: Option<DiskSpace>,
}

/// A worker's network settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// `networkMode`.
    pub mode: NetworkMode,
    /// `cniConfigPath`.
    pub cni_config_path: Option<PathBuf>,
    /// `cniBinaryPath`.
    pub cni_binary_path: Option<PathBuf>,
    /// `cniPoolSize`: pre-created network namespaces.
    pub cni_pool_size: Option<u32>,
    /// `bridgeName`.
    pub bridge_name: Option<String>,
    /// `bridgeSubnet`.
    pub bridge_subnet: Option<String>,
}

/// `networkMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// `"auto"` (or unset).
    #[default]
    Auto,
    /// `"cni"`.
    Cni,
    /// `"host"`.
    Host,
    /// `"bridge"`.
    Bridge,
}

/// `[worker.containerd]`, kept as written; hearth does not run it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerdWorker {
    /// `address`: containerd's socket.
    pub address: Option<String>,
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `platforms`.
    pub platforms: Option<Vec<String>>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `[worker.containerd.runtime]`.
    pub runtime: ContainerdRuntime,
    /// The garbage-collection settings.
    pub gc: GcConfig,
    /// The network settings.
    pub network: Network,
    /// `snapshotter`: a containerd snapshotter plugin name.
    pub snapshotter: Option<String>,
    /// `apparmor-profile`.
    pub apparmor_profile: Option<String>,
    /// `selinux`.
    pub selinux: bool,
    /// `max-parallelism`.
    pub max_parallelism: Option<u32>,
    /// `defaultCgroupParent`.
    pub default_cgroup_parent: Option<String>,
    /// `rootless`.
    pub rootless: bool,
}

/// `[worker.containerd.runtime]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerdRuntime {
    /// `name`: `io.containerd.runc.v2`.
    pub name: Option<String>,
    /// `path`: the shim binary.
    pub path: Option<String>,
    /// `options`: free-form runtime options.
    pub options: toml::Table,
}

/// `[registry."host"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    /// `mirrors`: `host[:port][/path]`, tried before the host itself.
    pub mirrors: Vec<String>,
    /// `http`: plain HTTP; `None` means "only for localhost", BuildKit's default.
    pub http: Option<bool>,
    /// `insecure`: HTTPS without certificate verification.
    pub insecure: Option<bool>,
    /// `ca`: extra root certificates.
    pub ca: Vec<PathBuf>,
    /// `[[keypair]]`: client certificates.
    pub keypair: Vec<KeyPair>,
    /// `tlsconfigdir`: directories of `*.crt` (roots) and `*.cert`/`*.key` (client
    /// pairs), read when the registry is used.
    pub tls_config_dir: Vec<PathBuf>,
    /// `daemon-credentials` (a hearth extension): builds through hearthd use the
    /// daemon's own docker login for this host (before asking the client) instead of
    /// only the client's. Off by default.
    pub daemon_credentials: bool,
}

/// `[[registry."host".keypair]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPair {
    /// `key`: the private key (PEM).
    pub key: PathBuf,
    /// `cert`: the certificate (PEM).
    pub cert: PathBuf,
}

/// `[history]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// `maxAge`: drop records older than this.
    pub max_age: Option<Duration>,
    /// `maxEntries`: keep at most this many records.
    pub max_entries: Option<u64>,
}

/// `[frontend.*]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontends {
    /// `[frontend."dockerfile.v0"]`.
    pub dockerfile: DockerfileFrontend,
    /// `[frontend."gateway.v0"]`.
    pub gateway: GatewayFrontend,
}

/// `[frontend."dockerfile.v0"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerfileFrontend {
    /// `enabled`; `None` means enabled.
    pub enabled: Option<bool>,
}

/// `[frontend."gateway.v0"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayFrontend {
    /// `enabled`; `None` means enabled.
    pub enabled: Option<bool>,
    /// `allowedRepositories`: frontend images builds may use; empty allows all.
    pub allowed_repositories: Vec<String>,
}

/// `[system]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct System {
    /// `platformsCacheMaxAge`: how often emulated platforms are rescanned.
    pub platforms_cache_max_age: Option<Duration>,
}
