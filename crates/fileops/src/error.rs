//! The error type of every file operation.
//!
//! Paths in messages are paths *inside* the root being worked on (`/app/x`), never
//! host paths: BuildKit trims the mount point from its errors too, and users only know
//! the in-image path. Where BuildKit has a message for a failure, the same words are
//! used so that people can search for them.

use std::io;

use hearth_core::mode::ModeError;

/// Why a file operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileOpError {
    /// A source path (or a component of it) does not exist.
    ///
    /// The wording is BuildKit's checksum error (`"/missing.txt": not found`), which is
    /// what users see when a `COPY` source is missing.
    #[error("{path:?}: not found")]
    NotFound {
        /// The path inside the source root.
        path: String,
    },

    /// A wildcard matched nothing and empty matches were not allowed.
    #[error("{pattern} not found")]
    NoMatch {
        /// The source pattern.
        pattern: String,
    },

    /// The parent of the destination does not exist and the action did not ask for
    /// it to be created.
    #[error("failed to stat {path}: {source}")]
    DestinationParent {
        /// The destination as given in the action.
        path: String,
        /// Why the parent could not be examined.
        #[source]
        source: io::Error,
    },

    /// A directory was to be copied over something that is not a directory.
    #[error("cannot copy to non-directory: {path}")]
    NotADirectory {
        /// The destination path.
        path: String,
    },

    /// A non-directory was to be copied over an existing directory.
    #[error("cannot replace to directory {path} with file")]
    ReplaceDirectory {
        /// The destination path.
        path: String,
    },

    /// `rm` was given the root itself (or an empty path).
    #[error("rmPath: invalid empty path")]
    EmptyPath,

    /// An include or exclude pattern is malformed.
    #[error("invalid {kind} patterns {patterns:?}: {source}")]
    Pattern {
        /// `include` or `exclude`.
        kind: &'static str,
        /// The patterns as given.
        patterns: Vec<String>,
        /// What is wrong.
        #[source]
        source: hearth_dockerignore::Error,
    },

    /// A symbolic `--chmod` expression does not parse.
    #[error("invalid mode {expression:?}: {source}")]
    Mode {
        /// The expression.
        expression: String,
        /// What is wrong.
        #[source]
        source: ModeError,
    },

    /// A user name was not found in the image's passwd file.
    #[error("unable to find user {user}: no matching entries in passwd file {file}")]
    UserNotFound {
        /// The user as given.
        user: String,
        /// The file searched, inside the root.
        file: String,
    },

    /// A group name was not found in the image's group file.
    #[error("unable to find group {group}: no matching entries in group file {file}")]
    GroupNotFound {
        /// The group as given.
        group: String,
        /// The file searched, inside the root.
        file: String,
    },

    /// The passwd or group file could not be read (missing, a directory, a line
    /// longer than Go's scanner accepts, ...).
    #[error("unable to find {what} {name}: cannot read {file}: {source}")]
    UserDatabase {
        /// `user`, `group` or `groups for spec`.
        what: &'static str,
        /// The user or group being looked up.
        name: String,
        /// The file, inside the root.
        file: String,
        /// Why it could not be read.
        #[source]
        source: io::Error,
    },

    /// A user or group is given by name but there is no filesystem to look it up in
    /// (the base is `scratch`).
    #[error("cannot resolve {what} {name:?}: no base filesystem to read {file} from")]
    NoUserDatabase {
        /// `user` or `group`.
        what: &'static str,
        /// The name.
        name: String,
        /// The file that would have been read.
        file: &'static str,
    },

    /// A numeric id outside the range moby/sys/user accepts.
    #[error("uids and gids must be in range 0-2147483647, got {id}")]
    IdOutOfRange {
        /// The id.
        id: i64,
    },

    /// An archive being extracted by `ADD` is corrupt or has an entry hearth cannot
    /// create.
    #[error("failed to extract {path}: {message}")]
    Archive {
        /// The archive, inside the source root.
        path: String,
        /// What went wrong.
        message: String,
    },

    /// A system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`lstat`, `mkdir`, `copy`, ...).
        op: &'static str,
        /// The path, inside its root.
        path: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl FileOpError {
    /// An I/O error on `path` (already an in-root path).
    pub(crate) fn io(op: &'static str, path: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The underlying OS error, for callers that branch on `ENOENT` and friends.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Io { source, .. }
            | Self::DestinationParent { source, .. }
            | Self::UserDatabase { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
