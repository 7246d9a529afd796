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
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
