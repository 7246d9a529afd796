//! Errors of a build, with what the CLI needs to explain them.

use hearth_dockerfile::Diagnostics;
use hearth_graph::{Definition, SourceRange};

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The Dockerfile has errors.
    #[error("{}", .0.diagnostics)]
    Dockerfile(Box<DockerfileFailure>),
    /// A build step failed.
    #[error("{}: {}", .0.name, .0.message)]
    Step(Box<StepFailure>),
    /// An input (context, Dockerfile, .dockerignore) could not be read.
    #[error("{0}")]
    Input(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] hearth_store::StoreError),
    /// The registry client could not be set up.
    #[error(transparent)]
    Registry(#[from] hearth_registry::RegistryError),
    /// The worker could not be set up.
    #[error(transparent)]
    Worker(#[from] hearth_worker::Error),
    /// Writing an output failed.
    #[error(transparent)]
    Export(Box<hearth_exporter::ExportError>),
    /// A cache import or export failed.
    #[error(transparent)]
    Cache(Box<hearth_cache::CacheError>),
    /// The store holds no image by this name.
    #[error(
        "no image named {name} in hearth's store (see `hearth images`; build it with -t {name})"
    )]
    NoImage {
        /// The name asked for.
        name: String,
    },
    /// A stored image's layer is gone from the store.
    #[error(
        "layer {digest} of {name} is not in the store (it may have been pruned); build the image again"
    )]
    MissingLayer {
        /// The image.
        name: String,
        /// The missing layer blob.
        digest: hearth_core::Digest,
    },
    /// Loading the image into the Docker daemon (`--load`) failed.
    #[error("{0}")]
    Docker(String),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A Dockerfile that does not plan.
#[derive(Debug)]
pub struct DockerfileFailure {
    /// All of its errors and warnings.
    pub diagnostics: Diagnostics,
    /// `InvalidInput`, unless a base image could not be resolved: then that failure's
    /// class (not found, unauthorized, unavailable…).
    pub kind: hearth_core::ErrorKind,
    /// The Dockerfile, for rendering.
    pub text: String,
    /// Its name.
    pub file_name: String,
}

impl DockerfileFailure {
    /// The diagnostics with their lines, and a count: what a user is shown.
    pub fn render(&self) -> String {
        let count = self.diagnostics.errors().count();
        format!(
            "{}\n\n{count} error{} in {}",
            self.diagnostics.render(&self.file_name, &self.text),
            if count == 1 { "" } else { "s" },
            self.file_name
        )
    }
}

/// A step that failed.
#[derive(Debug)]
pub struct StepFailure {
    /// The step's progress name.
    pub name: String,
    /// What went wrong.
    pub message: String,
    /// Its class, as the worker judged it.
    pub kind: hearth_core::ErrorKind,
    /// The failing vertex.
    pub vertex: hearth_core::Digest,
    /// Dockerfile lines of the step.
    pub location: Option<SourceRange>,
    /// The Dockerfile, for rendering.
    pub text: String,
    /// Its name.
    pub file_name: String,
}

impl From<hearth_cache::CacheError> for EngineError {
    fn from(e: hearth_cache::CacheError) -> Self {
        Self::Cache(Box::new(e))
    }
}

// Boxed: an export error carries registry and Docker details, and every engine result
// would otherwise be as large.
impl From<hearth_exporter::ExportError> for EngineError {
    fn from(e: hearth_exporter::ExportError) -> Self {
        Self::Export(Box::new(e))
    }
}

impl EngineError {
    /// The build-wide class of this error, which hearthd sends as a gRPC code and the
    /// client turns into advice and an exit code.
    pub fn kind(&self) -> hearth_core::ErrorKind {
        use hearth_core::ErrorKind as Kind;
        match self {
            Self::Dockerfile(failure) => failure.kind,
            Self::Input(_) => Kind::InvalidInput,
            Self::Step(failure) => failure.kind,
            Self::Store(e) => e.error_kind(),
            Self::Registry(e) => e.error_kind(),
            Self::Worker(e) => e.kind(),
            Self::Export(e) => e.kind(),
            Self::Cache(e) => e.kind(),
            Self::NoImage { .. } | Self::MissingLayer { .. } => Kind::NotFound,
            Self::Docker(_) => Kind::Unavailable,
            Self::Internal(_) => Kind::Internal,
        }
    }

    pub(crate) fn step(
        e: hearth_solver::SolveError,
        definition: &Definition,
        text: &str,
        file_name: &str,
    ) -> Self {
        let location = definition.metadata(&e.vertex).and_then(|m| m.location);
        Self::Step(Box::new(StepFailure {
            name: e.name,
            message: e.message,
            kind: e.kind,
            vertex: e.vertex,
            location,
            text: text.to_owned(),
            file_name: file_name.to_owned(),
        }))
    }
}
