//! The one error type of the store, with the path, digest or record each failure is about.

use std::io;
use std::path::PathBuf;

use hearth_core::Digest;

use crate::layers::LayerId;

/// Shorthand for results of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("failed to {action} {path}: {source}")]
    Io {
        /// What the store was doing, as a verb phrase ("create directory").
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another process holds the root's lock and the caller asked not to wait.
    #[error(
        "store {path} is in use by {holder}; wait for it to finish, stop it, or use a different --root"
    )]
    Locked {
        /// The store root.
        path: PathBuf,
        /// Who holds the lock, as the holder wrote it ("pid 42: hearth build .").
        holder: String,
    },
    /// The root was written with a layout this hearth does not read.
    #[error("{}", version_mismatch_message(path, found, *expected))]
    VersionMismatch {
        /// The `VERSION` file.
        path: PathBuf,
        /// What the file says, trimmed.
        found: String,
        /// The layout version this hearth writes.
        expected: u32,
    },
    /// Written content did not hash to the digest the caller expected.
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the caller asked for.
        expected: Digest,
        /// The digest of the bytes actually written.
        actual: Digest,
    },
    /// A stored blob no longer hashes to its name.
    #[error(
        "blob {digest} is corrupt: {path} does not match its digest; delete the file so it is pulled or built again"
    )]
    Corrupt {
        /// The blob's name.
        digest: Digest,
        /// Its file.
        path: PathBuf,
    },
    /// The store holds no blob with this digest.
    #[error("blob {digest} not found in the store")]
    BlobNotFound {
        /// The digest asked for.
        digest: Digest,
    },
    /// The store holds no committed layer with this id.
    #[error("layer {id} not found in the store")]
    LayerNotFound {
        /// The id asked for.
        id: LayerId,
    },
    /// The metadata database failed to open.
    #[error("failed to open metadata database {path}: {source}")]
    DbOpen {
        /// The database file.
        path: PathBuf,
        /// redb's error.
        #[source]
        source: Box<redb::DatabaseError>,
    },
    /// A metadata database operation failed.
    #[error("metadata database error: {0}")]
    Db(#[source] Box<redb::Error>),
    /// A stored record could not be encoded or decoded.
    #[error("invalid record {key:?} in table {table}: {source}")]
    Serde {
        /// The table name.
        table: &'static str,
        /// The record's key.
        key: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

/// The class of a [`StoreError`], after containerd's errdefs, so callers (and the daemon's
/// gRPC layer) can react without matching every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The blob or layer does not exist.
    NotFound,
    /// The request does not fit the content (a digest mismatch).
    InvalidArgument,
    /// The store is in a state that does not allow the operation (wrong layout version).
    FailedPrecondition,
    /// Another process owns the store.
    Unavailable,
    /// Stored data is damaged.
    DataLoss,
    /// An I/O or database failure.
    Internal,
}

impl StoreError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BlobNotFound { .. } | Self::LayerNotFound { .. } => ErrorKind::NotFound,
            Self::DigestMismatch { .. } => ErrorKind::InvalidArgument,
            Self::VersionMismatch { .. } => ErrorKind::FailedPrecondition,
            Self::Locked { .. } => ErrorKind::Unavailable,
            Self::Corrupt { .. } | Self::Serde { .. } => ErrorKind::DataLoss,
            Self::Io { .. } | Self::DbOpen { .. } | Self::Db(_) => ErrorKind::Internal,
        }
    }

    /// The build-wide class of this error: a full disk or quota is exhaustion, not a bug.
    pub fn error_kind(&self) -> hearth_core::ErrorKind {
        use hearth_core::ErrorKind as Kind;
        match self.kind() {
            ErrorKind::NotFound => Kind::NotFound,
            ErrorKind::InvalidArgument | ErrorKind::FailedPrecondition => Kind::InvalidInput,
            ErrorKind::Unavailable => Kind::Unavailable,
            ErrorKind::DataLoss | ErrorKind::Internal => Kind::of_chain(self, Kind::Internal),
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

fn version_mismatch_message(path: &std::path::Path, found: &str, expected: u32) -> String {
    let path = path.display();
    match found.parse::<u32>() {
        Ok(n) if n > expected => format!(
            "{path} says store layout version {n}, this hearth reads version {expected}: \
             the store was written by a newer hearth; use that version or a different --root"
        ),
        _ => format!(
            "{path} says store layout version {found:?}, this hearth reads version {expected}: \
             the file is not one hearth writes; move the store away or use a different --root"
        ),
    }
}

// redb has one error type per operation; they all fold into `redb::Error`, which is what
// callers see, so the store's signatures do not change when redb splits them differently.
macro_rules! from_redb {
    ($($ty:ty),*) => {$(
        impl From<$ty> for StoreError {
            fn from(e: $ty) -> Self {
                Self::Db(Box::new(e.into()))
            }
        }
    )*};
}

from_redb!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Adds the store's context to `std::io` results.
pub(crate) trait IoContext<T> {
    /// Turns an `io::Error` into [`StoreError::Io`] naming `action` and `path`.
    fn ctx(self, action: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, action: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| StoreError::io(action, path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_mismatch_messages_say_what_to_do() {
        let newer = StoreError::VersionMismatch {
            path: "/s/v1/VERSION".into(),
            found: "2".into(),
            expected: 1,
        };
        assert_eq!(
            newer.to_string(),
            "/s/v1/VERSION says store layout version 2, this hearth reads version 1: the store \
             was written by a newer hearth; use that version or a different --root"
        );
        let junk = StoreError::VersionMismatch {
            path: "/s/v1/VERSION".into(),
            found: "banana".into(),
            expected: 1,
        };
        assert_eq!(
            junk.to_string(),
            "/s/v1/VERSION says store layout version \"banana\", this hearth reads version 1: \
             the file is not one hearth writes; move the store away or use a different --root"
        );
        assert_eq!(junk.kind(), ErrorKind::FailedPrecondition);
    }

    #[test]
    fn io_errors_name_the_action_and_path() {
        let e = StoreError::io(
            "create directory",
            "/s/v1/tmp",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(
            e.to_string(),
            "failed to create directory /s/v1/tmp: permission denied"
        );
        assert_eq!(e.kind(), ErrorKind::Internal);
    }
}
