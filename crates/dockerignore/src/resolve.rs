//! Which ignore file applies to a build, following BuildKit's Dockerfile
//! frontend (`frontend/dockerui`): a `<Dockerfile>.dockerignore` beside the
//! Dockerfile wins over `.dockerignore` at the context root.
//!
//! Everything here works on file contents the caller has already read; see
//! [`crate::fs`] for a version that reads them from disk.

use crate::{Error, read_ignore_file};

/// Name of the ignore file at the root of the build context.
pub const CONTEXT_IGNORE_FILE: &str = ".dockerignore";

/// Appended to the Dockerfile's name to get its own ignore file.
pub(crate) const DOCKERFILE_IGNORE_SUFFIX: &str = ".dockerignore";

/// Where the patterns of a build came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgnoreSource {
    /// The Dockerfile-specific file; holds its name relative to the
    /// Dockerfile's directory, e.g. `Dockerfile.dockerignore`.
    Dockerfile(String),
    /// `.dockerignore` at the root of the build context.
    Context,
    /// Neither file exists, so nothing is ignored.
    Absent,
}

/// The ignore file chosen for a build and the patterns read from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedIgnore {
    /// Which file was used.
    pub source: IgnoreSource,
    /// Its patterns, ready for [`PatternMatcher::new`](crate::PatternMatcher::new).
    pub patterns: Vec<String>,
}

/// The name of the Dockerfile-specific ignore file for `dockerfile`, the
/// Dockerfile's name as given to the frontend (its `filename` option, relative
/// to the Dockerfile's directory): `Dockerfile` gives `Dockerfile.dockerignore`
/// and `sub/app.Dockerfile` gives `sub/app.Dockerfile.dockerignore`.
///
/// When BuildKit falls back to reading a lowercase `dockerfile`, it still
/// looks for `Dockerfile.dockerignore`, so no fallback applies here either.
pub fn dockerfile_ignore_name(dockerfile: &str) -> String {
    format!("{dockerfile}{DOCKERFILE_IGNORE_SUFFIX}")
}

/// Picks the ignore file and parses it.
///
/// `dockerfile_ignore` is the content of [`dockerfile_ignore_name`] in the
/// Dockerfile's directory and `context_ignore` that of
/// [`CONTEXT_IGNORE_FILE`] in the context, each `None` when the file does not
/// exist. A Dockerfile-specific file wins whenever it exists, even when it is
/// empty, as with BuildKit's built-in Dockerfile frontend.
///
/// # Errors
///
/// [`Error::IgnoreFile`] if the chosen file cannot be parsed.
pub fn resolve_ignore(
    dockerfile: &str,
    dockerfile_ignore: Option<&[u8]>,
    context_ignore: Option<&[u8]>,
) -> Result<ResolvedIgnore, Error> {
    let (source, name, content) = match (dockerfile_ignore, context_ignore) {
        (Some(content), _) => {
            let name = dockerfile_ignore_name(dockerfile);
            (IgnoreSource::Dockerfile(name.clone()), name, content)
        }
        (None, Some(content)) => (
            IgnoreSource::Context,
            CONTEXT_IGNORE_FILE.to_owned(),
            content,
        ),
        (None, None) => {
            return Ok(ResolvedIgnore {
                source: IgnoreSource::Absent,
                patterns: Vec::new(),
            });
        }
    };
    let patterns = read_ignore_file(content).map_err(|e| Error::IgnoreFile {
        name,
        source: Box::new(e),
    })?;
    Ok(ResolvedIgnore { source, patterns })
}
