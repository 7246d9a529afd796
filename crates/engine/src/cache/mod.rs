//! Cache that travels: `--cache-to` writes a build's results (with `mode=min`, the final
//! chain; with `mode=max`, every stage's) as a cache manifest to a registry or an OCI
//! layout directory, or inline into the image; `--cache-from` reads such a cache's config
//! and records what it offers, so that its layers are downloaded only when a build needs
//! them. The format is in docs/cache-format.md.

mod export;
mod format;
mod import;
pub mod spec;
mod write;

pub(crate) use export::{SolvedBuild, inline_field, prepare};
pub use format::{CONFIG_MEDIA_TYPE, CacheConfig, FORMAT_VERSION, INLINE_FIELD};
pub use import::ImportSummary;
pub(crate) use import::import;
pub use spec::{
    CacheExport, CacheImport, CacheMode, CacheSource, CacheTarget, parse_cache_export,
    parse_cache_import,
};
pub(crate) use write::{to_dir, to_registry};

/// The OCI annotation naming a manifest's tag in an `index.json`.
const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

use hearth_solver::{Event, EventSender};

use crate::{Engine, EngineError};

impl Engine {
    /// Reads every `--cache-from` source's config. A source that cannot be read is a
    /// warning, as in BuildKit: the build goes on without it.
    pub(crate) async fn import_caches(&self, sources: &[CacheImport], events: &EventSender) {
        for source in sources {
            let step = crate::internal_step(
                events,
                &format!("importing cache manifest from {}", source.source),
            );
            let message = match import(self.host(), &source.source).await {
                Ok(summary) => format!(
                    "{} records ({} new) in {}",
                    summary.records, summary.added, summary.manifest
                ),
                Err(e) => format!("warning: not using cache {}: {e}", source.source),
            };
            events.send(Event::Status {
                vertex: step.vertex,
                message,
            });
            crate::internal_done(events, step);
        }
    }

    /// Writes every `--cache-to` destination except `inline` (which went into the image).
    pub(crate) async fn export_caches(
        &self,
        build: &SolvedBuild<'_>,
        exports: &[CacheExport],
        events: &EventSender,
    ) -> Result<(), EngineError> {
        for export in exports {
            let name = match &export.target {
                CacheTarget::Inline => continue,
                CacheTarget::Registry { .. } => "exporting cache to registry",
                CacheTarget::Local { .. } => "exporting cache to client directory",
            };
            let step = crate::internal_step(events, name);
            let status = |message: String| {
                events.send(Event::Status {
                    vertex: step.vertex,
                    message,
                })
            };
            let outcome = self.export_cache(build, export, &status).await;
            match outcome {
                Ok(()) => crate::internal_done(events, step),
                Err(e) if export.ignore_error => {
                    status(format!(
                        "warning: cache export failed (ignore-error=true): {e}"
                    ));
                    crate::internal_done(events, step);
                }
                Err(e) => {
                    events.send(Event::Failed {
                        vertex: step.vertex,
                        message: e.to_string(),
                        duration: std::time::Duration::ZERO,
                    });
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn export_cache(
        &self,
        build: &SolvedBuild<'_>,
        export: &CacheExport,
        status: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), EngineError> {
        status("preparing build cache for export".to_owned());
        let artifact = prepare(self.host(), build, export, status).await?;
        let manifest = match &export.target {
            CacheTarget::Registry { reference } => {
                to_registry(self.host(), &artifact, reference, status).await?
            }
            CacheTarget::Local { dest, tag } => {
                to_dir(self.host(), &artifact, dest, tag, status).await?
            }
            CacheTarget::Inline => return Ok(()),
        };
        status(format!(
            "wrote cache manifest {manifest}: {} records, {} layers",
            artifact.records,
            artifact.layers.len()
        ));
        Ok(())
    }
}
