//! One module per subcommand.

pub(crate) mod build;
pub(crate) mod debug_dockerfile;
pub(crate) mod debug_info;
pub(crate) mod debug_verify;
pub(crate) mod du_prune;
pub(crate) mod engine;
pub(crate) mod images;
pub(crate) mod imagetools;
pub(crate) mod login;
pub(crate) mod pull_push;

use std::io::Write;

/// Prints an error with its causes, the way every subcommand reports failure.
pub(crate) fn print_error(err: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {err:#}");
}
