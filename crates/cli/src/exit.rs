//! What hearth's exit code says about a failure, and the advice printed with it: one
//! code per failure class (`hearth_core::ErrorKind`), the same whether the engine ran
//! in-process or in hearthd. README.md documents the table.

use std::process::ExitCode;

use hearth_core::ErrorKind;

/// The exit code of a failure of `kind`. A build stopped by a signal exits with 128 plus
/// the signal's number instead (see `commands::build::signals`); 2 is clap's usage error.
pub(crate) fn code(kind: ErrorKind) -> ExitCode {
    ExitCode::from(number(kind))
}

fn number(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Failed => 1,
        ErrorKind::InvalidInput => 3,
        ErrorKind::NotFound => 4,
        ErrorKind::Unauthorized => 5,
        ErrorKind::ResourceExhausted => 6,
        ErrorKind::Unavailable => 7,
        ErrorKind::Cancelled => 8,
        ErrorKind::Internal => 9,
    }
}

/// What the user can do about a failure of `kind`, printed after its message; `None`
/// where the message itself says all there is (a failed step, a Dockerfile error).
pub(crate) fn advice(kind: ErrorKind) -> Option<&'static str> {
    match kind {
        ErrorKind::Failed | ErrorKind::InvalidInput => None,
        ErrorKind::NotFound => Some(
            "hint: check the name, tag and platform of what is named above; a private image needs `hearth login` first",
        ),
        ErrorKind::Unauthorized => Some(
            "hint: the registry refused the credentials: log in with `hearth login <registry>` and check the account can access the repository",
        ),
        ErrorKind::ResourceExhausted => Some(
            "hint: the disk or quota ran out: free space, remove cached results with `hearth prune`, or use a state directory (--root) with more room",
        ),
        ErrorKind::Unavailable => Some(
            "hint: a service the build needs (hearthd or a registry) could not be reached or went away: check it is running and reachable, then run the build again",
        ),
        ErrorKind::Cancelled => {
            Some("hint: the build was cancelled before it finished; run it again")
        }
        ErrorKind::Internal => {
            Some("hint: this is a bug in hearth; please report it with the output above")
        }
    }
}

/// The class of an error a command returned, from the first error in its chain that
/// knows its class; `None` for errors of the command line tool itself.
pub(crate) fn kind_of(err: &anyhow::Error) -> Option<ErrorKind> {
    err.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<hearth_engine::EngineError>() {
            Some(e.kind())
        } else if let Some(e) = cause.downcast_ref::<hearth_api::ConnectError>() {
            Some(e.kind())
        } else if let Some(e) = cause.downcast_ref::<hearth_client::ClientError>() {
            Some(e.kind())
        } else if let Some(status) = cause.downcast_ref::<tonic::Status>() {
            Some(hearth_api::kind_of(status.code()))
        } else {
            cause
                .downcast_ref::<hearth_registry::RegistryError>()
                .map(hearth_registry::RegistryError::error_kind)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_own_code() {
        let codes: std::collections::HashSet<u8> =
            ErrorKind::ALL.iter().map(|k| number(*k)).collect();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
        // 2 is clap's, and 128 and above are signals.
        assert!(codes.iter().all(|c| *c != 2 && *c < 128));
    }
}
