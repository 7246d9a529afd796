//! Base image configurations for the frontend, from registries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hearth_core::Platform;
use hearth_core::image::ImageConfig;
use hearth_dockerfile::{ImageResolver, ResolvedImage};
use hearth_registry::Client;
use hearth_solver::EventSender;

/// Resolves through the build's registry client, once per reference and platform per
/// build. Nothing is remembered across builds: every build resolves each tag with its own
/// credentials, so a tag of a private image one client resolved never pins another
/// client's build to it (a store that holds the image's layers is reached only through
/// a digest the build's own credentials resolved). The frontend is synchronous, so it
/// runs on a blocking thread and waits here.
pub(crate) struct RegistryResolver {
    client: Client,
    runtime: tokio::runtime::Handle,
    events: EventSender,
    /// Several platforms are built: step names say which one a resolution is for.
    label_platform: bool,
    /// One slot per reference and platform; a slot's lock is held while it resolves, so
    /// the plans of several platforms asking for the same base resolve it once.
    cache: Mutex<HashMap<(String, String), Arc<Slot>>>,
    /// The class of the first resolution that failed: the frontend only keeps its
    /// message, and a missing or refused base image is not a Dockerfile mistake.
    failure: Mutex<Option<hearth_core::ErrorKind>>,
}

/// One reference's resolution for one platform, once it is known.
type Slot = Mutex<Option<Result<ResolvedImage, String>>>;

impl RegistryResolver {
    pub(crate) fn new(
        client: Client,
        runtime: tokio::runtime::Handle,
        events: EventSender,
        label_platform: bool,
    ) -> Self {
        Self {
            client,
            runtime,
            events,
            label_platform,
            cache: Mutex::new(HashMap::new()),
            failure: Mutex::new(None),
        }
    }

    /// The class of the first failed resolution, if one failed.
    pub(crate) fn failure_kind(&self) -> Option<hearth_core::ErrorKind> {
        match self.failure.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn note_failure(&self, kind: hearth_core::ErrorKind) {
        let mut failure = match self.failure.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        failure.get_or_insert(kind);
    }
}

impl ImageResolver for RegistryResolver {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        let key = (reference.to_owned(), platform.format_all());
        let slot = match self.cache.lock() {
            Ok(mut cache) => Arc::clone(cache.entry(key).or_default()),
            Err(poisoned) => Arc::clone(poisoned.into_inner().entry(key).or_default()),
        };
        let mut slot = match slot.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(hit) = slot.as_ref() {
            return hit.clone();
        }
        let prefix = if self.label_platform {
            format!("[{} internal]", platform.format_all())
        } else {
            "[internal]".to_owned()
        };
        let step = crate::internal_step(
            &self.events,
            &format!("{prefix} load metadata for {reference}"),
        );
        let outcome = self
            .runtime
            .block_on(self.client.resolve(reference, platform))
            .map_err(|e| {
                self.note_failure(e.error_kind());
                e.to_string()
            })
            .and_then(|resolved| {
                let config: ImageConfig = serde_json::from_slice(&resolved.config_bytes)
                    .map_err(|e| format!("invalid image config: {e}"))?;
                Ok(ResolvedImage {
                    digest: Some(resolved.manifest_digest),
                    config,
                })
            });
        crate::internal_done(&self.events, step);
        *slot = Some(outcome.clone());
        outcome
    }
}
