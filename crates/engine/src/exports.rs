//! Writing a build's outputs (`-o type=…`, `-t name`).

use std::fs;
use std::path::{Path, PathBuf};

use hearth_dockerfile::BuildPlan;
use hearth_exporter::{AssembleOptions, Image, MediaTypes};
use hearth_layer::Compression;
use hearth_registry::{BlobSource, Descriptor, PushBlob, PushImage};
use hearth_solver::{Event, EventSender};
use hearth_store::tables::Images;
use hearth_store::{ImageRecord, LayerId, unix_now};
use hearth_worker::Host;

use std::sync::Arc;

use crate::EngineError;
use crate::remote::OutputStreams;
use crate::sink::Sink;

/// What kind of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportKind {
    /// A `docker load` archive (`type=docker,dest=…`).
    DockerArchive {
        /// Where; `-` is standard output.
        dest: PathBuf,
    },
    /// The same archive loaded into the Docker daemon through its API (`type=docker`
    /// without `dest`, `--load`).
    DockerLoad,
    /// An OCI layout tarball (`type=oci`).
    OciArchive {
        /// Where; `-` is standard output.
        dest: PathBuf,
    },
    /// An OCI layout directory (`type=oci,tar=false`).
    OciDir {
        /// Where.
        dest: PathBuf,
    },
    /// The files, into a directory (`type=local`).
    Local {
        /// Where.
        dest: PathBuf,
    },
    /// The files, as a tarball (`type=tar`).
    Tar {
        /// Where; `-` is standard output.
        dest: PathBuf,
    },
    /// A named image in hearth's store (`-t`).
    Store,
}

/// How image outputs are encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFormat {
    /// Layer compression (`compression=`).
    pub compression: Compression,
    /// `compression-level=`.
    pub level: Option<i32>,
    /// `force-compression=true`.
    pub force_compression: bool,
    /// `oci-mediatypes=`; `None` picks the output's default.
    pub oci_media_types: Option<bool>,
    /// `rewrite-timestamp=true`: clamp file times in layers to `SOURCE_DATE_EPOCH`.
    pub rewrite_timestamp: bool,
}

impl Default for ImageFormat {
    fn default() -> Self {
        Self {
            compression: Compression::Gzip,
            level: None,
            force_compression: false,
            oci_media_types: None,
            rewrite_timestamp: false,
        }
    }
}

/// One output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// What and where.
    pub kind: ExportKind,
    /// Image names (`name=`, `-t`).
    pub names: Vec<String>,
    /// Encoding of image outputs.
    pub format: ImageFormat,
    /// Push the image to its names' registries (`push=true`, `type=registry`, `--push`).
    pub push: bool,
}

impl ExportKind {
    fn is_image(&self) -> bool {
        !matches!(self, Self::Local { .. } | Self::Tar { .. })
    }

    fn default_oci(&self) -> bool {
        matches!(self, Self::OciArchive { .. } | Self::OciDir { .. })
    }
}

/// What every image output of a build shares besides the plan.
pub(crate) struct ImageSettings<'a> {
    /// `SOURCE_DATE_EPOCH`.
    pub(crate) epoch: Option<i64>,
    /// Extra config fields (an inline cache).
    pub(crate) config_extra: &'a [(String, String)],
    /// The client pushes go through, with the build's credentials.
    pub(crate) registry: &'a hearth_registry::Client,
}

pub(crate) async fn write_all(
    host: &Host,
    layers: &[LayerId],
    plan: &BuildPlan,
    exports: &[Export],
    settings: &ImageSettings<'_>,
    events: &EventSender,
    streams: Option<&Arc<dyn OutputStreams>>,
) -> Result<Option<Image>, EngineError> {
    let created = hearth_core::time::rfc3339(std::time::SystemTime::now());
    let mut images: Vec<(AssembleOptions, Image)> = Vec::new();
    let mut last_image = None;
    if exports.iter().any(|e| e.kind.is_image()) {
        // One vertex for every image output, as BuildKit shows a single exporter step.
        let step = crate::internal_step(events, "exporting to image");
        let status = |message: String| {
            events.send(Event::Status {
                vertex: step.vertex,
                message,
            })
        };
        for (index, export) in exports
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind.is_image())
        {
            let oci = export
                .format
                .oci_media_types
                .unwrap_or(export.kind.default_oci());
            let options = AssembleOptions {
                compression: export.format.compression,
                level: export.format.level,
                force_compression: export.format.force_compression,
                media_types: if oci {
                    MediaTypes::Oci
                } else {
                    MediaTypes::Docker
                },
                created: created.clone(),
                epoch: settings.epoch,
                rewrite_timestamp: export.format.rewrite_timestamp,
                config_extra: settings.config_extra.to_vec(),
            };
            // Outputs with the same encoding share one assembled image.
            let image = match images.iter().find(|(o, _)| *o == options) {
                Some((_, image)) => image.clone(),
                None => {
                    status("exporting layers".to_owned());
                    let store = host.store().clone();
                    let layers_owned = layers.to_vec();
                    let config = plan.image.clone();
                    let opts = options.clone();
                    let image = tokio::task::spawn_blocking(move || {
                        hearth_exporter::assemble(&store, &layers_owned, config, &opts)
                    })
                    .await
                    .map_err(|e| EngineError::Internal(format!("exporting: {e}")))??;
                    status(format!("exporting manifest {}", image.manifest_digest));
                    status(format!("exporting config {}", image.config_digest));
                    images.push((options, image.clone()));
                    image
                }
            };
            match &export.kind {
                ExportKind::Store => {
                    for name in &export.names {
                        status(format!("naming to {name}"));
                    }
                }
                ExportKind::DockerLoad => {
                    status(format!(
                        "loading image {} into docker",
                        image.manifest_digest
                    ));
                }
                ExportKind::DockerArchive { dest }
                | ExportKind::OciArchive { dest }
                | ExportKind::OciDir { dest } => {
                    status(format!(
                        "writing image {} to {}",
                        image.manifest_digest,
                        describe(dest)
                    ));
                }
                ExportKind::Local { .. } | ExportKind::Tar { .. } => {}
            }
            let target = streams.map(|s| (Arc::clone(s), index));
            for said in write_image(host, &image, export, target).await? {
                status(said);
            }
            if export.push {
                push_image(
                    host,
                    settings.registry,
                    &image,
                    &export.names,
                    events,
                    step.vertex,
                )
                .await?;
            }
            last_image = Some(image);
        }
        crate::internal_done(events, step);
    }
    for (index, export) in exports
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.kind.is_image())
    {
        let step = crate::internal_step(events, "exporting to client directory");
        let target = streams.map(|s| (Arc::clone(s), index));
        write_files(host, layers, &export.kind, target).await?;
        crate::internal_done(events, step);
    }
    Ok(last_image)
}

fn describe(dest: &Path) -> String {
    if dest.as_os_str() == "-" {
        "standard output".to_owned()
    } else {
        dest.display().to_string()
    }
}

/// Writes one image output; returns what its destination said (docker's `Loaded image: …`).
/// A daemon's client stream, and the export's index in the request.
type StreamTarget = Option<(Arc<dyn OutputStreams>, usize)>;

/// The sink for a tarball output: the client's stream when there is one.
fn sink_for(
    target: &StreamTarget,
    local: impl FnOnce() -> Result<Sink, EngineError>,
) -> Result<Sink, EngineError> {
    match target {
        Some((streams, index)) => Sink::stream(streams, *index),
        None => local(),
    }
}

async fn write_image(
    host: &Host,
    image: &Image,
    export: &Export,
    target: StreamTarget,
) -> Result<Vec<String>, EngineError> {
    let store = host.store().clone();
    let image = image.clone();
    let export = export.clone();
    tokio::task::spawn_blocking(move || -> Result<Vec<String>, EngineError> {
        let mut said = Vec::new();
        match &export.kind {
            ExportKind::DockerArchive { .. } | ExportKind::DockerLoad => {
                let sink = sink_for(&target, || match &export.kind {
                    ExportKind::DockerArchive { dest } => Sink::open(dest),
                    _ => Sink::docker_load(),
                })?;
                let target = sink.describe();
                said = hearth_exporter::write_docker_archive(
                    &store,
                    &image,
                    sink,
                    &export.names,
                    &target,
                )?
                .finish_with_report()?;
            }
            ExportKind::OciArchive { dest } => {
                let sink = sink_for(&target, || Sink::open(dest))?;
                let target = sink.describe();
                hearth_exporter::write_oci_archive(&store, &image, sink, &export.names, &target)?
                    .finish()?;
            }
            // A client extracts the directory from the layout's tarball.
            ExportKind::OciDir { .. } if target.is_some() => {
                let sink = sink_for(&target, || Err(EngineError::Internal("no stream".into())))?;
                hearth_exporter::write_oci_archive(
                    &store,
                    &image,
                    sink,
                    &export.names,
                    "the client",
                )?
                .finish()?;
            }
            ExportKind::OciDir { dest } => {
                hearth_exporter::write_oci_dir(&store, &image, dest, &export.names)?
            }
            ExportKind::Store => {
                let mut txn = store.write()?;
                for name in &export.names {
                    txn.put::<Images>(&ImageRecord {
                        name: name.clone(),
                        manifest: image.manifest_digest,
                        config: image.config_digest,
                        media_type: image.media_type.clone(),
                        created: unix_now(),
                        size: image.size(),
                    })?;
                }
                txn.commit()?;
            }
            ExportKind::Local { .. } | ExportKind::Tar { .. } => {}
        }
        Ok(said)
    })
    .await
    .map_err(|e| EngineError::Internal(format!("writing the image: {e}")))?
}

/// Pushes `image` under `names`, recording where its blobs now live so later pushes to
/// the same registry mount them.
async fn push_image(
    host: &Host,
    registry: &hearth_registry::Client,
    image: &Image,
    names: &[String],
    events: &EventSender,
    vertex: hearth_core::Digest,
) -> Result<(), EngineError> {
    let store = host.store();
    let status = |message: String| events.send(Event::Status { vertex, message });
    let mut blobs = Vec::with_capacity(image.layers.len() + 1);
    blobs.push(PushBlob {
        descriptor: descriptor(
            image.config_media_type(),
            image.config_digest,
            image.config.len() as u64,
        ),
        source: BlobSource::Bytes(image.config.clone().into()),
        mount_from: store.blob_sources(&image.config_digest)?,
    });
    for layer in &image.layers {
        blobs.push(PushBlob {
            descriptor: descriptor(&layer.media_type, layer.digest, layer.size),
            source: BlobSource::File(store.blob_path(&layer.digest)),
            mount_from: store.blob_sources(&layer.digest)?,
        });
    }
    let push = PushImage {
        manifest: image.manifest.clone().into(),
        media_type: image.media_type.clone(),
        blobs,
    };
    crate::distribution::push(host, registry, &push, names, &status).await?;
    Ok(())
}

fn descriptor(media_type: &str, digest: hearth_core::Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest,
        size,
        platform: None,
        annotations: Default::default(),
        urls: Vec::new(),
    }
}

async fn write_files(
    host: &Host,
    layers: &[LayerId],
    kind: &ExportKind,
    target: StreamTarget,
) -> Result<(), EngineError> {
    static VIEWS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let store = host.store().clone();
    let dirs: Vec<PathBuf> = layers.iter().map(|l| store.layer_dir(l)).collect();
    // Unique per export: a daemon runs several builds in one process.
    let view = store.tmp_dir().join(format!(
        "export-{}-{}",
        std::process::id(),
        VIEWS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let kind = kind.clone();
    let snapshotter = host.snapshotter().clone();
    tokio::task::spawn_blocking(move || -> Result<(), EngineError> {
        fs::create_dir_all(&view)
            .map_err(|e| EngineError::Input(format!("{}: {e}", view.display())))?;
        let mounted = snapshotter
            .readonly(&dirs, &view)
            .map_err(|e| EngineError::Worker(hearth_worker::Error::Mount(e)))?;
        let outcome = match &kind {
            // A client extracts the tree from a tarball.
            ExportKind::Local { .. } | ExportKind::Tar { .. } if target.is_some() => {
                sink_for(&target, || Err(EngineError::Internal("no stream".into()))).and_then(
                    |sink| {
                        hearth_exporter::filesystem::write_tar(mounted.path(), sink)
                            .map_err(EngineError::Export)
                            .and_then(Sink::finish)
                    },
                )
            }
            ExportKind::Local { dest } => {
                hearth_exporter::filesystem::copy_to_dir(mounted.path(), dest)
                    .map(|_| ())
                    .map_err(EngineError::Export)
            }
            ExportKind::Tar { dest } => Sink::open(dest).and_then(|sink| {
                hearth_exporter::filesystem::write_tar(mounted.path(), sink)
                    .map_err(EngineError::Export)
                    .and_then(Sink::finish)
            }),
            _ => Ok(()),
        };
        drop(mounted);
        let _ = fs::remove_dir(&view);
        outcome
    })
    .await
    .map_err(|e| EngineError::Internal(format!("exporting files: {e}")))?
}
