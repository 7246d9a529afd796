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
    /// The daemon cannot be reached or does not speak this client's API.
    #[error("{0}")]
    Daemon(String),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}
