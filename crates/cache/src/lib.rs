//! Cache that travels: `--cache-to` writes a build's results (with `mode=min`, the final
//! chain; with `mode=max`, every stage's) as a cache manifest to a registry or an OCI
//! layout directory, or inline into the image; `--cache-from` reads such a cache's config
//! and records what it offers, so that its layers are downloaded only when a build needs
//! them. The format is in docs/cache-format.md.
//!
//! A cache read here becomes records the worker asks through its cache sources
//! (`hearth_worker::sources`): imported records in the store, or a daemon client's own
//! records for one build; nothing is downloaded until a step hits one.

mod error;
mod export;
mod format;
mod import;
pub mod spec;
mod write;

pub use error::CacheError;
use export::prepare;
pub use export::{SolvedBuild, inline_field};
pub use format::{CONFIG_MEDIA_TYPE, CacheConfig, FORMAT_VERSION, INLINE_FIELD};
pub use import::{ClientLayout, ImportSummary, read_client_layout};
use import::{import, import_from_client};
pub use spec::{
    CacheExport, CacheImport, CacheMode, CacheSource, CacheTarget, parse_cache_export,
    parse_cache_import,
};
use write::{to_client, to_dir, to_registry};

/// The OCI annotation naming a manifest's tag in an `index.json`.
use hearth_exporter::cache_layout::REF_NAME_ANNOTATION;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hearth_core::Digest;
use hearth_exporter::OutputStreams;
use hearth_registry::Client;
use hearth_solver::{EngineStep, Event, EventSender};
use hearth_worker::Host;

/// What a daemon's client read from its `--cache-from type=local` directories: by index
/// into the request's imports, the manifest and config bytes.
pub type ClientSources = HashMap<usize, (Vec<u8>, Vec<u8>)>;

/// Reads every `--cache-from` source's config. A source that cannot be read is a
/// warning, as in BuildKit: the build goes on without it. Returns the records of cache
/// directories on a daemon's client (`client`), which hold for this build only.
pub async fn import_caches(
    host: &Host,
    registry: &Client,
    sources: &[CacheImport],
    client: Option<&ClientSources>,
    events: &EventSender,
) -> Vec<hearth_worker::imported::ImportedRecord> {
    let mut session = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let step = EngineStep::start(
            events,
            &format!("importing cache manifest from {}", source.source),
        );
        let outcome = match (client, &source.source) {
            (Some(client), CacheSource::Local { .. }) => match client.get(&index) {
                Some((manifest, config)) => {
                    import_from_client(host, &source.source, manifest, config).map(
                        |(summary, import)| {
                            session.extend(import.records);
                            summary
                        },
                    )
                }
                None => Err(CacheError::Invalid(
                    "the client sent nothing for this directory".into(),
                )),
            },
            _ => import(host, registry, &source.source).await,
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
        step.done(events);
    }
    session
}

/// Writes every `--cache-to` destination except `inline` (which went into the image).
pub async fn export_caches(
    host: &Host,
    registry: &Client,
    build: &SolvedBuild<'_>,
    exports: &[CacheExport],
    client: Option<ClientDests<'_>>,
    events: &EventSender,
) -> Result<(), CacheError> {
    for (index, export) in exports.iter().enumerate() {
        let name = match &export.target {
            CacheTarget::Inline => continue,
            CacheTarget::Registry { .. } => "exporting cache to registry",
            CacheTarget::Local { .. } => "exporting cache to client directory",
        };
        let step = EngineStep::start(events, name);
        let status = |message: String| {
            events.send(Event::Status {
                vertex: step.vertex,
                message,
            })
        };
        let outcome = export_cache(
            host,
            registry,
            build,
            export,
            client.map(|c| (c, index)),
            &status,
        )
        .await;
        match outcome {
            Ok(()) => step.done(events),
            Err(e) if export.ignore_error => {
                status(format!(
                    "warning: cache export failed (ignore-error=true): {e}"
                ));
                step.done(events);
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
    host: &Host,
    registry: &Client,
    build: &SolvedBuild<'_>,
    export: &CacheExport,
    client: Option<(ClientDests<'_>, usize)>,
    status: &(dyn Fn(String) + Send + Sync),
) -> Result<(), CacheError> {
    status("preparing build cache for export".to_owned());
    let artifact = prepare(host, build, export, status).await?;
    let manifest = match &export.target {
        CacheTarget::Registry { reference } => {
            to_registry(host, registry, &artifact, reference, status).await?
        }
        CacheTarget::Local { tag, .. } if client.is_some() => {
            let Some((client, index)) = client else {
                return Ok(());
            };
            let stream = client
                .outputs
                .open(client.first_index + index)
                .map_err(|e| CacheError::Internal(format!("streaming the cache: {e}")))?;
            let empty = std::collections::HashSet::new();
            let present = client.present.get(&index).unwrap_or(&empty);
            to_client(host, registry, &artifact, stream, present, tag, status).await?
        }
        CacheTarget::Local { dest, tag } => {
            to_dir(host, registry, &artifact, dest, tag, status).await?
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

/// Where cache directories of a daemon's client are streamed: output numbers from
/// `first_index` (after the build's own outputs), one per `--cache-to`.
#[derive(Clone, Copy)]
pub struct ClientDests<'a> {
    /// The client's output streams.
    pub outputs: &'a Arc<dyn OutputStreams>,
    /// By index into the request's `--cache-to`, the blobs each directory holds already.
    pub present: &'a HashMap<usize, HashSet<Digest>>,
    /// The output number of the first cache directory.
    pub first_index: usize,
}
