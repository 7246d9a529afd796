//! One client's build over the `Build` stream.
//!
//! The client opens with `BuildStart` and its context listing; from then on a dispatcher
//! task reads what the client sends (file contents, secret values) and hands each to
//! whoever asked for it, while the build runs and its progress, outputs and result go
//! back on the outbound channel. The daemon asks, the client answers: the context
//! files the worker's copy lacks (by digest, verified on arrival), secrets when a step
//! needs one (never written to the daemon's disk), and nothing else. A client that goes
//! away cancels its build.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use hearth_api::v1::build_client_message::Message as ClientMessage;
use hearth_api::v1::build_server_message::Message as ServerMessage;
use hearth_api::v1::{
    BuildFailure, BuildResult, BuildServerMessage, BuildStart, ContextIndex, FileChunk, NeedFiles,
    OutputChunk, SecretRequest,
};
use hearth_core::{Digest, Platform};
use hearth_engine::{Engine, EngineError, OutputStream, OutputStreams, RemoteClient};
use hearth_solver::EventSender;
use hearth_worker::{
    FetchFuture, FileFetcher, RemoteContext, RemoteEntry, SecretFuture, SecretProvider,
};
use sha2::Digest as _;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tonic::{Status, Streaming};

/// Bytes per output chunk sent to the client.
const OUTPUT_CHUNK: usize = 256 << 10;

/// The outbound half of a build stream.
pub(crate) type Outbound = mpsc::Sender<Result<BuildServerMessage, Status>>;

fn message(m: ServerMessage) -> Result<BuildServerMessage, Status> {
    Ok(BuildServerMessage { message: Some(m) })
}

/// Context files being received.
struct Fetch {
    dir: PathBuf,
    remaining: HashSet<Digest>,
    current: Option<Receiving>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

struct Receiving {
    digest: Digest,
    file: fs::File,
    hasher: sha2::Sha256,
    partial: PathBuf,
}

/// What the dispatcher routes client messages to.
#[derive(Default)]
struct Pending {
    fetch: Option<Fetch>,
    secrets: HashMap<String, Vec<oneshot::Sender<Option<Vec<u8>>>>>,
    /// Set once the client's stream ended: nothing more will arrive.
    closed: Option<String>,
}

/// State shared by the build's helpers and the dispatcher.
struct Shared {
    out: Outbound,
    pending: Mutex<Pending>,
    /// One transfer from the client at a time: the context sync and cache blobs a step
    /// needs may ask at once, and the stream carries one file after another.
    fetching: tokio::sync::Mutex<()>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        // Each critical section is a few map operations and leaves the state whole.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close(&self, why: String) {
        let mut pending = self.pending();
        if let Some(fetch) = pending.fetch.as_mut()
            && let Some(done) = fetch.done.take()
        {
            let _ = done.send(Err(why.clone()));
        }
        for (_, waiters) in pending.secrets.drain() {
            drop(waiters);
        }
        pending.closed = Some(why);
    }

    /// Takes one file chunk from the client.
    fn file_chunk(&self, chunk: FileChunk) -> Result<(), String> {
        let mut pending = self.pending();
        let Some(fetch) = pending.fetch.as_mut() else {
            return Err("the client sent a file nobody asked for".into());
        };
        let digest: Digest = chunk
            .digest
            .parse()
            .map_err(|_| format!("the client sent a file with digest {:?}", chunk.digest))?;
        if !fetch.remaining.contains(&digest) {
            return Err(format!("the client sent {digest}, which was not asked for"));
        }
        if fetch.current.as_ref().is_none_or(|c| c.digest != digest) {
            let partial = fetch.dir.join(format!("{}.partial", digest.hex()));
            let file = fs::File::create(&partial)
                .map_err(|e| format!("creating {}: {e}", partial.display()))?;
            fetch.current = Some(Receiving {
                digest,
                file,
                hasher: sha2::Sha256::new(),
                partial,
            });
        }
        let receiving = fetch
            .current
            .as_mut()
            .ok_or_else(|| "no file being received".to_owned())?;
        receiving
            .file
            .write_all(&chunk.data)
            .map_err(|e| format!("writing {}: {e}", receiving.partial.display()))?;
        receiving.hasher.update(&chunk.data);
        if !chunk.eof {
            return Ok(());
        }
        let Some(done) = fetch.current.take() else {
            return Ok(());
        };
        let actual = Digest::from_sha256_bytes(done.hasher.finalize().into());
        if actual != digest {
            let _ = fs::remove_file(&done.partial);
            return Err(format!(
                "the client sent content for {digest} that hashes to {actual}"
            ));
        }
        let complete = fetch.dir.join(digest.hex());
        fs::rename(&done.partial, &complete)
            .map_err(|e| format!("storing {}: {e}", complete.display()))?;
        fetch.remaining.remove(&digest);
        if fetch.remaining.is_empty()
            && let Some(done) = fetch.done.take()
        {
            let _ = done.send(Ok(()));
        }
        Ok(())
    }

    fn secret_value(&self, id: String, value: Option<Vec<u8>>) {
        let waiters = self.pending().secrets.remove(&id).unwrap_or_default();
        for waiter in waiters {
            let _ = waiter.send(value.clone());
        }
    }
}

/// Asks the client for context contents.
struct Fetcher(Arc<Shared>);

impl FileFetcher for Fetcher {
    fn fetch<'a>(&'a self, digests: Vec<Digest>, dir: &'a Path) -> FetchFuture<'a> {
        Box::pin(async move {
            let _turn = self.0.fetching.lock().await;
            let (done, finished) = oneshot::channel();
            {
                let mut pending = self.0.pending();
                if let Some(why) = &pending.closed {
                    return Err(why.clone());
                }
                if pending.fetch.as_ref().is_some_and(|f| f.done.is_some()) {
                    return Err("a context transfer is already running".into());
                }
                pending.fetch = Some(Fetch {
                    dir: dir.to_path_buf(),
                    remaining: digests.iter().copied().collect(),
                    current: None,
                    done: Some(done),
                });
            }
            let need = NeedFiles {
                digests: digests.iter().map(Digest::to_string).collect(),
            };
            self.0
                .out
                .send(message(ServerMessage::NeedFiles(need)))
                .await
                .map_err(|_| "the client went away".to_owned())?;
            let outcome = finished
                .await
                .unwrap_or_else(|_| Err("the client went away".into()));
            self.0.pending().fetch = None;
            outcome
        })
    }
}

/// Asks the client for secrets.
struct Secrets(Arc<Shared>);

impl SecretProvider for Secrets {
    fn secret<'a>(&'a self, id: &'a str) -> SecretFuture<'a> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            {
                let mut pending = self.0.pending();
                if let Some(why) = &pending.closed {
                    return Err(why.clone());
                }
                pending.secrets.entry(id.to_owned()).or_default().push(tx);
            }
            self.0
                .out
                .send(message(ServerMessage::SecretRequest(SecretRequest {
                    id: id.to_owned(),
                })))
                .await
                .map_err(|_| "the client went away".to_owned())?;
            rx.await
                .map_err(|_| "the client went away before sending the secret".to_owned())
        })
    }
}

/// Sends file outputs to the client.
struct Streams(Arc<Shared>);

impl OutputStreams for Streams {
    fn open(&self, index: usize) -> io::Result<Box<dyn OutputStream>> {
        Ok(Box::new(ChunkWriter {
            index: u32::try_from(index).map_err(io::Error::other)?,
            out: self.0.out.clone(),
            buffer: Vec::with_capacity(OUTPUT_CHUNK),
        }))
    }
}

/// Buffers an output into chunks; used from the engine's blocking threads.
struct ChunkWriter {
    index: u32,
    out: Outbound,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self, eof: bool) -> io::Result<()> {
        let chunk = OutputChunk {
            output: self.index,
            data: std::mem::take(&mut self.buffer),
            eof,
        };
        self.out
            .blocking_send(message(ServerMessage::Output(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= OUTPUT_CHUNK {
            self.send(false)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl OutputStream for ChunkWriter {
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.send(true)
    }
}

fn entries_of(index: ContextIndex) -> Result<Vec<RemoteEntry>, Status> {
    index
        .entries
        .into_iter()
        .map(|e| {
            let digest = if e.digest.is_empty() {
                None
            } else {
                Some(e.digest.parse::<Digest>().map_err(|_| {
                    Status::invalid_argument(format!(
                        "invalid digest {:?} for {}",
                        e.digest, e.path
                    ))
                })?)
            };
            Ok(RemoteEntry {
                path: e.path,
                mode: e.mode,
                size: e.size,
                mtime_ns: i128::from(e.mtime_ns),
                link: Some(e.link_target).filter(|l| !l.is_empty()),
                digest,
            })
        })
        .collect()
}

/// Runs one build for a client whose stream has delivered `start` and `index`; results
/// go to `out`. Returns when the build and its replies are done.
pub(crate) async fn run(
    engine: Arc<Engine>,
    start: BuildStart,
    index: ContextIndex,
    mut inbound: Streaming<hearth_api::v1::BuildClientMessage>,
    out: Outbound,
) {
    let shared = Arc::new(Shared {
        out: out.clone(),
        pending: Mutex::new(Pending::default()),
        fetching: tokio::sync::Mutex::new(()),
    });
    let cancel = CancellationToken::new();
    let dispatcher = {
        let shared = Arc::clone(&shared);
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let why = loop {
                match inbound.message().await {
                    Ok(Some(msg)) => match msg.message {
                        Some(ClientMessage::File(chunk)) => {
                            if let Err(e) = shared.file_chunk(chunk) {
                                break e;
                            }
                        }
                        Some(ClientMessage::Secret(secret)) => {
                            let value = secret.found.then_some(secret.value);
                            shared.secret_value(secret.id, value);
                        }
                        _ => {}
                    },
                    Ok(None) => break "the client closed its stream".to_owned(),
                    Err(e) => break format!("the client's stream failed: {}", e.message()),
                }
            };
            shared.close(why);
            // The client is gone (or broke the protocol): its build has no one to serve.
            cancel.cancel();
        })
    };

    let outcome = build(&engine, start, index, &shared, cancel.clone()).await;
    let reply = match outcome {
        Ok(reply) => reply,
        Err(failure) => ServerMessage::Failure(failure),
    };
    let _ = out.send(message(reply)).await;
    dispatcher.abort();
}

async fn build(
    engine: &Engine,
    start: BuildStart,
    index: ContextIndex,
    shared: &Arc<Shared>,
    cancel: CancellationToken,
) -> Result<ServerMessage, BuildFailure> {
    let failure = |message: String| BuildFailure {
        message,
        ..BuildFailure::default()
    };
    let spec = start
        .spec
        .ok_or_else(|| failure("the client sent no build spec".into()))?;
    let entries = entries_of(index).map_err(|e| failure(e.message().to_owned()))?;
    let mut request = hearth_api::request_from_spec(&spec, Platform::host())
        .map_err(|e| failure(e.to_string()))?;
    request.remote = Some(RemoteClient {
        context: RemoteContext {
            id: start.context_id,
            entries: Arc::new(entries),
            fetcher: Arc::new(Fetcher(Arc::clone(shared))),
        },
        dockerignore: spec.dockerignore.clone(),
        outputs: Arc::new(Streams(Arc::clone(shared))),
        secrets: Arc::new(Secrets(Arc::clone(shared))),
        cache_sources: spec
            .client_cache_sources
            .iter()
            .map(|c| {
                (
                    c.cache_from as usize,
                    (c.manifest.clone(), c.config.clone()),
                )
            })
            .collect(),
        cache_dests: spec
            .client_cache_dests
            .iter()
            .map(|c| {
                (
                    c.cache_to as usize,
                    c.present.iter().filter_map(|d| d.parse().ok()).collect(),
                )
            })
            .collect(),
    });

    let (tx, mut rx) = mpsc::unbounded_channel();
    let forward = {
        let out = shared.out.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let wire = hearth_api::event_to_wire(&event);
                if out.send(message(ServerMessage::Event(wire))).await.is_err() {
                    break;
                }
            }
        })
    };
    let outcome = engine.build(request, EventSender::new(tx), cancel).await;
    // Every event reaches the client before the result does.
    let _ = forward.await;
    match outcome {
        Ok(outcome) => {
            let (name, text) = &outcome.dockerfile;
            let warnings = outcome
                .warnings
                .iter()
                .map(|w| w.render(name, text))
                .collect();
            let mut result = BuildResult {
                warnings,
                ..BuildResult::default()
            };
            if let Some(image) = &outcome.image {
                result.manifest_digest = image.manifest_digest.to_string();
                result.config_digest = image.config_digest.to_string();
                result.media_type = image.media_type.clone();
                result.manifest_size = image.manifest.len() as u64;
            }
            Ok(ServerMessage::Result(result))
        }
        Err(err) => Err(failure_of(&err)),
    }
}

/// The wire form of a failed build.
fn failure_of(err: &EngineError) -> BuildFailure {
    match err {
        EngineError::Dockerfile(failure) => BuildFailure {
            message: "the Dockerfile has errors".into(),
            diagnostics: failure.render(),
            dockerfile_name: failure.file_name.clone(),
            ..BuildFailure::default()
        },
        EngineError::Step(step) => BuildFailure {
            message: step.message.clone(),
            step: step.name.clone(),
            vertex: step.vertex.to_string(),
            line_start: step.location.as_ref().map_or(0, |l| l.start),
            line_end: step.location.as_ref().map_or(0, |l| l.end),
            dockerfile_name: step.file_name.clone(),
            dockerfile_text: step.text.clone(),
            diagnostics: String::new(),
        },
        other => BuildFailure {
            message: other.to_string(),
            ..BuildFailure::default()
        },
    }
}
