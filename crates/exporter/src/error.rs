//! Errors of exporting.

use std::path::PathBuf;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] hearth_store::StoreError),
    /// Producing a layer failed.
    #[error(transparent)]
    Layer(#[from] hearth_layer::LayerError),
    /// Writing an output failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The output.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Encoding JSON failed (a bug).
    /// A destination cannot be created or written (a path, standard output, the
    /// client's stream): the user can fix it.
    #[error("{0}")]
    Destination(String),
    /// The Docker daemon could not take the image.
    #[error(transparent)]
    Docker(#[from] crate::docker_api::DockerError),
    /// Pushing failed.
    #[error(transparent)]
    Registry(#[from] hearth_registry::RegistryError),
    /// Mounting the result to export its files failed.
    #[error(transparent)]
    Worker(#[from] hearth_worker::Error),
    /// The outputs asked for cannot be written (an image list into a store that holds
    /// single images, a push without a name).
    #[error("{0}")]
    Unsupported(String),
    /// An `--output` value that cannot be read.
    #[error("{0}")]
    Spec(String),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
    /// A document could not be encoded (a bug: they are plain data).
    #[error("encoding {what}: {source}")]
    Json {
        /// What was encoded.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl ExportError {
    /// The build-wide class of this error.
    pub fn kind(&self) -> hearth_core::ErrorKind {
        use hearth_core::ErrorKind as Kind;
        match self {
            Self::Store(e) => e.error_kind(),
            Self::Registry(e) => e.error_kind(),
            Self::Worker(e) => e.kind(),
            // A destination the user named: theirs to fix, unless the disk is full.
            Self::Io { .. } => Kind::of_chain(self, Kind::InvalidInput),
            Self::Destination(_) | Self::Unsupported(_) | Self::Spec(_) => Kind::InvalidInput,
            Self::Docker(_) => Kind::of_chain(self, Kind::Unavailable),
            Self::Layer(_) | Self::Internal(_) | Self::Json { .. } => {
                Kind::of_chain(self, Kind::Internal)
            }
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
