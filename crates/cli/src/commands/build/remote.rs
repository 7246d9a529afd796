//! `hearth build` through hearthd: the same flags, the same progress and the same image,
//! with the build running in the daemon. The client lists its context (hashing only
//! files its stat cache has not seen) and sends the listing in bounded chunks, sends the
//! contents the daemon asks for, answers secret requests from its own files and
//! environment and credential requests from its own docker config (as buildx's auth
//! session does), and writes the outputs the daemon streams back.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use hearth_api::v1::build_client_message::Message as ClientMessage;
use hearth_api::v1::build_server_message::Message as ServerMessage;
use hearth_api::v1::{BuildClientMessage, BuildStart, CredentialsResponse, FileChunk, SecretValue};
use hearth_auth::DockerConfigCredentials;
use hearth_client::daemon::{Daemon, DaemonTarget, listing_messages};
use hearth_client::{ClientOutput, listing};
use hearth_core::Digest;
use hearth_core::ErrorKind;
use hearth_engine::cache::{CacheSource, CacheTarget};
use hearth_engine::{DockerfileSource, SecretSource};
use hearth_exporter::ExportKind;
use hearth_progress::Mode;
use hearth_registry::Credentials;
use hearth_solver::Event;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{Args, ImageSummary, Prepared, report};
use crate::commands::engine::GlobalArgs;

/// Bytes per file chunk sent to the daemon.
const FILE_CHUNK: usize = 1 << 20;
/// The daemon to build with (see [`hearth_client::daemon::find`]).
pub(crate) async fn daemon(global: &GlobalArgs) -> anyhow::Result<Option<Daemon>> {
    let target = DaemonTarget {
        addr: global.addr.clone(),
        tls: global.client_tls(),
        local_root: global.root.is_some(),
    };
    Ok(hearth_client::daemon::find(&target).await?)
}

/// Answers a credential request from the user's docker config (helpers may run, so on
/// a blocking thread).
async fn credentials_reply(
    docker: std::sync::Arc<DockerConfigCredentials>,
    host: String,
) -> CredentialsResponse {
    let lookup_host = host.clone();
    let found = tokio::task::spawn_blocking(move || docker.lookup(&lookup_host))
        .await
        .ok()
        .flatten();
    let mut reply = CredentialsResponse {
        host,
        ..CredentialsResponse::default()
    };
    match found {
        Some(Credentials::Basic { username, password }) => {
            reply.found = true;
            reply.username = username;
            reply.secret = password.expose().to_owned();
        }
        Some(Credentials::IdentityToken(token)) => {
            reply.found = true;
            reply.identity_token = token.expose().to_owned();
        }
        None => {}
    }
    reply
}

fn dockerfile(request: &hearth_engine::BuildRequest) -> anyhow::Result<(String, String, PathBuf)> {
    match &request.dockerfile {
        DockerfileSource::Text { name, text } => Ok((
            name.clone(),
            text.clone(),
            request.context.join("Dockerfile"),
        )),
        DockerfileSource::Path(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "Dockerfile".into());
            Ok((name, text, path.clone()))
        }
    }
}

fn secret(sources: &HashMap<String, SecretSource>, id: &str) -> Option<Vec<u8>> {
    match sources.get(id)? {
        SecretSource::File(path) => std::fs::read(path).ok(),
        SecretSource::Env(var) => {
            std::env::var_os(var).map(std::os::unix::ffi::OsStringExt::into_vec)
        }
    }
}

/// Sends the contents of `digests`, reading each from where the listing found it.
async fn send_files(
    digests: Vec<String>,
    files: &HashMap<Digest, PathBuf>,
    tx: &mpsc::Sender<BuildClientMessage>,
) -> anyhow::Result<()> {
    for raw in digests {
        let digest: Digest = raw
            .parse()
            .with_context(|| format!("the daemon asked for an invalid digest {raw:?}"))?;
        let path = files
            .get(&digest)
            .with_context(|| {
                format!("the daemon asked for {digest}, which the context does not hold")
            })?
            .clone();
        let (chunks_tx, mut chunks) = mpsc::channel::<std::io::Result<(Vec<u8>, bool)>>(4);
        // Files are read on a blocking thread, a chunk at a time.
        tokio::task::spawn_blocking(move || {
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = chunks_tx.blocking_send(Err(e));
                    return;
                }
            };
            loop {
                let mut buf = vec![0; FILE_CHUNK];
                match file.read(&mut buf) {
                    Ok(0) => {
                        let _ = chunks_tx.blocking_send(Ok((Vec::new(), true)));
                        return;
                    }
                    Ok(n) => {
                        buf.truncate(n);
                        if chunks_tx.blocking_send(Ok((buf, false))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = chunks_tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        while let Some(chunk) = chunks.recv().await {
            let (data, eof) =
                chunk.with_context(|| format!("reading the context file for {digest}"))?;
            let message = ClientMessage::File(FileChunk {
                digest: digest.to_string(),
                data,
                eof,
            });
            tx.send(BuildClientMessage {
                message: Some(message),
            })
            .await
            .context("the daemon closed the build")?;
            if eof {
                break;
            }
        }
    }
    Ok(())
}

/// The client's part of `type=local` caches: for each `--cache-from` directory its
/// manifest and config go with the spec (and its layer blobs become files the daemon may
/// ask for, returned here); for each `--cache-to` directory, the blobs it already holds.
fn client_caches(
    request: &hearth_engine::BuildRequest,
    spec: &mut hearth_api::v1::BuildSpec,
) -> Vec<(Digest, PathBuf)> {
    let mut blobs = Vec::new();
    for (index, import) in request.cache_from.iter().enumerate() {
        let CacheSource::Local { src, .. } = &import.source else {
            continue;
        };
        match hearth_engine::cache::read_client_layout(&import.source) {
            Ok(layout) => {
                blobs.extend(
                    layout
                        .layers
                        .iter()
                        .map(|d| (*d, src.join("blobs").join("sha256").join(d.hex()))),
                );
                spec.client_cache_sources
                    .push(hearth_api::v1::ClientCacheSource {
                        cache_from: u32::try_from(index).unwrap_or(u32::MAX),
                        manifest: layout.manifest,
                        config: layout.config,
                    });
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr().lock(), "warning: {e}");
            }
        }
    }
    for (index, export) in request.cache_to.iter().enumerate() {
        let CacheTarget::Local { dest, .. } = &export.target else {
            continue;
        };
        let present = std::fs::read_dir(dest.join("blobs").join("sha256"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                format!("sha256:{name}").parse::<Digest>().ok()
            })
            .map(|d| d.to_string())
            .collect();
        spec.client_cache_dests
            .push(hearth_api::v1::ClientCacheDest {
                cache_to: u32::try_from(index).unwrap_or(u32::MAX),
                present,
            });
    }
    blobs
}

/// Writes streamed outputs on a blocking thread (loading into Docker blocks).
enum OutputWork {
    Chunk {
        index: usize,
        data: Vec<u8>,
        eof: bool,
    },
}

fn output_thread(
    kinds: Vec<ExportKind>,
    cache_dirs: Vec<Option<(PathBuf, String)>>,
) -> (
    std::sync::mpsc::SyncSender<OutputWork>,
    std::thread::JoinHandle<anyhow::Result<Vec<String>>>,
) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<OutputWork>(8);
    let runtime = tokio::runtime::Handle::current();
    let handle = std::thread::spawn(move || -> anyhow::Result<Vec<String>> {
        // Loading into Docker drives its HTTP client on the runtime from this thread.
        let _runtime = runtime.enter();
        let mut open: HashMap<usize, ClientOutput> = HashMap::new();
        let mut said = Vec::new();
        for OutputWork::Chunk { index, data, eof } in rx {
            // Numbers past the build's outputs are `--cache-to type=local` directories.
            let kind = kinds.get(index);
            let output = match open.entry(index) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert(match kind {
                    Some(kind) => ClientOutput::open(kind)?,
                    None => {
                        let (dest, tag) = cache_dirs
                            .get(index - kinds.len())
                            .and_then(Option::as_ref)
                            .with_context(|| {
                                format!("the daemon sent output {index}, which was not asked for")
                            })?;
                        ClientOutput::open_cache_dir(dest, tag)?
                    }
                }),
            };
            output.write_all(&data).context("writing an output")?;
            if eof && let Some(output) = open.remove(&index) {
                said.extend(output.finish()?);
            }
        }
        Ok(said)
    });
    (tx, handle)
}

/// Runs `prepared` on `daemon`.
pub(crate) async fn build(
    daemon: Daemon,
    prepared: Prepared,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let chunked_listing = daemon.supports("context-chunks");
    let mut client = daemon.client;
    let request = prepared.request;
    let (name, text, dockerfile_path) = dockerfile(&request)?;
    let context = std::fs::canonicalize(&request.context)
        .with_context(|| format!("reading the context {}", request.context.display()))?;
    let ignore = hearth_dockerignore::fs::read_ignore_for_build(&context, &dockerfile_path)
        .with_context(|| format!("reading .dockerignore in {}", context.display()))?;
    let mut spec = hearth_api::spec_from_request(&request, &name, &text);
    spec.dockerignore = ignore.patterns.clone();
    let cache_blobs = client_caches(&request, &mut spec);
    let context_id = listing::context_id(&context);
    let context_id_for_display = context_id.clone();
    let listing_started = Instant::now();
    let cache = listing::cache_file(&context_id);
    let patterns = ignore.patterns;
    let scanned_context = context.clone();
    let listed =
        tokio::task::spawn_blocking(move || listing::scan(&scanned_context, &patterns, &cache))
            .await
            .context("listing the context")??;
    let listing_took = listing_started.elapsed();
    let listed_entries = listed.entries.len();

    let (tx, rx) = mpsc::channel::<BuildClientMessage>(16);
    let send = |m| BuildClientMessage { message: Some(m) };
    tx.send(send(ClientMessage::Start(BuildStart {
        spec: Some(spec),
        context_id,
        answers_credentials: true,
    })))
    .await
    .context("starting the build")?;
    // The listing follows in its own task: the stream is only read once the call below
    // has started, and a large listing is many messages.
    let listing_sender = {
        let tx = tx.clone();
        let messages = listing_messages(listed.entries, chunked_listing);
        tokio::spawn(async move {
            for index in messages {
                if tx
                    .send(send(ClientMessage::ContextIndex(index)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    };
    let mut inbound = client
        .build(ReceiverStream::new(rx))
        .await
        .context("starting the build on hearthd")?
        .into_inner();

    let mode = prepared.mode.map(Mode::resolve_for_stderr);
    let (events, display) = super::display(mode);
    // The client's half of loading the context, shown as BuildKit shows its own.
    let vertex = Digest::of(format!("hearth-client-context\0{context_id_for_display}").as_bytes());
    let _ = events.send(Event::Started {
        vertex,
        name: "[internal] load build context".into(),
    });
    let _ = events.send(Event::Status {
        vertex,
        message: format!(
            "listed {} entries, hashed {} changed files",
            listed_entries, listed.hashed
        ),
    });
    let _ = events.send(Event::Completed {
        vertex,
        duration: listing_took,
    });
    let names = super::image_names(&request);
    let kinds: Vec<ExportKind> = request.exports.iter().map(|e| e.kind.clone()).collect();
    let cache_dirs = request
        .cache_to
        .iter()
        .map(|c| match &c.target {
            CacheTarget::Local { dest, tag } => Some((dest.clone(), tag.clone())),
            _ => None,
        })
        .collect();
    let (outputs, writer) = output_thread(kinds, cache_dirs);
    let secrets: HashMap<String, SecretSource> = request.secrets.clone().into_iter().collect();
    let mut files = listed.files;
    for (digest, path) in cache_blobs {
        files.entry(digest).or_insert(path);
    }
    let files = std::sync::Arc::new(files);
    let signals = super::signals::SignalWatch::start()?;
    // One file after another, in the order the daemon asked: its requests may come in
    // several messages. A file that cannot be sent ends the build.
    let (need_tx, mut need_rx) = mpsc::unbounded_channel::<Vec<String>>();
    let (send_failed_tx, mut send_failed) = mpsc::channel::<anyhow::Error>(1);
    let file_sender = {
        let tx = tx.clone();
        let files = std::sync::Arc::clone(&files);
        tokio::spawn(async move {
            while let Some(digests) = need_rx.recv().await {
                if let Err(e) = send_files(digests, &files, &tx).await {
                    let _ = send_failed_tx.send(e).await;
                    return;
                }
            }
        })
    };
    let docker = std::sync::Arc::new(DockerConfigCredentials::from_env());

    let mut result = None;
    let mut failure = None;
    loop {
        let next = tokio::select! {
            next = inbound.message() => next,
            () = signals.token().cancelled() => {
                // Dropping the stream tells the daemon to cancel this build.
                break;
            }
            Some(e) = send_failed.recv() => {
                failure = Some(hearth_api::v1::BuildFailure {
                    message: format!("sending the context: {e:#}"),
                    code: hearth_api::failure_code(ErrorKind::InvalidInput),
                    ..Default::default()
                });
                break;
            }
        };
        let message = match next {
            Ok(Some(m)) => m.message,
            Ok(None) => break,
            Err(status) => {
                failure = Some(hearth_api::v1::BuildFailure {
                    message: format!("hearthd: {}", status.message()),
                    code: hearth_api::failure_code(broken_stream_kind(&status)),
                    ..Default::default()
                });
                break;
            }
        };
        match message {
            Some(ServerMessage::Event(event)) => {
                if let Some(event) = hearth_api::event_from_wire(&event) {
                    let _ = events.send(event);
                }
            }
            Some(ServerMessage::NeedFiles(need)) => {
                let _ = need_tx.send(need.digests);
            }
            Some(ServerMessage::CredentialsRequest(request)) => {
                let tx = tx.clone();
                let docker = std::sync::Arc::clone(&docker);
                tokio::spawn(async move {
                    let reply = credentials_reply(docker, request.host).await;
                    let _ = tx.send(send(ClientMessage::Credentials(reply))).await;
                });
            }
            Some(ServerMessage::SecretRequest(request)) => {
                let value = secret(&secrets, &request.id);
                let reply = ClientMessage::Secret(SecretValue {
                    id: request.id,
                    found: value.is_some(),
                    value: value.unwrap_or_default(),
                });
                let _ = tx.send(send(reply)).await;
            }
            Some(ServerMessage::Output(chunk)) => {
                let work = OutputWork::Chunk {
                    index: chunk.output as usize,
                    data: chunk.data,
                    eof: chunk.eof,
                };
                let outputs = outputs.clone();
                tokio::task::spawn_blocking(move || outputs.send(work))
                    .await
                    .context("writing an output")?
                    .map_err(|_| anyhow::anyhow!("the output writer stopped"))?;
            }
            Some(ServerMessage::Result(r)) => {
                result = Some(r);
                break;
            }
            Some(ServerMessage::Failure(f)) => {
                failure = Some(f);
                break;
            }
            None => {}
        }
    }
    let stopped_by = signals.finish().await;
    listing_sender.abort();
    file_sender.abort();
    drop(tx);
    drop(events);
    drop(outputs);
    let written = tokio::task::spawn_blocking(move || writer.join())
        .await
        .context("waiting for the outputs")?
        .map_err(|_| anyhow::anyhow!("the output writer panicked"))?;
    let failed = result.is_none();
    let renderer = super::close_display(display, started, failed).await?;
    crate::commands::engine::report_credential_warnings(&docker);
    if let Some(signal) = stopped_by {
        return Ok(signal.report());
    }
    match (result, failure) {
        (Some(result), _) => {
            let said = written?;
            if !args.quiet {
                let mut stderr = std::io::stderr().lock();
                for line in said {
                    let _ = writeln!(stderr, "{line}");
                }
            }
            let image = (!result.config_digest.is_empty()).then(|| ImageSummary {
                manifest_digest: result.manifest_digest.clone(),
                config_digest: result.config_digest.clone(),
                media_type: result.media_type.clone(),
                manifest_size: result.manifest_size,
            });
            super::report_success(args, &result.warnings, image.as_ref(), &names)
        }
        (None, Some(failure)) => Ok(report::print_failure(
            &report::Failure::of_wire(&failure),
            hearth_api::failure_kind(&failure),
            &renderer,
            report::display_shows_logs(mode),
        )),
        // The stream ended without a word: hearthd stopped or the connection was cut.
        (None, None) => Ok(report::print_failure(
            &report::Failure::Other("hearthd ended the build without a result".to_owned()),
            ErrorKind::Unavailable,
            &renderer,
            report::display_shows_logs(mode),
        )),
    }
}

/// The class of a build stream that failed mid-build. hearthd reports a failed build in
/// a `BuildFailure` message, so a stream error there is the transport's: unless it says
/// otherwise, the daemon or the connection went away.
fn broken_stream_kind(status: &tonic::Status) -> ErrorKind {
    match hearth_api::kind_of(status.code()) {
        ErrorKind::Failed | ErrorKind::Internal | ErrorKind::Cancelled => ErrorKind::Unavailable,
        other => other,
    }
}
