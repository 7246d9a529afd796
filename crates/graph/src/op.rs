//! The operations a build graph node can perform, as plain data.
//!
//! Every type here serialises deterministically (no hash maps), because the serialised
//! form is what node digests are computed from.

use hearth_core::{Digest, Platform};
use serde::{Deserialize, Serialize};

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Produces a filesystem from outside the graph.
    Source(SourceOp),
    /// Runs a command in a container.
    Exec(ExecOp),
    /// Applies file actions to a base filesystem.
    File(FileOp),
    /// Stacks its inputs' filesystems, later inputs on top.
    Merge(MergeOp),
}

/// Where a source's files come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum SourceOp {
    /// A registry image, by normalised reference (pinned with `@sha256:` once resolved).
    Image(ImageSource),
    /// Files sent by the client (the build context), filtered.
    Local(LocalSource),
    /// One file downloaded over HTTP(S).
    Http(HttpSource),
    /// A git repository checkout.
    Git(GitSource),
}

/// A registry image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSource {
    /// Fully qualified reference, e.g. `docker.io/library/busybox:latest`.
    pub reference: String,
    /// The platform to pick from an index.
    pub platform: Platform,
}

/// Files from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalSource {
    /// Which local directory of the session (`context`, `dockerfile`).
    pub name: String,
    /// Only these paths (and their parents) are needed; empty means everything.
    pub follow_paths: Vec<String>,
    /// `.dockerignore` patterns, in file order.
    pub exclude_patterns: Vec<String>,
}

/// A file downloaded over HTTP(S).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSource {
    /// The URL.
    pub url: String,
    /// The expected digest of the body, when pinned with `ADD --checksum`.
    pub checksum: Option<Digest>,
    /// Name of the single file the source produces.
    pub filename: String,
}

/// A git checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitSource {
    /// Remote URL.
    pub remote: String,
    /// Branch, tag or commit; empty means the default branch.
    pub reference: String,
    /// Keep the `.git` directory.
    pub keep_git_dir: bool,
    /// Only this subdirectory of the checkout.
    pub subdir: String,
    /// Expected commit, when pinned.
    pub checksum: String,
}

/// A command run in a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOp {
    /// Process settings.
    pub meta: ExecMeta,
    /// Mounts sorted by target; the root mount (`/`) is output 0.
    pub mounts: Vec<Mount>,
    /// Network access.
    pub network: NetworkMode,
    /// Sandbox or insecure (privileged).
    pub security: SecurityMode,
    /// Secrets exposed as environment variables.
    pub secret_env: Vec<SecretEnv>,
}

/// Process settings of an exec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecMeta {
    /// argv.
    pub args: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// `user[:group]` by name or id, resolved inside the rootfs; empty means root.
    pub user: String,
    /// Proxy settings passed from `--build-arg http_proxy=…`; they reach the process
    /// but never the cache key.
    pub proxy_env: Vec<String>,
}

/// Network mode of an exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// The worker's default (sandboxed network with outbound access).
    #[default]
    Default,
    /// No network.
    None,
    /// The host's network; needs the `network.host` entitlement.
    Host,
}

/// Security mode of an exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityMode {
    /// The default sandbox.
    #[default]
    Sandbox,
    /// All capabilities; needs the `security.insecure` entitlement.
    Insecure,
}

/// One mount of an exec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Index into the node's inputs; `None` mounts an empty directory.
    pub input: Option<u32>,
    /// Absolute path inside the container.
    pub target: String,
    /// Subpath of the input to mount; `/` is the whole input.
    pub selector: String,
    /// Read-only.
    pub readonly: bool,
    /// Which node output this mount's final state becomes; `None` discards writes.
    pub output: Option<u32>,
    /// Kind-specific settings.
    pub kind: MountKind,
}

/// What kind of mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MountKind {
    /// A snapshot of the input.
    Bind,
    /// A persistent cache directory shared across builds.
    Cache {
        /// Cache id (defaults to the target path).
        id: String,
        /// How concurrent builds share it.
        sharing: CacheSharing,
    },
    /// An in-memory filesystem.
    Tmpfs {
        /// Size limit in bytes; 0 means the kernel default.
        size: u64,
    },
    /// A secret file.
    Secret(SecretMount),
    /// An SSH agent socket.
    Ssh(SshMount),
}

/// How a cache mount is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheSharing {
    /// Concurrent writers use the same directory.
    #[default]
    Shared,
    /// Each concurrent writer gets its own directory.
    Private,
    /// Writers wait for each other.
    Locked,
}

/// A secret mounted as a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMount {
    /// Secret id.
    pub id: String,
    /// Missing secrets are skipped instead of failing the build.
    pub optional: bool,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// File mode.
    pub mode: u32,
}

/// An SSH agent socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshMount {
    /// Agent id (`default` unless named).
    pub id: String,
    /// Missing agents are skipped instead of failing the build.
    pub optional: bool,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Socket mode.
    pub mode: u32,
}

/// A secret exposed as an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretEnv {
    /// Secret id.
    pub id: String,
    /// Variable name.
    pub name: String,
    /// Missing secrets are skipped instead of failing the build.
    pub optional: bool,
}

/// File actions applied in order to a base filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOp {
    /// Index into the node's inputs of the base; `None` starts from an empty filesystem.
    pub base: Option<u32>,
    /// Actions, applied in order.
    pub actions: Vec<FileAction>,
}

/// One file action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FileAction {
    /// Copy from another input.
    Copy(CopyAction),
    /// Create a directory.
    Mkdir(MkdirAction),
    /// Create a file with given contents.
    Mkfile(MkfileAction),
    /// Remove a path.
    Rm(RmAction),
}

/// Copy paths from an input into the base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyAction {
    /// Index into the node's inputs of the source; `None` is an empty filesystem.
    pub source: Option<u32>,
    /// Source path (may contain wildcards when allowed).
    pub src: String,
    /// Destination path; a trailing `/` means "into this directory".
    pub dest: String,
    /// Owner of the copied files; `None` keeps the source's owners.
    pub owner: Option<Chown>,
    /// Mode of the copied files; `None` keeps the source's modes.
    pub mode: Option<Chmod>,
    /// Follow a symlink named by `src` itself.
    pub follow_symlinks: bool,
    /// Copy a directory's contents, not the directory.
    pub dir_contents_only: bool,
    /// Only paths matching these patterns (relative to `src`).
    pub include_patterns: Vec<String>,
    /// Skip paths matching these patterns.
    pub exclude_patterns: Vec<String>,
    /// Extract tar archives (`ADD`).
    pub attempt_unpack: bool,
    /// Create missing parent directories of `dest`.
    pub create_dest_path: bool,
    /// Expand wildcards in `src`.
    pub allow_wildcard: bool,
    /// A wildcard that matches nothing is not an error.
    pub allow_empty_wildcard: bool,
}

/// Create a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MkdirAction {
    /// Absolute path.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Create missing parents.
    pub make_parents: bool,
    /// Owner; `None` is root.
    pub owner: Option<Chown>,
}

/// Create a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MkfileAction {
    /// Absolute path.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Contents.
    pub data: String,
    /// Owner; `None` is root.
    pub owner: Option<Chown>,
}

/// Remove a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RmAction {
    /// Absolute path (may contain wildcards when allowed).
    pub path: String,
    /// A missing path is not an error.
    pub allow_not_found: bool,
    /// Expand wildcards in `path`.
    pub allow_wildcard: bool,
}

/// An owner for created files, resolved against the base filesystem's
/// `/etc/passwd` and `/etc/group` when given by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chown {
    /// User; `None` is root.
    pub user: Option<UserRef>,
    /// Group; `None` means the user's primary group (or the uid when numeric).
    pub group: Option<UserRef>,
}

/// A user or group, by id or by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRef {
    /// Numeric id.
    Id(u32),
    /// Name to look up.
    Name(String),
}

/// A mode for copied files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chmod {
    /// Octal permission bits (at most 0o7777).
    Octal(u32),
    /// A symbolic expression such as `u+x,g-w`, applied per file.
    Symbolic(String),
}

/// Merge inputs, later ones on top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeOp {}

/// Lines of the Dockerfile a node came from, 1-based and inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRange {
    /// First line.
    pub start: u32,
    /// Last line.
    pub end: u32,
}

/// What a node is called and where it came from. Not part of the node digest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeMetadata {
    /// Progress name, e.g. `[build 2/4] RUN make`.
    pub name: String,
    /// The Dockerfile instruction as written.
    pub command: String,
    /// Always re-run (`--no-cache`, `--no-cache-filter`).
    pub ignore_cache: bool,
    /// Lines in the Dockerfile.
    pub location: Option<SourceRange>,
    /// Internal helper steps are not shown as numbered steps.
    pub internal: bool,
}
