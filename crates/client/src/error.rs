//! Errors of the client side of a build.

use std::path::PathBuf;

/// Why listing a context or completing an output failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The context cannot be walked (an invalid `.dockerignore`, an unreadable entry).
    #[error("reading the build context: {0}")]
    Context(#[from] hearth_dockerignore::walk::WalkError),
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An output's destination failed, or what the daemon sent is not what it should be.
    #[error("{0}")]
    Output(String),
    /// Writing an output through the exporter failed.
    #[error(transparent)]
    Export(#[from] hearth_exporter::ExportError),
    /// The daemon cannot be reached.
    #[error(transparent)]
    Connect(#[from] hearth_api::ConnectError),
    /// The daemon answered but not as this client needs (another API version, no info).
    #[error("{0}")]
    Daemon(String),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ClientError {
    /// The class of the failure, for the exit code and advice the user gets.
    pub fn kind(&self) -> hearth_core::ErrorKind {
        use hearth_core::ErrorKind as Kind;
        match self {
            Self::Context(hearth_dockerignore::walk::WalkError::Pattern(_)) => Kind::InvalidInput,
            // The user's own files or destinations: theirs to fix, unless the disk is full.
            Self::Context(_) | Self::Io { .. } | Self::Output(_) => {
                Kind::of_chain(self, Kind::InvalidInput)
            }
            Self::Export(e) => e.kind(),
            Self::Connect(e) => e.kind(),
            Self::Daemon(_) => Kind::Unavailable,
            Self::Internal(_) => Kind::Internal,
        }
    }
}
