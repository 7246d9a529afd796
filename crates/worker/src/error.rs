//! Errors of running nodes.

use std::path::{Path, PathBuf};

/// Why a node could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] hearth_store::StoreError),
    /// A registry failed.
    #[error(transparent)]
    Registry(#[from] hearth_registry::RegistryError),
    /// Reading or writing a layer failed.
    #[error(transparent)]
    Layer(#[from] hearth_layer::LayerError),
    /// A file operation failed.
    #[error(transparent)]
    FileOp(#[from] hearth_fileops::FileOpError),
    /// Walking a build context failed (an invalid `.dockerignore`, an unreadable entry).
    #[error(transparent)]
    Context(#[from] hearth_dockerignore::walk::WalkError),
    /// The container runtime failed.
    #[error(transparent)]
    Run(#[from] hearth_executor::runc::RunError),
    /// Mounting a filesystem failed.
    #[error(transparent)]
    Mount(#[from] crate::snapshot::MountError),
    /// A file system call failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `RUN --mount` source could not be opened inside its root.
    #[error("RUN --mount source {path:?}: {cause}")]
    MountSource {
        /// The source path as the Dockerfile gave it.
        path: String,
        /// Why it could not be opened.
        cause: std::io::Error,
    },
    /// The step's working directory cannot be made inside its root filesystem.
    #[error("working dir {path} points to invalid target: {cause}")]
    Workdir {
        /// The working directory as the Dockerfile gave it.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// The step's command exited with a non-zero code. The wording is BuildKit's.
    #[error("process {command} did not complete successfully: exit code: {code}")]
    Process {
        /// The command line, quoted.
        command: String,
        /// Its exit code.
        code: i32,
    },
    /// The step's platform cannot run on this host.
    #[error(transparent)]
    Emulation(#[from] crate::emulation::EmulationError),
    /// The step needs a permission the build was not given.
    #[error("{0}")]
    Entitlement(String),
    /// A required secret was not provided.
    #[error(
        "secret {id} not found: pass it with --secret id={id},src=<file> or --secret id={id},env=<variable>"
    )]
    MissingSecret {
        /// The secret id.
        id: String,
    },
    /// A secret could not be read.
    #[error("reading secret {id}: {message}")]
    SecretUnreadable {
        /// The secret id.
        id: String,
        /// Why.
        message: String,
    },
    /// Something hearth does not do yet.
    #[error("{0}")]
    Unsupported(String),
    /// The build was cancelled while the step ran.
    #[error("cancelled")]
    Cancelled,
    /// A blocking task of the step stopped without an answer (it panicked or was aborted).
    #[error("{what} failed: {source}")]
    Task {
        /// What the task was doing.
        what: &'static str,
        /// Why it stopped.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A state the graph or the worker's own bookkeeping rules out (a bug).
    #[error("internal error: {0}")]
    Internal(String),
    /// The build names a local directory the client did not offer.
    #[error("the build has no local directory named {0:?}")]
    NoLocal(String),
    /// The client sent something a daemon build cannot use (a path outside the
    /// context, a file without content): the request is wrong.
    #[error("{0}")]
    ClientInput(String),
    /// Moving data from or to the client failed, or what it sent changed meanwhile;
    /// running the build again may work.
    #[error("{0}")]
    ClientTransfer(String),
    /// A cache key could not be computed.
    #[error("computing a cache key: {0}")]
    Key(String),
    /// A download failed.
    #[error("downloading {url}: {source}")]
    Download {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: crate::http::DownloadError,
    },
    /// The HTTP client for downloads could not be set up.
    #[error("setting up the HTTP client for ADD <url>: {0}")]
    HttpClient(String),
}

impl Error {
    /// The build-wide class of this error, so the engine, hearthd and the client can
    /// explain it without knowing the worker's variants.
    pub fn kind(&self) -> hearth_core::ErrorKind {
        use hearth_core::ErrorKind as Kind;
        match self {
            Self::Store(e) => e.error_kind(),
            Self::Registry(e) => e.error_kind(),
            Self::Layer(_)
            | Self::FileOp(_)
            | Self::Run(_)
            | Self::Mount(_)
            | Self::Io { .. }
            | Self::Emulation(_)
            | Self::Download { .. }
            | Self::HttpClient(_)
            | Self::Key(_)
            | Self::SecretUnreadable { .. }
            | Self::Task { .. }
            | Self::Internal(_) => Kind::of_chain(self, self.fallback_kind()),
            Self::MountSource { .. }
            | Self::Workdir { .. }
            | Self::Entitlement(_)
            | Self::MissingSecret { .. }
            | Self::Unsupported(_)
            | Self::NoLocal(_)
            | Self::Context(hearth_dockerignore::walk::WalkError::Pattern(_))
            | Self::ClientInput(_) => Kind::InvalidInput,
            Self::Context(_) => Kind::of_chain(self, Kind::Internal),
            Self::Process { .. } => Kind::Failed,
            Self::Cancelled => Kind::Cancelled,
            Self::ClientTransfer(_) => Kind::Unavailable,
        }
    }

    /// The kind of a wrapped failure when no exhausted resource is behind it.
    fn fallback_kind(&self) -> hearth_core::ErrorKind {
        use hearth_core::ErrorKind as Kind;
        match self {
            Self::FileOp(
                hearth_fileops::FileOpError::NotFound { .. }
                | hearth_fileops::FileOpError::NoMatch { .. },
            ) => Kind::NotFound,
            Self::FileOp(_) | Self::Emulation(_) => Kind::InvalidInput,
            Self::Download { .. } => Kind::Unavailable,
            Self::SecretUnreadable { .. } => Kind::InvalidInput,
            _ => Kind::Internal,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
