//! The classes of failure every layer agrees on, so a client can tell a bad Dockerfile
//! from a full disk from a daemon bug without matching on each crate's error variants.
//!
//! The set follows containerd's `errdefs` and gRPC's codes, reduced to what a user acts
//! on differently: fix the input, fetch or name something else, log in, free space,
//! retry later, or report a bug.

use std::fmt;
use std::io;

/// What kind of failure an error is, as a user would act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is wrong: a Dockerfile, context, option or reference the user gave.
    InvalidInput,
    /// Something the request names does not exist (an image, a tag, a platform, a file).
    NotFound,
    /// A build step ran and failed (its command exited non-zero): the build's own
    /// failure, not hearth's.
    Failed,
    /// Credentials were missing or refused.
    Unauthorized,
    /// A resource ran out: disk space, quota, memory.
    ResourceExhausted,
    /// A service (a registry, the daemon, a store held by another process) cannot be
    /// reached or used now; retrying later may work.
    Unavailable,
    /// The build was cancelled before it finished.
    Cancelled,
    /// A failure the user cannot fix: a bug, a broken invariant, an unexpected system error.
    Internal,
}

impl ErrorKind {
    /// Every kind, for exhaustive tables and tests.
    pub const ALL: [Self; 8] = [
        Self::InvalidInput,
        Self::Failed,
        Self::NotFound,
        Self::Unauthorized,
        Self::ResourceExhausted,
        Self::Unavailable,
        Self::Cancelled,
        Self::Internal,
    ];

    /// The kind of an operating-system error: running out of space or quota is not a
    /// bug, a missing file is not found, a refused permission is the caller's to fix.
    pub fn of_io(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound => Self::NotFound,
            io::ErrorKind::StorageFull
            | io::ErrorKind::QuotaExceeded
            | io::ErrorKind::OutOfMemory => Self::ResourceExhausted,
            io::ErrorKind::Interrupted => Self::Cancelled,
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => Self::InvalidInput,
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::TimedOut => Self::Unavailable,
            _ => Self::Internal,
        }
    }

    /// `ResourceExhausted` when an operating-system error anywhere in `err`'s source chain
    /// says space, quota or memory ran out; otherwise `fallback`. Layers that wrap I/O in
    /// their own errors use this so a full disk is never reported as a bug.
    pub fn of_chain(err: &(dyn std::error::Error + 'static), fallback: Self) -> Self {
        let mut next = Some(err);
        while let Some(current) = next {
            if let Some(io) = current.downcast_ref::<io::Error>()
                && Self::of_io(io) == Self::ResourceExhausted
            {
                return Self::ResourceExhausted;
            }
            next = current.source();
        }
        fallback
    }

    /// A short lowercase name, as logs and messages show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid input",
            Self::NotFound => "not found",
            Self::Failed => "step failed",
            Self::Unauthorized => "unauthorized",
            Self::ResourceExhausted => "resource exhausted",
            Self::Unavailable => "unavailable",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_exhaustion_not_a_bug() {
        let enospc = io::Error::from_raw_os_error(28);
        let edquot = io::Error::from_raw_os_error(122);
        assert_eq!(ErrorKind::of_io(&enospc), ErrorKind::ResourceExhausted);
        assert_eq!(ErrorKind::of_io(&edquot), ErrorKind::ResourceExhausted);
        let eio = io::Error::from_raw_os_error(5);
        assert_eq!(ErrorKind::of_io(&eio), ErrorKind::Internal);
        let missing = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(ErrorKind::of_io(&missing), ErrorKind::NotFound);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("writing a layer")]
    struct Wrapper(#[source] io::Error);

    #[test]
    fn a_full_disk_is_found_under_wrapping_errors() {
        let wrapped = Wrapper(io::Error::from_raw_os_error(28));
        assert_eq!(
            ErrorKind::of_chain(&wrapped, ErrorKind::Internal),
            ErrorKind::ResourceExhausted
        );
        let other = Wrapper(io::Error::from_raw_os_error(5));
        assert_eq!(
            ErrorKind::of_chain(&other, ErrorKind::Internal),
            ErrorKind::Internal
        );
    }
}
