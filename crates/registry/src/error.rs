//! The registry client's one error type, with the reference or host each failure is about.
//!
//! Messages are lowercase and say what to do next; they never contain credentials or
//! tokens (those live in [`crate::Secret`], which prints as `****`). Where containerd or
//! BuildKit has words for a failure ("pull access denied", "no match for platform in
//! manifest"), the same words are used so users can search for them.

use std::fmt;

use hearth_core::Digest;

/// One endpoint that was tried and why it did not serve the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The endpoint, as `host[:port][/prefix]`.
    pub endpoint: String,
    /// A short reason: `404 manifest unknown`, `connection refused`, …
    pub reason: String,
}

/// The endpoints tried for one request, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tried(pub Vec<Attempt>);

impl fmt::Display for Tried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried ")?;
        for (i, attempt) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} ({})", attempt.endpoint, attempt.reason)?;
        }
        Ok(())
    }
}

/// The class of a failure, after containerd's `errdefs`, so callers can decide without
/// matching on every variant (retry on `Unavailable`, report `NotFound` as user error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The image, tag, blob or platform does not exist.
    NotFound,
    /// The reference or configuration is malformed.
    InvalidArgument,
    /// The registry refused the credentials (or their absence).
    PermissionDenied,
    /// The registry could not be reached or answered with a server error.
    Unavailable,
    /// Content did not match its digest or size.
    DataLoss,
    /// The registry answered something this client cannot use.
    FailedPrecondition,
    /// Writing to the caller's sink failed.
    Internal,
}

/// Everything that can go wrong while pulling from a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The reference is not a valid image reference.
    #[error("invalid reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// Why it is invalid.
        reason: String,
    },
    /// No endpoint has the manifest or blob.
    #[error("{reference}: not found: {tried}")]
    NotFound {
        /// The reference (or `repository@digest` for a blob).
        reference: String,
        /// Each endpoint tried and what it answered.
        tried: Tried,
    },
    /// The registry refused access, with or without credentials.
    #[error("{host}: {detail}; {hint}")]
    Unauthorized {
        /// The registry host (as users log in to it).
        host: String,
        /// What the registry said.
        detail: String,
        /// How to fix it, naming the login command.
        hint: String,
    },
    /// The credential source could not answer for a host that challenged (a daemon's
    /// client went away or did not answer in time). Not the same as having none.
    #[error("{host}: could not get credentials: {message}")]
    Credentials {
        /// The registry host whose credentials were asked for.
        host: String,
        /// Why the source could not answer.
        message: String,
    },
    /// An index has no manifest for the wanted platform.
    #[error("{reference}: no match for platform {wanted} in manifest: the image has {}", available_list(.available))]
    PlatformNotFound {
        /// The reference that resolved to the index.
        reference: String,
        /// The wanted platform, formatted.
        wanted: String,
        /// The platforms the index offers, formatted.
        available: Vec<String>,
    },
    /// Content hashed to a different digest than expected.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// Content had a different size than its descriptor says.
    #[error("{digest}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob's digest.
        digest: Digest,
        /// The size in the descriptor.
        expected: u64,
        /// The bytes received (stops counting once past `expected`).
        actual: u64,
    },
    /// The registry answered with an unexpected status or a malformed document.
    #[error("{host}: unexpected response (status {status}): {detail}")]
    BadResponse {
        /// The endpoint host.
        host: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error message or what was wrong with the body.
        detail: String,
    },
    /// The endpoint answered with an HTML page, typically a proxy or captive portal login.
    #[error(
        "{host}: the endpoint answered with an html page instead of a registry response (is a proxy or login page in the way?): {url}"
    )]
    Html {
        /// The endpoint host.
        host: String,
        /// The URL that returned HTML.
        url: String,
    },
    /// The manifest's media type is not supported.
    #[error("{reference}: {detail}")]
    Unsupported {
        /// The reference being resolved.
        reference: String,
        /// The media type and what to do about it.
        detail: String,
    },
    /// The connection failed (refused, reset, timed out, TLS) on every attempt.
    #[error("{host}: {message}")]
    Transport {
        /// The endpoint host, or the registry name when several endpoints failed.
        host: String,
        /// What failed; lists each endpoint when several were tried.
        message: String,
    },
    /// The registry configuration cannot be used (unreadable CA or key pair).
    #[error("registry configuration for {host}: {message}")]
    Config {
        /// The configuration section.
        host: String,
        /// What is wrong.
        message: String,
    },
    /// A local blob to upload could not be read.
    #[error("{host}: failed to read {} for upload: {source}", path.display())]
    Source {
        /// The registry being pushed to.
        host: String,
        /// The file.
        path: std::path::PathBuf,
        /// The read error.
        source: std::io::Error,
    },
    /// A push failed; `note` says what state the registry is left in.
    #[error("failed to push {reference}: {source}; {note}")]
    Push {
        /// The reference being pushed.
        reference: String,
        /// What failed.
        source: Box<RegistryError>,
        /// What was (not) written and what to do.
        note: String,
    },
    /// The caller's sink refused a write.
    #[error("failed to write blob {digest}: {source}")]
    Sink {
        /// The blob being written.
        digest: Digest,
        /// The write error.
        source: std::io::Error,
    },
}

fn available_list(available: &[String]) -> String {
    if available.is_empty() {
        "no platform entries".to_owned()
    } else {
        available.join(", ")
    }
}

impl RegistryError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::InvalidReference { .. } | RegistryError::Config { .. } => {
                ErrorKind::InvalidArgument
            }
            RegistryError::NotFound { .. } | RegistryError::PlatformNotFound { .. } => {
                ErrorKind::NotFound
            }
            RegistryError::Unauthorized { .. } => ErrorKind::PermissionDenied,
            RegistryError::Credentials { .. } => ErrorKind::Unavailable,
            RegistryError::DigestMismatch { .. } | RegistryError::SizeMismatch { .. } => {
                ErrorKind::DataLoss
            }
            RegistryError::BadResponse { status, .. } if *status >= 500 || *status == 429 => {
                ErrorKind::Unavailable
            }
            RegistryError::Transport { .. } => ErrorKind::Unavailable,
            RegistryError::BadResponse { .. }
            | RegistryError::Html { .. }
            | RegistryError::Unsupported { .. } => ErrorKind::FailedPrecondition,
            RegistryError::Sink { .. } | RegistryError::Source { .. } => ErrorKind::Internal,
            RegistryError::Push { source, .. } => source.kind(),
        }
    }

    /// The build-wide class of this error. Content that does not match its digest and
    /// answers this client cannot use are the registry's fault: unavailable, not a bug
    /// of hearth's; a local write that ran out of space is exhaustion.
    pub fn error_kind(&self) -> hearth_core::ErrorKind {
        use hearth_core::ErrorKind as Kind;
        match self {
            RegistryError::Push { source, .. } => return source.error_kind(),
            // The image exists but is of a kind hearth cannot build on.
            RegistryError::Unsupported { .. } => return Kind::InvalidInput,
            _ => {}
        }
        match self.kind() {
            ErrorKind::NotFound => Kind::NotFound,
            ErrorKind::InvalidArgument => Kind::InvalidInput,
            ErrorKind::PermissionDenied => Kind::Unauthorized,
            ErrorKind::Unavailable | ErrorKind::DataLoss | ErrorKind::FailedPrecondition => {
                Kind::Unavailable
            }
            ErrorKind::Internal => Kind::of_chain(self, Kind::Internal),
        }
    }

    /// How relevant this error is when several endpoints failed: the most relevant one is
    /// reported, as containerd's resolver does (a refusal or bad answer beats "not found",
    /// which beats "unreachable").
    pub(crate) fn relevance(&self) -> u8 {
        match self {
            RegistryError::Transport { .. } => 1,
            RegistryError::BadResponse { status, .. } if *status >= 500 => 1,
            RegistryError::NotFound { .. } => 2,
            _ => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_lists_every_endpoint() {
        let err = RegistryError::NotFound {
            reference: "docker.io/library/busybox:latest".into(),
            tried: Tried(vec![
                Attempt {
                    endpoint: "127.0.0.1:5000".into(),
                    reason: "404 manifest unknown".into(),
                },
                Attempt {
                    endpoint: "registry-1.docker.io".into(),
                    reason: "connection refused".into(),
                },
            ]),
        };
        assert_eq!(
            err.to_string(),
            "docker.io/library/busybox:latest: not found: tried 127.0.0.1:5000 (404 manifest unknown), registry-1.docker.io (connection refused)"
        );
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn platform_not_found_names_what_the_index_has() {
        let err = RegistryError::PlatformNotFound {
            reference: "r:1".into(),
            wanted: "linux/s390x".into(),
            available: vec!["linux/amd64".into(), "linux/arm64".into()],
        };
        assert_eq!(
            err.to_string(),
            "r:1: no match for platform linux/s390x in manifest: the image has linux/amd64, linux/arm64"
        );
    }
}
