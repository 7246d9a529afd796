//! Convenience for reading the applicable ignore file from disk; the only
//! module of this crate that performs I/O.

use std::io::ErrorKind;
use std::path::Path;

use crate::Error;
use crate::resolve::{
    CONTEXT_IGNORE_FILE, DOCKERFILE_IGNORE_SUFFIX, ResolvedIgnore, resolve_ignore,
};

/// Reads the ignore file that applies to building `dockerfile` with the
/// context at `context_dir`, then parses it with [`resolve_ignore`].
///
/// `dockerfile` is the path to the Dockerfile on disk; its sibling
/// `<file name>.dockerignore` is preferred over `<context_dir>/.dockerignore`.
/// A missing file, or a directory in its place, counts as absent, which is
/// what BuildKit makes of either.
///
/// # Errors
///
/// [`Error::Io`] if a file exists but cannot be read, and the errors of
/// [`resolve_ignore`].
pub fn read_ignore_for_build(
    context_dir: &Path,
    dockerfile: &Path,
) -> Result<ResolvedIgnore, Error> {
    // A path without a file name names no Dockerfile, so it has no
    // Dockerfile-specific ignore file either.
    let (name, dockerfile_ignore) = match dockerfile.file_name() {
        Some(file_name) => {
            let mut ignore_name = file_name.to_os_string();
            ignore_name.push(DOCKERFILE_IGNORE_SUFFIX);
            let content = read_optional(&dockerfile.with_file_name(ignore_name))?;
            (file_name.to_string_lossy().into_owned(), content)
        }
        None => (String::new(), None),
    };
    let context_ignore = read_optional(&context_dir.join(CONTEXT_IGNORE_FILE))?;
    resolve_ignore(
        &name,
        dockerfile_ignore.as_deref(),
        context_ignore.as_deref(),
    )
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(path) {
        Ok(content) => Ok(Some(content)),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory) => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.to_owned(),
            source,
        }),
    }
}
