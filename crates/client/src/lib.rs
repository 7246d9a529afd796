//! The client side of a build: what runs where the user is, whether the engine runs in
//! the same process or in hearthd.
//!
//! [`listing`] lists a build context as the daemon's worker will sync it (the same
//! `.dockerignore` walk, `hearth_dockerignore::walk`), hashing only files its stat cache
//! does not know; [`output`] completes the outputs a daemon streams back (files that appear
//! only complete, directories extracted without following links, `docker load`, cache
//! directories verified blob by blob). The CLI links this crate and the engine (for
//! embedded builds); [`daemon`] finds hearthd and checks it speaks this client's API.
//! Neither this crate nor the CLI reaches into the store or the worker.

pub mod daemon;
mod error;
pub mod listing;
pub mod output;

pub use error::ClientError;
pub use output::ClientOutput;
