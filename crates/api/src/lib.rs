//! hearthd's gRPC API, `hearth.v1`, generated from `proto/hearth/v1/builder.proto`.
//!
//! The API is versioned by package: everything here is `v1`, and a daemon reports the
//! version it serves in `InfoResponse.api_version`, which clients check before building.

mod client;
mod convert;
mod errors;
mod events;
mod redact;
mod usage;

pub use client::{ClientTls, ConnectError, connect};
pub use convert::{SpecError, request_from_spec, spec_from_request};
pub use errors::{code_of, failure_code, failure_kind, kind_of, status};
pub use events::{event_from_wire, event_to_wire};
pub use usage::{prune_from_wire, prune_to_wire, rule_from_wire, usage_from_wire, usage_to_wire};

/// The API version this crate speaks.
pub const API_VERSION: u32 = 1;

/// The generated `hearth.v1` messages, client and server.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("hearth.v1");
}
