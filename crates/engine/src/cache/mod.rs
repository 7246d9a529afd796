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
pub use import::{ClientLayout, ImportSummary, read_client_layout};
pub(crate) use import::{import, import_from_client};
pub use spec::{
    CacheExport, CacheImport, CacheMode, CacheSource, CacheTarget, parse_cache_export,
    parse_cache_import,
};
pub(crate) use write::{to_client, to_dir, to_registry};

/// The OCI annotation naming a manifest's tag in an `index.json`.
use hearth_exporter::cache_layout::REF_NAME_ANNOTATION;

use hearth_registry::Client;
use hearth_solver::{Event, EventSender};

use crate::{Engine, EngineError, RemoteClient};

impl Engine {
    /// Reads every `--cache-from` source's config. A source that cannot be read is a
    /// warning, as in BuildKit: the build goes on without it. Returns the records of
    /// cache directories on a daemon's client, which hold for this build only.
    pub(crate) async fn import_caches(
        &self,
        registry: &Client,
        sources: &[CacheImport],
        remote: Option<&RemoteClient>,
        events: &EventSender,
    ) -> Vec<hearth_worker::imported::ImportedRecord> {
        let mut session = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            let step = crate::internal_step(
                events,
                &format!("importing cache manifest from {}", source.source),
            );
            let outcome = match (remote, &source.source) {
                (Some(remote), CacheSource::Local { .. }) => {
                    match remote.cache_sources.get(&index) {
                        Some((manifest, config)) => {
                            import_from_client(self.host(), &source.source, manifest, config).map(
                                |(summary, import)| {
                                    session.extend(import.records);
                                    summary
                                },
                            )
                        }
                        None => Err(EngineError::Input(
                            "the client sent nothing for this directory".into(),
                        )),
                    }
                }
                _ => import(self.host(), registry, &source.source).await,
            };
            let message = match outcome {
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
        session
    }

    /// Writes every `--cache-to` destination except `inline` (which went into the image).
    pub(crate) async fn export_caches(
        &self,
        registry: &Client,
        build: &SolvedBuild<'_>,
        exports: &[CacheExport],
        client: Option<ClientDests<'_>>,
        events: &EventSender,
    ) -> Result<(), EngineError> {
        for (index, export) in exports.iter().enumerate() {
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
            let outcome = self
                .export_cache(registry, build, export, client.map(|c| (c, index)), &status)
                .await;
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
        registry: &Client,
        build: &SolvedBuild<'_>,
        export: &CacheExport,
        client: Option<(ClientDests<'_>, usize)>,
        status: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), EngineError> {
        status("preparing build cache for export".to_owned());
        let artifact = prepare(self.host(), build, export, status).await?;
        let manifest = match &export.target {
            CacheTarget::Registry { reference } => {
                to_registry(self.host(), registry, &artifact, reference, status).await?
            }
            CacheTarget::Local { tag, .. } if client.is_some() => {
                let Some((client, index)) = client else {
                    return Ok(());
                };
                let stream = client
                    .remote
                    .outputs
                    .open(client.first_index + index)
                    .map_err(|e| EngineError::Internal(format!("streaming the cache: {e}")))?;
                let empty = std::collections::HashSet::new();
                let present = client.remote.cache_dests.get(&index).unwrap_or(&empty);
                to_client(
                    self.host(),
                    registry,
                    &artifact,
                    stream,
                    present,
                    tag,
                    status,
                )
                .await?
            }
            CacheTarget::Local { dest, tag } => {
                to_dir(self.host(), registry, &artifact, dest, tag, status).await?
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

/// Where cache directories of a daemon's client are streamed: output numbers from
/// `first_index` (after the build's own outputs), one per `--cache-to`.
#[derive(Clone, Copy)]
pub(crate) struct ClientDests<'a> {
    pub(crate) remote: &'a RemoteClient,
    pub(crate) first_index: usize,
}
