//! Runs one build step in an OCI container, as BuildKit's runc executor does.
//!
//! The caller prepares a root filesystem (an overlay mount) and describes the process
//! and its mounts in a [`RunSpec`]. [`spec::generate`] turns that into the runtime
//! `config.json` with BuildKit's defaults (hostname `buildkitsandbox`, containerd's
//! default mounts, capabilities and masked paths); it is a pure function so every
//! default is unit-tested. [`runc::Runc`] writes the bundle, runs the OCI runtime binary,
//! streams the output and reports how the process ended. [`stubs`] removes the empty
//! files and directories the runtime creates only to mount onto, so they do not leak into
//! the image.

pub mod files;
pub mod runc;
pub mod spec;
pub mod stubs;

use std::path::PathBuf;

/// The process of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// argv.
    pub args: Vec<String>,
    /// `KEY=value` entries, in order.
    pub env: Vec<String>,
    /// Working directory inside the container.
    pub cwd: String,
    /// Numeric user.
    pub uid: u32,
    /// Numeric primary group.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
}

/// A mount inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    /// A host directory or file bind-mounted at `destination`.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Path inside the container.
        destination: String,
        /// Mount read-only.
        readonly: bool,
    },
    /// An in-memory filesystem.
    Tmpfs {
        /// Path inside the container.
        destination: String,
        /// Size limit in bytes; 0 means the kernel default.
        size: u64,
    },
}

impl MountSpec {
    /// Where the mount appears inside the container.
    pub fn destination(&self) -> &str {
        match self {
            Self::Bind { destination, .. } | Self::Tmpfs { destination, .. } => destination,
        }
    }
}

/// Network access of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// The host's network namespace (BuildKit's default without CNI).
    #[default]
    Host,
    /// A new, empty network namespace.
    None,
}

/// How much the step is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// Default capabilities, masked and read-only kernel paths.
    #[default]
    Sandbox,
    /// All capabilities and devices (`--security=insecure`, needs an entitlement).
    Insecure,
}

/// Everything needed to run one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// Container id, unique among running steps.
    pub id: String,
    /// The prepared root filesystem.
    pub rootfs: PathBuf,
    /// The process.
    pub process: ProcessSpec,
    /// Mounts besides the root, in the order they are mounted.
    pub mounts: Vec<MountSpec>,
    /// Network access.
    pub network: Network,
    /// Sandbox or insecure.
    pub security: Security,
    /// Hostname; BuildKit's is `buildkitsandbox`.
    pub hostname: String,
    /// Host file bind-mounted read-only at `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
    /// Host file bind-mounted read-only at `/etc/hosts`.
    pub hosts: PathBuf,
    /// Cgroup path for the step (`/hearth/<id>`).
    pub cgroups_path: String,
}

/// BuildKit's default hostname for build containers.
pub const DEFAULT_HOSTNAME: &str = "buildkitsandbox";
