//! One client's build over the `Build` stream.
//!
//! The client opens with `BuildStart` and its context listing (see `listing`); the
//! entitlements it asks for are checked first, so a refused build does no work. From then
//! on a dispatcher task reads what the client sends (file contents, secret values,
//! registry credentials) and hands each to whoever asked for it, while the build runs and
//! its progress, outputs and result go back on the outbound channel. The daemon asks,
//! the client answers: the context files the worker's copy lacks (by digest, verified on
//! arrival: `transfer`), secrets when a step needs one and credentials when a registry
//! challenges (`asks`; never written to the daemon's disk), and nothing else. A client
//! that goes away cancels its build; one that breaks the protocol fails it, saying how.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use hearth_api::v1::build_client_message::Message as ClientMessage;
use hearth_api::v1::build_server_message::Message as ServerMessage;
use hearth_api::v1::{
    BuildClientMessage, BuildFailure, BuildResult, BuildServerMessage, BuildSpec, BuildStart,
    NeedFiles, OutputChunk,
};
use hearth_core::{Digest, ErrorKind, Platform};
use hearth_engine::{Engine, EngineError, OutputStream, OutputStreams, RemoteClient};
use hearth_registry::{CredentialError, CredentialSource, Credentials, Descriptor};
use hearth_solver::EventSender;
use hearth_worker::{FetchFuture, FileFetcher, RemoteContext, RemoteEntry};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tonic::{Status, Streaming};

use crate::asks::{ClientCredentials, Secrets, credentials_of, secret_of};
use crate::credentials::BuildCredentials;
use crate::transfer::{NEED_FILES_BATCH, Refused, Transfer};
use crate::{BuildPolicy, listing};

/// Bytes per output chunk sent to the client.
const OUTPUT_CHUNK: usize = 256 << 10;

/// The outbound half of a build stream.
pub(crate) type Outbound = mpsc::Sender<Result<BuildServerMessage, Status>>;

pub(crate) fn message(m: ServerMessage) -> Result<BuildServerMessage, Status> {
    Ok(BuildServerMessage { message: Some(m) })
}

type SecretWaiter = oneshot::Sender<Result<Option<Vec<u8>>, String>>;
type CredentialsWaiter = oneshot::Sender<Result<Option<Credentials>, CredentialError>>;

/// What the dispatcher routes client messages to.
#[derive(Default)]
pub(crate) struct Pending {
    transfer: Option<Transfer>,
    pub(crate) secrets: HashMap<String, Vec<SecretWaiter>>,
    pub(crate) credentials: HashMap<String, Vec<CredentialsWaiter>>,
    /// Set once the client's stream ended: nothing more will arrive.
    pub(crate) closed: Option<String>,
}

/// State shared by the build's helpers and the dispatcher.
pub(crate) struct Shared {
    pub(crate) out: Outbound,
    pending: Mutex<Pending>,
    /// One transfer from the client at a time: the context sync and cache blobs a step
    /// needs may ask at once.
    fetching: tokio::sync::Mutex<()>,
    /// The size of every digest the build may ask the client for: regular files of the
    /// listing and layers of the client's cache directories.
    sizes: HashMap<Digest, u64>,
    /// How the client broke the protocol, if it did.
    violation: Mutex<Option<Refused>>,
}

impl Shared {
    pub(crate) fn pending(&self) -> MutexGuard<'_, Pending> {
        // Each critical section is a few map operations and leaves the state whole.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close(&self, why: String) {
        let mut pending = self.pending();
        if let Some(transfer) = pending.transfer.as_mut() {
            transfer.fail(why.clone());
        }
        // Dropping the waiters tells each that the client is gone.
        pending.secrets.clear();
        pending.credentials.clear();
        pending.closed = Some(why);
    }

    fn violated(&self, why: Refused) {
        *self.violation.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    fn violation(&self) -> Option<Refused> {
        self.violation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Routes one message from the client; an error is a protocol violation.
    fn dispatch(&self, message: ClientMessage) -> Result<(), Refused> {
        match message {
            ClientMessage::File(chunk) => {
                let mut pending = self.pending();
                let Some(transfer) = pending.transfer.as_mut() else {
                    return Err(Refused::from(
                        "the client sent a file nobody asked for".to_owned(),
                    ));
                };
                let outcome = transfer.chunk(chunk, &self.sizes);
                if let Err(why) = &outcome {
                    transfer.fail(why.message.clone());
                }
                outcome
            }
            ClientMessage::Secret(secret) => {
                let id = secret.id.clone();
                let value = secret_of(secret);
                let waiters = self.pending().secrets.remove(&id).unwrap_or_default();
                for waiter in waiters {
                    let _ = waiter.send(value.clone());
                }
                Ok(())
            }
            ClientMessage::Credentials(response) => {
                let host = response.host.clone();
                let answer = credentials_of(response);
                let waiters = self.pending().credentials.remove(&host).unwrap_or_default();
                for waiter in waiters {
                    let _ = waiter.send(answer.clone());
                }
                Ok(())
            }
            // The listing is complete; a second start or listing changes nothing.
            ClientMessage::Start(_) | ClientMessage::ContextIndex(_) => Ok(()),
        }
    }
}

/// Clears the transfer slot however the fetch ends, a cancelled build included.
struct TransferSlot<'a>(&'a Shared);

impl Drop for TransferSlot<'_> {
    fn drop(&mut self) {
        self.0.pending().transfer = None;
    }
}

/// Asks the client for context contents.
struct Fetcher(Arc<Shared>);

impl FileFetcher for Fetcher {
    fn fetch<'a>(&'a self, digests: Vec<Digest>, dir: &'a Path) -> FetchFuture<'a> {
        Box::pin(async move {
            if let Some(unknown) = digests.iter().find(|d| !self.0.sizes.contains_key(d)) {
                return Err(format!(
                    "{unknown} is neither in the client's context listing nor in its cache directories"
                ));
            }
            let _turn = self.0.fetching.lock().await;
            let (done, finished) = oneshot::channel();
            {
                let mut pending = self.0.pending();
                if let Some(why) = &pending.closed {
                    return Err(why.clone());
                }
                pending.transfer = Some(Transfer::new(dir, &digests, done));
            }
            let _slot = TransferSlot(&self.0);
            for batch in digests.chunks(NEED_FILES_BATCH) {
                let need = NeedFiles {
                    digests: batch.iter().map(Digest::to_string).collect(),
                };
                self.0
                    .out
                    .send(message(ServerMessage::NeedFiles(need)))
                    .await
                    .map_err(|_| "the client went away".to_owned())?;
            }
            finished
                .await
                .unwrap_or_else(|_| Err("the client went away".into()))
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

/// The sizes of everything the build may ask the client for.
fn known_sizes(entries: &[RemoteEntry], spec: &BuildSpec) -> HashMap<Digest, u64> {
    #[derive(serde::Deserialize)]
    struct Layers {
        #[serde(default)]
        layers: Vec<Descriptor>,
    }
    let mut sizes = HashMap::new();
    let mut note = |digest: Digest, size: u64| {
        let known = sizes.entry(digest).or_insert(size);
        *known = (*known).max(size);
    };
    for entry in entries {
        if let Some(digest) = entry.digest {
            note(digest, entry.size);
        }
    }
    for source in &spec.client_cache_sources {
        // A manifest that does not parse offers no blobs; the engine says what is wrong
        // with it when it imports the cache.
        if let Ok(manifest) = serde_json::from_slice::<Layers>(&source.manifest) {
            for layer in manifest.layers {
                note(layer.digest, layer.size);
            }
        }
    }
    sizes
}

/// A failure that is not a step's or the Dockerfile's, of class `kind`.
fn failure(kind: ErrorKind, message: String) -> BuildFailure {
    BuildFailure {
        message,
        code: hearth_api::failure_code(kind),
        ..BuildFailure::default()
    }
}

/// Runs one build for a client whose stream has delivered `start`; results go to
/// `out`. Returns when the build and its replies are done.
pub(crate) async fn run(
    engine: Arc<Engine>,
    policy: Arc<BuildPolicy>,
    start: BuildStart,
    mut inbound: Streaming<BuildClientMessage>,
    out: Outbound,
) {
    let reply = match accept(&policy, &start, &mut inbound).await {
        Ok((spec, entries)) => serve(engine, &policy, start, spec, entries, inbound, &out)
            .await
            .unwrap_or_else(ServerMessage::Failure),
        Err(why) => ServerMessage::Failure(failure(ErrorKind::InvalidInput, why)),
    };
    let _ = out.send(message(reply)).await;
}

/// Checks what the client asks for and receives its listing.
async fn accept(
    policy: &BuildPolicy,
    start: &BuildStart,
    inbound: &mut Streaming<BuildClientMessage>,
) -> Result<(BuildSpec, Vec<RemoteEntry>), String> {
    let spec = start
        .spec
        .clone()
        .ok_or_else(|| "the client sent no build spec".to_owned())?;
    policy.entitlements.check(&spec)?;
    let entries = listing::receive(inbound, listing::LIMITS).await?;
    Ok((spec, entries))
}

async fn serve(
    engine: Arc<Engine>,
    policy: &BuildPolicy,
    start: BuildStart,
    spec: BuildSpec,
    entries: Vec<RemoteEntry>,
    mut inbound: Streaming<BuildClientMessage>,
    out: &Outbound,
) -> Result<ServerMessage, BuildFailure> {
    let shared = Arc::new(Shared {
        out: out.clone(),
        pending: Mutex::new(Pending::default()),
        fetching: tokio::sync::Mutex::new(()),
        sizes: known_sizes(&entries, &spec),
        violation: Mutex::new(None),
    });
    let cancel = CancellationToken::new();
    let dispatcher = {
        let shared = Arc::clone(&shared);
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let why = loop {
                match inbound.message().await {
                    Ok(Some(BuildClientMessage { message: Some(m) })) => {
                        if let Err(violation) = shared.dispatch(m) {
                            let why = violation.message.clone();
                            shared.violated(violation);
                            break why;
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break "the client closed its stream".to_owned(),
                    Err(e) => break format!("the client's stream failed: {}", e.message()),
                }
            };
            shared.close(why);
            // The client is gone (or broke the protocol): its build has no one to serve.
            cancel.cancel();
        })
    };
    let credentials = BuildCredentials {
        own: Arc::clone(&policy.own_credentials),
        client: start
            .answers_credentials
            .then(|| Arc::new(ClientCredentials(Arc::clone(&shared))) as Arc<dyn CredentialSource>),
    };
    let outcome = build(&engine, start, spec, entries, credentials, &shared, cancel).await;
    dispatcher.abort();
    match (outcome, shared.violation()) {
        (Err(_), Some(violation)) => Err(failure(violation.kind, violation.message)),
        (outcome, _) => outcome,
    }
}

async fn build(
    engine: &Engine,
    start: BuildStart,
    spec: BuildSpec,
    entries: Vec<RemoteEntry>,
    credentials: BuildCredentials,
    shared: &Arc<Shared>,
    cancel: CancellationToken,
) -> Result<ServerMessage, BuildFailure> {
    let mut request = hearth_api::request_from_spec(&spec, Platform::host())
        .map_err(|e| failure(ErrorKind::InvalidInput, e.to_string()))?;
    request.credentials = Arc::new(credentials);
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
            if let Some(images) = &outcome.image
                && let (Some(top), Some(id)) = (images.top(), images.id())
            {
                result.manifest_digest = top.digest.to_string();
                result.config_digest = id.to_string();
                result.media_type = top.media_type.to_owned();
                result.manifest_size = top.bytes.len() as u64;
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
            code: hearth_api::failure_code(err.kind()),
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
            code: hearth_api::failure_code(step.kind),
        },
        other => failure(other.kind(), other.to_string()),
    }
}
