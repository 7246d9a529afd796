//! Writing a build's outputs (`-o type=…`, `-t name`, `--push`, `--load`): the one place
//! that turns solved results into images, indexes, tarballs, directories, store names,
//! pushes and loads.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_core::Platform;
use hearth_core::image::ImageConfig;
use hearth_solver::{EngineStep, EventSender};
use hearth_store::tables::Images;
use hearth_store::{ImageRecord, LayerId, PlatformImageRecord, unix_now};
use hearth_worker::Host;

use crate::sink::Sink;
use crate::stream::OutputStreams;
use crate::{
    AssembleOptions, Export, ExportError, ExportKind, ImageIndex, MediaTypes, PlatformImage,
    platform_dir,
};

/// What one platform of a build produced.
#[derive(Debug, Clone)]
pub struct PlatformResult {
    /// The platform.
    pub platform: Platform,
    /// The result's layers, bottom first.
    pub layers: Vec<LayerId>,
    /// The image configuration the plan made for it.
    pub config: ImageConfig,
    /// Extra config fields (this platform's inline cache).
    pub config_extra: Vec<(String, String)>,
}

/// What every output of a build shares.
pub struct OutputContext<'a> {
    /// The worker host: its store holds the blobs, its snapshotter mounts results.
    pub host: &'a Host,
    /// The client pushes go through, with the build's credentials.
    pub registry: &'a hearth_registry::Client,
    /// `SOURCE_DATE_EPOCH`.
    pub epoch: Option<i64>,
    /// Progress.
    pub events: &'a EventSender,
    /// A daemon's client, which receives tarball and file outputs.
    pub streams: Option<&'a Arc<dyn OutputStreams>>,
}

/// Writes every output; returns the image of the last image output, if any.
pub async fn write_outputs(
    ctx: &OutputContext<'_>,
    results: &[PlatformResult],
    outputs: &[Export],
) -> Result<Option<ImageIndex>, ExportError> {
    crate::check_outputs(outputs, results.len())?;
    let created = hearth_core::time::rfc3339(std::time::SystemTime::now());
    let mut assembled: Vec<(AssembleOptions, ImageIndex)> = Vec::new();
    let mut last = None;
    if outputs.iter().any(|e| e.kind.is_image()) {
        // One vertex for every image output, as BuildKit shows a single exporter step.
        let step = EngineStep::start(ctx.events, "exporting to image");
        let status = |message: String| step.status(ctx.events, message);
        for (index, output) in outputs
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind.is_image())
        {
            let oci = output
                .format
                .oci_media_types
                .unwrap_or(output.kind.default_oci());
            let options = AssembleOptions {
                compression: output.format.compression,
                level: output.format.level,
                force_compression: output.format.force_compression,
                media_types: if oci {
                    MediaTypes::Oci
                } else {
                    MediaTypes::Docker
                },
                created: created.clone(),
                epoch: ctx.epoch,
                rewrite_timestamp: output.format.rewrite_timestamp,
                config_extra: Vec::new(),
            };
            // Outputs with the same encoding share one assembled image.
            let images = match assembled.iter().find(|(o, _)| *o == options) {
                Some((_, images)) => images.clone(),
                None => {
                    status("exporting layers".to_owned());
                    let images = assemble_all(ctx, results, &options).await?;
                    for platform in &images.images {
                        status(format!(
                            "exporting manifest {}",
                            platform.image.manifest_digest
                        ));
                        status(format!("exporting config {}", platform.image.config_digest));
                    }
                    if let Some(index) = &images.index {
                        status(format!("exporting manifest list {}", index.digest));
                    }
                    assembled.push((options, images.clone()));
                    images
                }
            };
            let top = images
                .top()
                .map(|t| t.digest)
                .ok_or_else(|| ExportError::Internal("no image was assembled".into()))?;
            match &output.kind {
                ExportKind::Store => {
                    for name in &output.names {
                        status(format!("naming to {name}"));
                    }
                }
                ExportKind::DockerLoad => status(format!("loading image {top} into docker")),
                ExportKind::DockerArchive { dest }
                | ExportKind::OciArchive { dest }
                | ExportKind::OciDir { dest } => {
                    status(format!("writing image {top} to {}", describe(dest)));
                }
                ExportKind::Local { .. } | ExportKind::Tar { .. } => {}
            }
            let target = ctx.streams.map(|s| (Arc::clone(s), index));
            for said in write_image(ctx.host, &images, output, target).await? {
                status(said);
            }
            if output.push {
                crate::push::push_images(ctx.host, ctx.registry, &images, &output.names, &status)
                    .await?;
            }
            last = Some(images);
        }
        step.done(ctx.events);
    }
    for (index, output) in outputs
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.kind.is_image())
    {
        let step = EngineStep::start(ctx.events, "exporting to client directory");
        let target = ctx.streams.map(|s| (Arc::clone(s), index));
        write_files(ctx.host, results, &output.kind, target).await?;
        step.done(ctx.events);
    }
    Ok(last)
}

/// Each platform's image, assembled concurrently, then their index.
async fn assemble_all(
    ctx: &OutputContext<'_>,
    results: &[PlatformResult],
    options: &AssembleOptions,
) -> Result<ImageIndex, ExportError> {
    let tasks = results.iter().map(|result| {
        let store = ctx.host.store().clone();
        let mut options = options.clone();
        options.config_extra = result.config_extra.clone();
        let result = result.clone();
        tokio::task::spawn_blocking(move || {
            crate::assemble(&store, &result.layers, result.config, &options).map(|image| {
                PlatformImage {
                    platform: result.platform,
                    image,
                }
            })
        })
    });
    let mut images = Vec::with_capacity(results.len());
    for joined in futures_util::future::join_all(tasks).await {
        images.push(joined.map_err(|e| ExportError::Internal(format!("exporting: {e}")))??);
    }
    let store = ctx.host.store().clone();
    let media_types = options.media_types;
    tokio::task::spawn_blocking(move || ImageIndex::new(&store, images, media_types))
        .await
        .map_err(|e| ExportError::Internal(format!("exporting: {e}")))?
}

fn describe(dest: &Path) -> String {
    if dest.as_os_str() == "-" {
        "standard output".to_owned()
    } else {
        dest.display().to_string()
    }
}

/// A daemon's client stream, and the output's index in the request.
type StreamTarget = Option<(Arc<dyn OutputStreams>, usize)>;

/// The sink for a tarball output: the client's stream when there is one.
fn sink_for(
    target: &StreamTarget,
    local: impl FnOnce() -> Result<Sink, ExportError>,
) -> Result<Sink, ExportError> {
    match target {
        Some((streams, index)) => Sink::stream(streams, *index),
        None => local(),
    }
}

/// Writes one image output; returns what its destination said (docker's `Loaded image: …`).
async fn write_image(
    host: &Host,
    images: &ImageIndex,
    export: &Export,
    target: StreamTarget,
) -> Result<Vec<String>, ExportError> {
    let store = host.store().clone();
    let images = images.clone();
    let export = export.clone();
    tokio::task::spawn_blocking(move || -> Result<Vec<String>, ExportError> {
        let mut said = Vec::new();
        match &export.kind {
            ExportKind::DockerArchive { .. } | ExportKind::DockerLoad => {
                let sink = sink_for(&target, || match &export.kind {
                    ExportKind::DockerArchive { dest } => Sink::open(dest),
                    _ => Sink::docker_load(),
                })?;
                let target = sink.describe();
                said = crate::write_docker_archive(&store, &images, sink, &export.names, &target)?
                    .finish_with_report()?;
            }
            ExportKind::OciArchive { dest } => {
                let sink = sink_for(&target, || Sink::open(dest))?;
                let target = sink.describe();
                crate::write_oci_archive(&store, &images, sink, &export.names, &target)?
                    .finish()?;
            }
            // A client extracts the directory from the layout's tarball.
            ExportKind::OciDir { .. } if target.is_some() => {
                let sink = sink_for(&target, || Err(ExportError::Internal("no stream".into())))?;
                crate::write_oci_archive(&store, &images, sink, &export.names, "the client")?
                    .finish()?;
            }
            ExportKind::OciDir { dest } => {
                crate::write_oci_dir(&store, &images, dest, &export.names)?
            }
            ExportKind::Store => name_in_store(&store, &images, &export.names)?,
            ExportKind::Local { .. } | ExportKind::Tar { .. } => {}
        }
        Ok(said)
    })
    .await
    .map_err(|e| ExportError::Internal(format!("writing the image: {e}")))?
}

/// Names the images in hearth's store; an index keeps each platform's manifest beside it
/// (for `hearth images` and for GC).
fn name_in_store(
    store: &hearth_store::Store,
    images: &ImageIndex,
    names: &[String],
) -> Result<(), ExportError> {
    let top = images
        .top()
        .ok_or_else(|| ExportError::Internal("no image was assembled".into()))?;
    let first = images
        .images
        .first()
        .ok_or_else(|| ExportError::Internal("no image was assembled".into()))?;
    let platforms = match images.index {
        Some(_) => images
            .images
            .iter()
            .map(|p| PlatformImageRecord {
                platform: p.platform.format(),
                manifest: p.image.manifest_digest,
                config: p.image.config_digest,
                size: p.image.size(),
            })
            .collect(),
        None => Vec::new(),
    };
    let mut txn = store.write()?;
    for name in names {
        txn.put::<Images>(&ImageRecord {
            name: name.clone(),
            manifest: top.digest,
            config: first.image.config_digest,
            media_type: top.media_type.to_owned(),
            created: unix_now(),
            size: images.size(),
            platforms: platforms.clone(),
        })?;
    }
    txn.commit()?;
    Ok(())
}

/// Writes the files of every platform: into the destination itself for one platform,
/// into one directory per platform (`linux_amd64/`, `linux_arm64/`) for several, as
/// BuildKit's local and tar exporters split them.
async fn write_files(
    host: &Host,
    results: &[PlatformResult],
    kind: &ExportKind,
    target: StreamTarget,
) -> Result<(), ExportError> {
    static VIEWS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let store = host.store().clone();
    let split = results.len() > 1;
    let trees: Vec<(Option<String>, Vec<PathBuf>)> = results
        .iter()
        .map(|r| {
            (
                split.then(|| platform_dir(&r.platform)),
                r.layers.iter().map(|l| store.layer_dir(l)).collect(),
            )
        })
        .collect();
    let kind = kind.clone();
    let snapshotter = host.snapshotter().clone();
    tokio::task::spawn_blocking(move || -> Result<(), ExportError> {
        let mut mounts = Vec::with_capacity(trees.len());
        let mut views = Vec::with_capacity(trees.len());
        let outcome = (|| {
            for (prefix, dirs) in &trees {
                // Unique per export: a daemon runs several builds in one process.
                let view = store.tmp_dir().join(format!(
                    "export-{}-{}",
                    std::process::id(),
                    VIEWS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                ));
                fs::create_dir_all(&view).map_err(|e| ExportError::io(&view, e))?;
                views.push(view.clone());
                let mounted = snapshotter
                    .readonly(dirs, &view)
                    .map_err(hearth_worker::Error::Mount)?;
                mounts.push((prefix.clone(), mounted));
            }
            let tars: Vec<(Option<&str>, &Path)> = mounts
                .iter()
                .map(|(prefix, m)| (prefix.as_deref(), m.path()))
                .collect();
            match &kind {
                // A client extracts the tree from a tarball.
                ExportKind::Local { .. } | ExportKind::Tar { .. } if target.is_some() => {
                    let sink =
                        sink_for(&target, || Err(ExportError::Internal("no stream".into())))?;
                    crate::filesystem::write_tars(&tars, sink)?.finish()
                }
                ExportKind::Local { dest } => {
                    for (prefix, view) in &tars {
                        let dest = match prefix {
                            Some(prefix) => dest.join(prefix),
                            None => dest.clone(),
                        };
                        crate::filesystem::copy_to_dir(view, &dest)?;
                    }
                    Ok(())
                }
                ExportKind::Tar { dest } => {
                    let sink = Sink::open(dest)?;
                    crate::filesystem::write_tars(&tars, sink)?.finish()
                }
                _ => Ok(()),
            }
        })();
        drop(mounts);
        for view in views {
            let _ = fs::remove_dir(&view);
        }
        outcome
    })
    .await
    .map_err(|e| ExportError::Internal(format!("exporting files: {e}")))?
}
