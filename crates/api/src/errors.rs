//! The one place where hearth's failure classes ([`ErrorKind`]) meet gRPC status codes:
//! hearthd turns a kind into a code for a `Status` or a `BuildFailure`, the client turns
//! the code back into the kind it explains and exits with.

use hearth_core::ErrorKind;
use tonic::{Code, Status};

/// The gRPC code hearthd sends for a failure of `kind`.
pub fn code_of(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidInput => Code::InvalidArgument,
        ErrorKind::NotFound => Code::NotFound,
        // BuildKit reports a failed process as Unknown too.
        ErrorKind::Failed => Code::Unknown,
        ErrorKind::Unauthorized => Code::Unauthenticated,
        ErrorKind::ResourceExhausted => Code::ResourceExhausted,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Cancelled => Code::Cancelled,
        ErrorKind::Internal => Code::Internal,
    }
}

/// The class of a failure a daemon (or the transport to it) reported with `code`.
/// Codes hearthd never sends fold into the nearest class; `Ok` and `Unknown`, which an
/// older daemon's `BuildFailure` carries, are a failed build of no known class.
pub fn kind_of(code: Code) -> ErrorKind {
    match code {
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            ErrorKind::InvalidInput
        }
        Code::NotFound => ErrorKind::NotFound,
        Code::Ok | Code::Unknown | Code::Aborted | Code::AlreadyExists => ErrorKind::Failed,
        Code::Unauthenticated | Code::PermissionDenied => ErrorKind::Unauthorized,
        Code::ResourceExhausted => ErrorKind::ResourceExhausted,
        Code::Unavailable | Code::DeadlineExceeded => ErrorKind::Unavailable,
        Code::Cancelled => ErrorKind::Cancelled,
        Code::Internal | Code::Unimplemented | Code::DataLoss => ErrorKind::Internal,
    }
}

/// The `BuildFailure.code` for a failure of `kind`.
pub fn failure_code(kind: ErrorKind) -> i32 {
    code_of(kind) as i32
}

/// The class of a `BuildFailure`, from its code.
pub fn failure_kind(failure: &crate::v1::BuildFailure) -> ErrorKind {
    kind_of(Code::from(failure.code))
}

/// A `Status` for a failure of `kind`.
pub fn status(kind: ErrorKind, message: impl Into<String>) -> Status {
    Status::new(code_of(kind), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_survives_the_wire() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind_of(code_of(kind)), kind, "{kind}");
            let status = status(kind, "why");
            assert_eq!(kind_of(status.code()), kind, "{kind}");
        }
    }

    #[test]
    fn kinds_use_distinct_codes() {
        let codes: std::collections::HashSet<i32> =
            ErrorKind::ALL.iter().map(|k| code_of(*k) as i32).collect();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn the_expected_codes() {
        assert_eq!(code_of(ErrorKind::InvalidInput), Code::InvalidArgument);
        assert_eq!(code_of(ErrorKind::NotFound), Code::NotFound);
        assert_eq!(code_of(ErrorKind::Unauthorized), Code::Unauthenticated);
        assert_eq!(
            code_of(ErrorKind::ResourceExhausted),
            Code::ResourceExhausted
        );
        assert_eq!(code_of(ErrorKind::Unavailable), Code::Unavailable);
        assert_eq!(code_of(ErrorKind::Cancelled), Code::Cancelled);
        assert_eq!(code_of(ErrorKind::Internal), Code::Internal);
    }

    #[test]
    fn codes_hearthd_does_not_send_fold_into_a_class() {
        assert_eq!(kind_of(Code::PermissionDenied), ErrorKind::Unauthorized);
        assert_eq!(kind_of(Code::DeadlineExceeded), ErrorKind::Unavailable);
        assert_eq!(kind_of(Code::FailedPrecondition), ErrorKind::InvalidInput);
        assert_eq!(kind_of(Code::DataLoss), ErrorKind::Internal);
        // An older daemon's BuildFailure has no code: a failed build, as before.
        assert_eq!(kind_of(Code::Ok), ErrorKind::Failed);
    }
}
