//! `hearth imagetools create`, after `docker buildx imagetools create`: one index from
//! images already in registries. Each source's manifests are copied into every target
//! repository first (blobs mounted on the same registry, streamed from another), then the
//! index is stored under each tag.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, bail};
use hearth_core::Platform;
use hearth_progress::{InternalStep, Mode, Renderer};
use hearth_registry::{
    BlobOutcome, Client, Copied, Descriptor, ImageReference, PushEvent, PushImage, PushOptions,
    SourceContent,
};
use hearth_solver::{Event, LogStream};

use super::super::engine::{self, GlobalArgs};
use super::combine::{self, Combined, Source};
use super::sources::{self, Located};

/// A source file (`-f`) larger than this is not a descriptor.
const MAX_SOURCE_FILE: u64 = 4 << 20;

/// `hearth imagetools create [OPTIONS] [SOURCE...]`.
#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// Images to combine: references (`registry/repo:tag`, `…@sha256:…`), digests of the
    /// one repository involved, or JSON descriptors.
    sources: Vec<String>,
    /// Set reference for new image (repeatable; each repository gets a copy).
    #[arg(short = 't', long = "tag", value_name = "REF")]
    tags: Vec<String>,
    /// Read source descriptor from file (repeatable).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Append to existing manifest (the first tag's image joins the sources).
    #[arg(long = "append")]
    append: bool,
    /// Show final image instead of pushing.
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// When only a single source is specified, prefer outputting an image index or
    /// manifest list instead of performing a carbon copy.
    #[arg(long = "prefer-index", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    prefer_index: bool,
    /// Filter specified platforms of target image (repeatable, comma-separated).
    #[arg(short = 'p', long = "platform", value_name = "PLATFORM")]
    platforms: Vec<String>,
    /// Progress output: auto, plain, rawjson, quiet or none (tty is shown as plain).
    #[arg(long = "progress", default_value = "auto", value_name = "MODE")]
    progress: String,
    /// Write create result metadata to a file.
    #[arg(long = "metadata-file", value_name = "FILE")]
    metadata_file: Option<PathBuf>,
}

pub(crate) fn create(global: &GlobalArgs, args: &CreateArgs) -> anyhow::Result<ExitCode> {
    if args.sources.is_empty() && args.files.is_empty() {
        bail!("no sources specified");
    }
    if !args.dry_run && args.tags.is_empty() {
        bail!("can't push with no tags specified, please set --tag or --dry-run");
    }
    let progress = progress_renderer(&args.progress)?;
    let platforms = parse_platforms(&args.platforms)?;
    let tags: Vec<ImageReference> = args
        .tags
        .iter()
        .map(|t| ImageReference::parse(t).with_context(|| format!("invalid tag {t:?}")))
        .collect::<Result<_, _>>()?;
    let mut written = Vec::new();
    for file in &args.files {
        written.push(read_source_file(file)?);
    }
    written.extend(args.sources.iter().cloned());
    if args.append
        && let Some(first) = args.tags.first()
    {
        written.insert(0, first.clone());
    }
    let specs = written
        .iter()
        .map(|w| sources::parse(w))
        .collect::<Result<Vec<_>, _>>()?;
    let located = sources::locate(&written, specs, &tags)?;

    let (runtime, client, credentials) = super::registry_client(global)?;
    let result = runtime.block_on(async {
        let fetched = fetch_sources(&client, &located).await?;
        let combined = combine::combine(
            &fetched.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
            args.prefer_index,
            &platforms,
        )?;
        if args.dry_run {
            return Ok(combined);
        }
        publish(&client, &combined, &fetched, &tags, progress).await?;
        Ok::<_, anyhow::Error>(combined)
    });
    engine::report_credential_warnings(&credentials);
    let combined = result?;
    let mut stdout = std::io::stdout().lock();
    if args.dry_run {
        stdout.write_all(&combined.bytes)?;
        writeln!(stdout)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &args.metadata_file {
        write_metadata(path, &combined.descriptor, &tags)?;
    }
    for tag in &tags {
        writeln!(stdout, "{tag}: digest: {}", combined.descriptor.digest)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--platform` values, each possibly a comma-separated list.
fn parse_platforms(values: &[String]) -> anyhow::Result<Vec<Platform>> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|p| {
            Platform::parse(p)
                .map(Platform::normalized)
                .with_context(|| format!("invalid platform {p:?}"))
        })
        .collect()
}

fn read_source_file(path: &PathBuf) -> anyhow::Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_SOURCE_FILE + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    if text.len() as u64 > MAX_SOURCE_FILE {
        bail!(
            "{} is larger than {MAX_SOURCE_FILE} bytes; a source file holds one descriptor",
            path.display()
        );
    }
    Ok(text.trim().to_owned())
}

/// Fetches every source and fills in its descriptor as buildx does: a given descriptor's
/// fields override the registry's, and a manifest's missing OS or architecture comes
/// from its configuration.
async fn fetch_sources(
    client: &Client,
    located: &[Located],
) -> anyhow::Result<Vec<(Source, hearth_registry::SourceManifest)>> {
    let mut fetched = Vec::with_capacity(located.len());
    for source in located {
        let reference = source.reference.to_string();
        let manifest = client.fetch_source(&reference).await.map_err(|e| {
            // Most registry errors name the reference already; the others (an
            // unreachable host) get it added, so the failing source is always named.
            let named = e.to_string().contains(&reference);
            let context = if named {
                "reading the sources".to_owned()
            } else {
                format!("reading source {reference}")
            };
            anyhow::Error::new(e).context(context)
        })?;
        let mut descriptor = manifest.descriptor.clone();
        let mut given_platform = None;
        if let Some(given) = &source.given {
            if given.size != 0 && given.size != descriptor.size {
                bail!(
                    "invalid size mismatch for {}, {} != {}",
                    descriptor.digest,
                    given.size,
                    descriptor.size
                );
            }
            if !given.media_type.is_empty() {
                descriptor.media_type.clone_from(&given.media_type);
            }
            if !given.annotations.is_empty() {
                descriptor.annotations.clone_from(&given.annotations);
            }
            given_platform.clone_from(&given.platform);
        }
        let index = match &manifest.content {
            SourceContent::Index {
                entries,
                annotations,
            } => Some((entries.clone(), annotations.clone())),
            SourceContent::Image { platform } => {
                let mut p = given_platform.unwrap_or_default();
                if p.architecture.is_empty() {
                    p.architecture.clone_from(&platform.architecture);
                    if p.variant.is_empty() {
                        p.variant.clone_from(&platform.variant);
                    }
                }
                if p.os.is_empty() {
                    p.os.clone_from(&platform.os);
                }
                descriptor.platform = Some(p);
                None
            }
        };
        fetched.push((
            Source {
                descriptor,
                bytes: manifest.bytes.clone(),
                index,
            },
            manifest,
        ));
    }
    Ok(fetched)
}

/// Copies every manifest into each target repository, then stores the document under
/// each tag of that repository.
async fn publish(
    client: &Client,
    combined: &Combined,
    fetched: &[(Source, hearth_registry::SourceManifest)],
    tags: &[ImageReference],
    progress: Renderer,
) -> anyhow::Result<()> {
    let mut repositories: Vec<(String, Vec<&ImageReference>)> = Vec::new();
    for tag in tags {
        match repositories
            .iter_mut()
            .find(|(name, _)| *name == tag.name())
        {
            Some((_, list)) => list.push(tag),
            None => repositories.push((tag.name(), vec![tag])),
        }
    }
    let progress = Progress(Mutex::new(progress));
    let options = PushOptions::default();
    let digest = combined.descriptor.digest;
    for (repository, repository_tags) in &repositories {
        let step = progress.start(&format!("[internal] pushing {repository}"));
        let vertex = step.vertex();
        let on_push = |event: PushEvent| progress.push_event(vertex, event);
        let result = async {
            for (entry, from) in &combined.manifests {
                let source = &fetched[*from].1;
                progress.log(
                    vertex,
                    &format!(
                        "copying {} from {} to {repository}",
                        entry.digest, source.reference
                    ),
                );
                let copied = client
                    .copy_manifest(&source.repository, entry, repository, &options, &on_push)
                    .await
                    .with_context(|| {
                        format!(
                            "copy {} from {} to {}",
                            entry.digest, source.reference, repository_tags[0]
                        )
                    })?;
                if copied == Copied::Present {
                    progress.log(vertex, &format!("{} already present", entry.digest));
                }
            }
            let image = PushImage {
                manifest: combined.bytes.clone().into(),
                media_type: combined.descriptor.media_type.clone(),
                blobs: Vec::new(),
            };
            for tag in repository_tags {
                progress.log(vertex, &format!("pushing {digest} to {tag}"));
                client
                    .push(&[tag.to_string()], &image, &options, &on_push)
                    .await
                    .with_context(|| format!("publish {digest} to {tag}"))?;
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        progress.finish(step, &result);
        result?;
    }
    Ok(())
}

/// The progress display, shared with the registry client's callbacks.
struct Progress(Mutex<Renderer>);

impl Progress {
    fn with<T>(&self, f: impl FnOnce(&mut Renderer) -> T) -> T {
        let mut renderer = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut renderer)
    }

    fn start(&self, name: &str) -> InternalStep {
        self.with(|r| r.internal(name))
    }

    fn log(&self, vertex: hearth_core::Digest, line: &str) {
        let data = format!("{line}\n").into_bytes();
        self.with(|r| {
            r.handle(&Event::Log {
                vertex,
                stream: LogStream::Stdout,
                data,
            });
        });
    }

    fn push_event(&self, vertex: hearth_core::Digest, event: PushEvent) {
        if let PushEvent::Blob {
            digest, outcome, ..
        } = event
        {
            let line = match outcome {
                BlobOutcome::Existed => format!("blob {digest} already present"),
                BlobOutcome::Mounted { from } => format!("blob {digest} mounted from {from}"),
                BlobOutcome::Uploaded => format!("blob {digest} uploaded"),
            };
            self.log(vertex, &line);
        }
    }

    fn finish(&self, step: InternalStep, result: &anyhow::Result<()>) {
        let message = result.as_ref().err().map(|e| format!("{e:#}"));
        self.with(|r| r.finish_internal(step, message.as_deref().map_or(Ok(()), Err)));
    }
}

/// A renderer for `--progress`. The live tty view needs a build's closing summary, so
/// `auto` and `tty` print plain lines, as buildx does when stderr is not a terminal.
fn progress_renderer(mode: &str) -> anyhow::Result<Renderer> {
    let out: Box<dyn std::io::Write + Send> = Box::new(std::io::stderr());
    Ok(match mode {
        "quiet" | "none" => Renderer::new(Mode::Plain, Box::new(std::io::sink())),
        other => match other.parse::<Mode>()? {
            Mode::RawJson => Renderer::new(Mode::RawJson, out),
            Mode::Auto | Mode::Plain | Mode::Tty => Renderer::new(Mode::Plain, out),
        },
    })
}

/// buildx's metadata file: the descriptor of what was pushed and the repositories.
fn write_metadata(
    path: &PathBuf,
    descriptor: &Descriptor,
    tags: &[ImageReference],
) -> anyhow::Result<()> {
    let mut names: Vec<String> = tags.iter().map(ImageReference::name).collect();
    names.sort();
    names.dedup();
    let doc = serde_json::json!({
        "containerimage.descriptor": descriptor,
        "image.name": names.join(","),
    });
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("writing --metadata-file {}", path.display()))
}
