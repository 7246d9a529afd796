//! Errors of cache imports and exports.

/// Why a cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] hearth_store::StoreError),
    /// A registry failed.
    #[error(transparent)]
    Registry(#[from] hearth_registry::RegistryError),
    /// The worker failed (fetching or unpacking a cached layer).
    #[error(transparent)]
    Worker(#[from] hearth_worker::Error),
    /// Exporting a layer's blob failed.
    #[error(transparent)]
    Export(#[from] hearth_exporter::ExportError),
    /// A cache that is not what its name says (an unreadable manifest or config, a flag
    /// naming nothing): the user's to fix.
    #[error("{0}")]
    Invalid(String),
    /// A cache directory could not be written.
    #[error("writing the cache to {dir}: {what} {path}: {source}")]
    Write {
        /// The cache directory.
        dir: std::path::PathBuf,
        /// What was being done.
        what: String,
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CacheError {
    /// The class of the failure.
    pub fn kind(&self) -> hearth_core::ErrorKind {
        use hearth_core::ErrorKind as Kind;
        match self {
            Self::Store(e) => e.error_kind(),
            Self::Registry(e) => e.error_kind(),
            Self::Worker(e) => e.kind(),
            Self::Export(e) => e.kind(),
            Self::Invalid(_) => Kind::InvalidInput,
            // A directory the user named: theirs to fix, unless the disk is full.
            Self::Write { .. } => Kind::of_chain(self, Kind::InvalidInput),
            Self::Internal(_) => Kind::Internal,
        }
    }
}
