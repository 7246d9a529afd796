//! The vocabulary every hearth crate shares: content digests, OCI platforms and the
//! Docker/OCI image configuration. Nothing here performs I/O, so every other crate can
//! depend on it without pulling in a runtime.

pub mod attrs;
pub mod digest;
pub mod error_kind;
pub mod image;
pub mod mode;
pub mod platform;
pub mod time;

pub use digest::{Digest, DigestError};
pub use error_kind::ErrorKind;
pub use platform::{Platform, PlatformError};
