//! `hearth imagetools`, after `docker buildx imagetools`: work on images in registries
//! without hearth's store — `inspect` shows what a reference holds, `create` makes an
//! index from images already pushed.

mod combine;
mod create;
mod inspect;
mod sources;
mod table;

use std::sync::Arc;

use anyhow::Context;
use hearth_auth::DockerConfigCredentials;
use hearth_registry::Client;

use super::engine::{self, GlobalArgs};

pub(crate) use create::{CreateArgs, create};
pub(crate) use inspect::{InspectArgs, inspect};

/// A registry client configured as builds are (the configuration file's registry
/// sections, docker's credentials), and a runtime to drive it.
fn registry_client(
    global: &GlobalArgs,
) -> anyhow::Result<(
    tokio::runtime::Runtime,
    Client,
    Arc<DockerConfigCredentials>,
)> {
    let config = engine::load_config(global)?;
    let registry = engine::registry_config(&config)?;
    let credentials = engine::credentials();
    let client = Client::new(registry, credentials.clone())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok((runtime, client, credentials))
}
