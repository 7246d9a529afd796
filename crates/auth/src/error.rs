//! The one error type of login, logout and locating the config directory.
//!
//! Every message names the file (or helper) it is about and says what to do next. None
//! ever holds a password or token: the values that reach a message are paths, hosts,
//! helper names and text written by this crate, which names fields but never quotes them.

use std::io;
use std::path::PathBuf;

/// Why reading or writing docker's credential file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Neither `DOCKER_CONFIG` nor `HOME` is set.
    #[error(
        "cannot find docker's config directory: neither DOCKER_CONFIG nor HOME is set; \
         set DOCKER_CONFIG to the directory that holds config.json"
    )]
    NoConfigDir,

    /// The file exists but could not be read.
    #[error("cannot read {}: {source}; check that it is readable by this user", path.display())]
    Read {
        /// The credential file.
        path: PathBuf,
        /// The underlying failure.
        source: io::Error,
    },

    /// The file is not JSON.
    #[error(
        "{} is not valid JSON ({reason}); fix it, or move it away to start a new one",
        path.display()
    )]
    Parse {
        /// The credential file.
        path: PathBuf,
        /// Where the syntax error is ("expected value at line 3 column 1").
        reason: String,
    },

    /// The file is JSON but a credential field has the wrong shape.
    #[error("{}: {problem}; fix the file and try again", path.display())]
    Invalid {
        /// The credential file.
        path: PathBuf,
        /// What is wrong, naming the field but not its value.
        problem: String,
    },

    /// The new file (or its directory) could not be written.
    #[error(
        "cannot write {}: {source}; check that its directory is writable by this user",
        path.display()
    )]
    Write {
        /// The file or directory that could not be written.
        path: PathBuf,
        /// The underlying failure.
        source: io::Error,
    },

    /// A credential helper failed.
    #[error(
        "cannot {action} credentials for {server} with the credential helper configured in {}: \
         {reason}",
        path.display()
    )]
    Helper {
        /// The credential file that names the helper.
        path: PathBuf,
        /// `store` or `erase`.
        action: &'static str,
        /// The server key handed to the helper.
        server: String,
        /// What went wrong (with anything the helper echoed of the password masked).
        reason: String,
    },

    /// The login request itself is incomplete (no host, user name or password).
    #[error("cannot log in to {host:?}: {problem}")]
    InvalidLogin {
        /// The registry asked for.
        host: String,
        /// What is missing.
        problem: &'static str,
    },
}
