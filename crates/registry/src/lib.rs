//! hearth's OCI Distribution client: pulls and pushes image manifests, configurations and
//! layers, configured the way BuildKit's `buildkitd.toml` `[registry."host"]`
//! sections configure buildkitd.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hearth_registry::RegistryError> {
//! use std::sync::Arc;
//! use hearth_registry::{Client, NoCredentials, RegistryConfig};
//!
//! let client = Client::new(RegistryConfig::default(), Arc::new(NoCredentials))?;
//! let platform = hearth_core::Platform::new("linux", "amd64", "");
//! let image = client.resolve("docker.io/library/busybox:latest", &platform).await?;
//! let mut layer = Vec::new();
//! client.fetch_blob(&image.repository, &image.manifest.layers[0], &mut layer).await?;
//! # Ok(()) }
//! ```
//!
//! The protocol is written directly on `reqwest` rather than on `oci-client`: the
//! behaviours users notice — BuildKit's mirror and `http`/`insecure` rules, endpoint
//! fallback with an error that lists every endpoint, credentials that never reach a
//! message — sit in exactly the places a wrapper would hide, and the Distribution API a
//! client needs is small. `endpoint` (which hosts), `transport` (HTTP, retries, TLS) and
//! `auth` (challenges, tokens) know nothing about images; `client` holds the pull logic,
//! `push` the push logic and `copy` moves images between repositories (`imagetools
//! create`).

mod auth;
mod blob;
mod client;
mod config;
mod copy;
mod credentials;
mod endpoint;
mod error;
mod inspect;
mod manifest;
mod platform;
mod push;
mod reference;
mod secret;
mod transport;

pub use auth::TOKEN_DEADLINE;
pub use client::{Client, ClientOptions, ResolvedImage};
pub use config::{HostConfig, RegistryConfig};
pub use copy::{Copied, SourceContent, SourceManifest};
pub use credentials::{
    CredentialError, CredentialSource, Credentials, CredentialsFuture, NoCredentials,
    StaticCredentials,
};
pub use endpoint::{DOCKER_HUB, DOCKER_HUB_API_HOST, Endpoint, Scheme};
pub use error::{Attempt, ErrorKind, RegistryError, Tried};
pub use inspect::{FetchedManifest, Inspected, InspectedImage, Inspection};
pub use manifest::{Descriptor, Index, MANIFEST_ACCEPT, MAX_MANIFEST_SIZE, Manifest, media_type};
pub use platform::{PlatformMatcher, available_platforms};
pub use push::{BlobOutcome, BlobSource, PushBlob, PushEvent, PushImage, PushOptions, PushReport};
pub use reference::ImageReference;
pub use secret::Secret;
