//! The solver: turns a build graph into results, doing each piece of work at most once.
//!
//! For every node the solver first computes a **cache key** from the node's definition
//! and its inputs' contributions, then asks the worker for a cached result under that
//! key, and only runs the node when there is none. An input contributes either its own
//! cache key (the default) or a content digest of its result (when the worker says the
//! node reads specific files from it, as a COPY from the build context does), so an edit
//! to an unrelated file changes no key.
//!
//! The solver knows nothing about containers, files or images: a [`Worker`] decides how
//! keys are derived and how nodes run. Nodes run concurrently as soon as their inputs
//! are ready, bounded by `max_parallelism`; every node is evaluated at most once per
//! [`Solver::solve`] call, even when several outputs need it; and a failure cancels the
//! work still running.

mod events;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use hearth_core::Digest;
use hearth_graph::{Definition, OutputRef};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use events::{EngineStep, Event, EventSender, LogStream, VertexProgress, is_engine_step};
pub use worker::{InputKeyMode, Job, KeyInput, NodeCtx, Worker, WorkerError};

/// A node's cache key.
pub type CacheKey = Digest;

/// Why a solve failed: the vertex that failed and what went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{name}: {message}")]
pub struct SolveError {
    /// The failing node.
    pub vertex: Digest,
    /// Its progress name.
    pub name: String,
    /// The worker's error, rendered.
    pub message: String,
    /// Its class, as the worker judged it.
    pub kind: hearth_core::ErrorKind,
    /// The worker's error.
    pub source: Arc<WorkerError>,
}

/// Options of one solve.
#[derive(Debug, Clone)]
pub struct SolveOptions {
    /// At most this many nodes run at once.
    pub max_parallelism: usize,
}

/// What a solve produced.
#[derive(Debug)]
pub struct Solved<O> {
    /// The root's result (`None` for an empty graph).
    pub output: Option<O>,
    /// The cache key of every node whose key was computed, by node digest.
    pub keys: HashMap<Digest, CacheKey>,
}

/// What a solve of several roots produced.
#[derive(Debug)]
pub struct SolvedRoots<O> {
    /// Each root's result, in the order asked (`None` for an empty filesystem).
    pub outputs: Vec<Option<O>>,
    /// The cache key of every node whose key was computed, by node digest.
    pub keys: HashMap<Digest, CacheKey>,
}

/// Solves definitions with one worker.
pub struct Solver<W: Worker> {
    worker: Arc<W>,
}

impl<W: Worker> Clone for Solver<W> {
    fn clone(&self) -> Self {
        Self {
            worker: Arc::clone(&self.worker),
        }
    }
}

type ResultFuture<O> = Shared<BoxFuture<'static, Result<Vec<O>, SolveError>>>;
type KeyFuture = Shared<BoxFuture<'static, Result<CacheKey, SolveError>>>;

struct Build<W: Worker> {
    worker: Arc<W>,
    definition: Arc<Definition>,
    events: EventSender,
    cancel: CancellationToken,
    slots: Arc<Semaphore>,
    keys: Mutex<HashMap<Digest, KeyFuture>>,
    results: Mutex<HashMap<Digest, ResultFuture<W::Output>>>,
}

impl<W: Worker> Solver<W> {
    /// A solver running nodes on `worker`.
    pub fn new(worker: Arc<W>) -> Self {
        Self { worker }
    }

    /// Computes the result of `definition`'s root (or `None` for an empty graph),
    /// reporting progress on `events`. Cancelling `cancel` stops running nodes.
    pub async fn solve(
        &self,
        definition: Arc<Definition>,
        options: &SolveOptions,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<Option<W::Output>, SolveError> {
        self.solve_keyed(definition, options, events, cancel)
            .await
            .map(|solved| solved.output)
    }

    /// Like [`solve`](Self::solve), and also returns the cache key of every node whose key
    /// was computed (what a cache export needs to know).
    pub async fn solve_keyed(
        &self,
        definition: Arc<Definition>,
        options: &SolveOptions,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<Solved<W::Output>, SolveError> {
        let roots = [definition.root()];
        let mut solved = self
            .solve_roots(definition, &roots, options, events, cancel)
            .await?;
        Ok(Solved {
            output: solved.outputs.pop().flatten(),
            keys: solved.keys,
        })
    }

    /// Computes several roots of one graph in one solve (the platforms of a build, see
    /// `Definition::combine`): every node is still evaluated at most once, whichever
    /// roots need it, and the roots are computed concurrently. A `None` root is an empty
    /// filesystem.
    pub async fn solve_roots(
        &self,
        definition: Arc<Definition>,
        roots: &[Option<OutputRef>],
        options: &SolveOptions,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<SolvedRoots<W::Output>, SolveError> {
        let build = Arc::new(Build {
            worker: Arc::clone(&self.worker),
            definition,
            events,
            cancel: cancel.clone(),
            slots: Arc::new(Semaphore::new(options.max_parallelism.max(1))),
            keys: Mutex::new(HashMap::new()),
            results: Mutex::new(HashMap::new()),
        });
        let outcome = futures::future::try_join_all(roots.iter().map(|root| {
            let build = Arc::clone(&build);
            async move {
                match root {
                    Some(root) => output_of(&build, *root).await.map(Some),
                    None => Ok(None),
                }
            }
        }))
        .await;
        if outcome.is_err() {
            // Stop what is still running for this solve.
            cancel.cancel();
        } else {
            report_skipped(&build).await;
        }
        let keys: HashMap<Digest, CacheKey> = lock(&build.keys)
            .iter()
            .filter_map(|(vertex, f)| match f.peek() {
                Some(Ok(key)) => Some((*vertex, *key)),
                _ => None,
            })
            .collect();
        // Memoized futures that were never driven to the end hold the build (and with it
        // the event sender) alive; dropping them lets the progress stream end once the
        // cancelled tasks have stopped.
        lock(&build.results).clear();
        lock(&build.keys).clear();
        outcome.map(|outputs| SolvedRoots { outputs, keys })
    }

    /// The worker.
    pub fn worker(&self) -> &Arc<W> {
        &self.worker
    }
}

async fn output_of<W: Worker>(
    build: &Arc<Build<W>>,
    r: OutputRef,
) -> Result<W::Output, SolveError> {
    let outputs = result(build, r.node).await?;
    let index = usize::try_from(r.output).unwrap_or(usize::MAX);
    outputs
        .get(index)
        .cloned()
        .ok_or_else(|| internal(build, r.node, format!("node has no output {}", r.output)))
}

fn internal<W: Worker>(build: &Build<W>, vertex: Digest, message: String) -> SolveError {
    solver_error(build, vertex, message, hearth_core::ErrorKind::Internal)
}

/// The build's token was cancelled before the node could run.
fn cancelled<W: Worker>(build: &Build<W>, vertex: Digest) -> SolveError {
    solver_error(
        build,
        vertex,
        "cancelled".to_owned(),
        hearth_core::ErrorKind::Cancelled,
    )
}

fn solver_error<W: Worker>(
    build: &Build<W>,
    vertex: Digest,
    message: String,
    kind: hearth_core::ErrorKind,
) -> SolveError {
    let err: WorkerError = message.clone().into();
    SolveError {
        vertex,
        name: vertex_name(build, &vertex),
        message,
        kind,
        source: Arc::new(err),
    }
}

fn vertex_name<W: Worker>(build: &Build<W>, vertex: &Digest) -> String {
    match build.definition.metadata(vertex) {
        Some(meta) if !meta.name.is_empty() => meta.name.clone(),
        _ => format!("vertex {}", vertex.short()),
    }
}

fn fail<W: Worker>(build: &Build<W>, vertex: Digest, err: WorkerError) -> SolveError {
    SolveError {
        vertex,
        name: vertex_name(build, &vertex),
        message: err.to_string(),
        kind: build.worker.error_kind(&err),
        source: Arc::new(err),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Reports as cached the nodes whose results were never needed because a node built on
/// them came from the cache, as BuildKit shows every step of a cached chain. Only nodes
/// the worker still has a result for are reported: the display must not claim a cache
/// hit the store could not serve.
async fn report_skipped<W: Worker>(build: &Arc<Build<W>>) {
    let computed: Vec<(Digest, CacheKey)> = {
        let keys = match build.keys.lock() {
            Ok(k) => k,
            Err(poisoned) => poisoned.into_inner(),
        };
        let results = match build.results.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        build
            .definition
            .nodes_in_order()
            .map(|(d, _)| d)
            .filter(|d| !results.contains_key(d))
            .filter_map(|d| match keys.get(d).and_then(|f| f.peek()) {
                Some(Ok(key)) => Some((*d, *key)),
                _ => None,
            })
            .collect()
    };
    for (vertex, key) in computed {
        let definition = Arc::clone(&build.definition);
        let Some(node) = definition.node(&vertex) else {
            continue;
        };
        let metadata = definition.metadata(&vertex);
        if metadata.is_some_and(|m| m.ignore_cache) {
            continue;
        }
        let ctx = NodeCtx::new(vertex, node, metadata, &definition);
        if build.worker.probe(ctx, key).await {
            let name = vertex_name(build, &vertex);
            build.events.send(Event::Cached { vertex, name });
        }
    }
}

/// The cache key of `vertex`, computed once per solve.
fn key<W: Worker>(build: &Arc<Build<W>>, vertex: Digest) -> KeyFuture {
    let mut keys = match build.keys.lock() {
        Ok(k) => k,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(f) = keys.get(&vertex) {
        return f.clone();
    }
    let b = Arc::clone(build);
    let fut = async move { compute_key(&b, vertex).await }
        .boxed()
        .shared();
    keys.insert(vertex, fut.clone());
    fut
}

async fn compute_key<W: Worker>(
    build: &Arc<Build<W>>,
    vertex: Digest,
) -> Result<CacheKey, SolveError> {
    let definition = Arc::clone(&build.definition);
    let Some(node) = definition.node(&vertex) else {
        return Err(internal(build, vertex, "unknown vertex".to_owned()));
    };
    let ctx = NodeCtx::new(vertex, node, definition.metadata(&vertex), &definition);
    // Inputs are keyed concurrently: a content key needs the input's result, so keying
    // them one by one would build independent stages one after another.
    let parts =
        futures::future::try_join_all(node.inputs.iter().enumerate().map(|(index, input)| {
            let mode = build.worker.input_key_mode(&ctx, index);
            async move {
                Ok::<_, SolveError>(match mode {
                    InputKeyMode::Key => KeyInput::Key {
                        key: key(build, input.node).await?,
                        output: input.output,
                    },
                    InputKeyMode::Content => {
                        let input_key = key(build, input.node).await?;
                        // An input that bypasses the cache makes a new result under its old
                        // key, so what was known for that key says nothing about it.
                        let input_reruns = build
                            .definition
                            .metadata(&input.node)
                            .is_some_and(|m| m.ignore_cache);
                        let known = if input_reruns {
                            None
                        } else {
                            build.worker.known_content_key(&ctx, index, input_key)
                        };
                        if let Some(known) = known {
                            // The input's result is then only needed if this node runs.
                            KeyInput::Content(known)
                        } else {
                            let out = output_of(build, *input).await?;
                            let digest = build
                                .worker
                                .content_key(ctx, index, input_key, &out)
                                .await
                                .map_err(|e| fail(build, vertex, e))?;
                            KeyInput::Content(digest)
                        }
                    }
                })
            }
        }))
        .await?;
    build
        .worker
        .cache_key(&ctx, &parts)
        .map_err(|e| fail(build, vertex, e))
}

/// The outputs of `vertex`, computed (or loaded) once per solve.
fn result<W: Worker>(build: &Arc<Build<W>>, vertex: Digest) -> ResultFuture<W::Output> {
    let mut results = match build.results.lock() {
        Ok(r) => r,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(f) = results.get(&vertex) {
        return f.clone();
    }
    let b = Arc::clone(build);
    // Each node runs as its own task: if the solve fails elsewhere, a node that is
    // running is not dropped mid-way but sees the cancellation and cleans up.
    let task = tokio::spawn(async move { compute_result(&b, vertex).await });
    let b = Arc::clone(build);
    let fut = async move {
        match task.await {
            Ok(outcome) => outcome,
            Err(join_error) => Err(internal(
                &b,
                vertex,
                format!("worker task failed: {join_error}"),
            )),
        }
    }
    .boxed()
    .shared();
    results.insert(vertex, fut.clone());
    fut
}

async fn compute_result<W: Worker>(
    build: &Arc<Build<W>>,
    vertex: Digest,
) -> Result<Vec<W::Output>, SolveError> {
    let definition = Arc::clone(&build.definition);
    let Some(node) = definition.node(&vertex) else {
        return Err(internal(build, vertex, "unknown vertex".to_owned()));
    };
    let metadata = definition.metadata(&vertex);
    let ctx = NodeCtx::new(vertex, node, metadata, &definition);
    let name = vertex_name(build, &vertex);
    let cache_key = key(build, vertex).await?;
    let ignore_cache = metadata.is_some_and(|m| m.ignore_cache);
    if !ignore_cache
        && let Some(outputs) = build
            .worker
            .load(ctx, cache_key)
            .await
            .map_err(|e| fail(build, vertex, e))?
    {
        build.events.send(Event::Cached { vertex, name });
        return Ok(outputs);
    }
    let inputs =
        futures::future::try_join_all(node.inputs.iter().map(|input| output_of(build, *input)))
            .await?;
    if build.cancel.is_cancelled() {
        return Err(cancelled(build, vertex));
    }
    let permit = tokio::select! {
        permit = Arc::clone(&build.slots).acquire_owned() => permit.map_err(|_| internal(build, vertex, "scheduler closed".to_owned()))?,
        () = build.cancel.cancelled() => return Err(cancelled(build, vertex)),
    };
    let started = Instant::now();
    build.events.send(Event::Started {
        vertex,
        name: name.clone(),
    });
    let job = Job {
        progress: VertexProgress::new(vertex, build.events.clone()),
        cancel: build.cancel.child_token(),
    };
    let outcome = build.worker.exec(ctx, cache_key, inputs, &job).await;
    drop(permit);
    match outcome {
        Ok(outputs) => {
            build.events.send(Event::Completed {
                vertex,
                duration: started.elapsed(),
            });
            Ok(outputs)
        }
        Err(err) => {
            let error = fail(build, vertex, err);
            build.events.send(Event::Failed {
                vertex,
                message: error.message.clone(),
                duration: started.elapsed(),
            });
            build.cancel.cancel();
            Err(error)
        }
    }
}
