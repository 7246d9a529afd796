//! Behaviour tests of the store on a real filesystem: blobs, layers, the root lock, the
//! metadata database, recovery after crashes (real SIGKILLs of child processes) and usage.
//!
//! One test binary, so the crate links once; tests that need a second process re-execute
//! this binary with an environment switch (see `support::spawn_self`).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod blobs;
mod crash;
mod layers;
mod lock;
mod metadata;
mod recovery;
mod support;
mod usage;
