//! hearth's daemon and client configuration file.
//!
//! The file uses BuildKit's `buildkitd.toml` syntax, so a team can point hearth at the
//! file it already has. [`parse`] reads every section BuildKit v0.24 defines into a typed
//! [`Config`] and reports [`Finding`]s, each with the key and line it concerns:
//!
//! * unknown keys (BuildKit ignores them silently; hearth warns and suggests the near
//!   miss, e.g. `maxParallelism` → `max-parallelism`);
//! * sections and settings hearth does not act on (`[worker.containerd]`, `[cdi]`, …);
//! * deprecated keys (`keepBytes`, `gckeepstorage`), honoured under their new meaning;
//! * errors where BuildKit would refuse to start: wrong value types, sizes and durations
//!   that do not parse, unknown snapshotters, and common layout mistakes such as a
//!   `[worker.oci.gc]` table, which come with the corrected TOML.
//!
//! ```
//! let loaded = hearth_config::parse(
//!     "[worker.oci]\nmax-parallelism = 4\n[[worker.oci.gcpolicy]]\nkeepBytes = \"10GB\"\n",
//!     "hearthd.toml",
//! );
//! assert!(!loaded.has_errors());
//! assert_eq!(loaded.config.worker.oci.max_parallelism, Some(4));
//! assert_eq!(
//!     loaded.render(),
//!     "hearthd.toml:4: warning: `keepBytes` is deprecated; it is now called `reservedSpace`\n  \
//!      = hint: write `reservedSpace = \"10GB\"`; it is a floor the collector never prunes \
//!      below, not a cap (use `maxUsedSpace` for a cap)"
//! );
//! ```

use std::path::{Path, PathBuf};

mod decode;
mod durations;
mod findings;
mod gc;
mod mistakes;
mod model;
mod parse;
mod registry;
mod schema;
mod sizes;
mod suggest;

pub use durations::{DurationError, parse_duration};
pub use findings::{Finding, FindingKind, Severity};
pub use gc::ResolvedGcPolicy;
pub use model::{
    Cdi, Config, ContainerdRuntime, ContainerdWorker, Dns, DockerfileFrontend, Frontends,
    GatewayFrontend, GcConfig, GcPolicy, Grpc, GrpcTls, History, KeyPair, ListenAddress, Log,
    LogFormat, Network, NetworkMode, OciWorker, Otel, Registry, Snapshotter, System, Workers,
};
pub use registry::RegistryHost;
pub use sizes::{DiskSpace, SizeError};

use findings::{Report, Sink};

/// A configuration file that could not be read at all. Everything about its content is a
/// [`Finding`] instead.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Opening or reading the file failed.
    #[error("failed to load config from {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8, so it cannot be TOML.
    #[error("failed to load config from {}: not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
}

/// A configuration and what the loader found wrong with its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The settings, as far as the file could be read; not to be used when
    /// [`Loaded::has_errors`].
    pub config: Config,
    /// Errors and warnings in file order.
    pub findings: Vec<Finding>,
    /// The file name findings are rendered with.
    pub source_name: String,
}

impl Loaded {
    /// True if any finding is an error: the daemon should refuse the file.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }

    /// All findings, one `FILE:LINE: severity: message` block each, separated by newlines.
    pub fn render(&self) -> String {
        self.findings
            .iter()
            .map(|finding| finding.render(&self.source_name))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Reads and parses the file at `path`. Content problems are findings; only a file that
/// cannot be read, a missing one included, is an error.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8 {
        path: path.to_owned(),
    })?;
    Ok(parse(&text, &path.display().to_string()))
}

/// Like [`load`], but a missing file is an empty configuration, which is what BuildKit
/// does for its default path (`LoadFile`).
pub fn load_if_exists(path: &Path) -> Result<Loaded, ConfigError> {
    match load(path) {
        Err(ConfigError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(parse("", &path.display().to_string()))
        }
        other => other,
    }
}

/// Parses configuration text. `source_name` names the file in rendered findings.
pub fn parse(text: &str, source_name: &str) -> Loaded {
    let mut sink = Sink::new(text);
    let (document, errors) = toml::de::DeTable::parse_recoverable(text);
    let config = if errors.is_empty() {
        parse::decode(&mut sink, document.get_ref())
    } else {
        for error in &errors {
            let span = error.span().unwrap_or(0..0);
            let (line, column) = sink.position(span.start);
            let hint = text.lines().nth(line - 1).and_then(mistakes::syntax_hint);
            sink.push(
                span,
                Report::error(
                    FindingKind::Syntax,
                    "",
                    format!("invalid TOML (column {column}): {}", error.message()),
                )
                .maybe_hint(hint),
            );
        }
        // What the parser recovered still gives a best-effort configuration, but checks
        // on a half-parsed document would mostly report the syntax error again.
        let mut scratch = Sink::new(text);
        parse::decode(&mut scratch, document.get_ref())
    };
    Loaded {
        config,
        findings: sink.into_findings(),
        source_name: source_name.to_owned(),
    }
}
