//! Scheduling behaviour of the solver.
//!
//! The worker here is a stand-in by necessity: the solver's contract (keys before work,
//! each node once, bounded parallelism, cancellation) is independent of what nodes do,
//! and checking it needs exact call counts and controllable timing, which containers
//! cannot give. Each node's op is an exec whose argv says what the fake does:
//! `["concat", text]` outputs its inputs joined plus `text`, `["sleep", ms, text]`
//! waits first, `["fail", message]` fails.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use hearth_core::Digest;
use hearth_graph::op::{ExecMeta, ExecOp, Mount, MountKind, NetworkMode, SecurityMode};
use hearth_graph::{Definition, GraphBuilder, Input, NodeMetadata, Op};
use hearth_solver::{
    CacheKey, Event, EventSender, InputKeyMode, Job, KeyInput, NodeCtx, SolveOptions, Solver,
    Worker, WorkerError,
};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct CountingWorker {
    execs: Mutex<HashMap<String, usize>>,
    cache: Mutex<HashMap<CacheKey, String>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    cancelled: AtomicUsize,
    content_mode: bool,
}

fn args(node: &NodeCtx<'_>) -> Vec<String> {
    match &node.node.op {
        Op::Exec(e) => e.meta.args.clone(),
        _ => panic!("test graphs only have execs"),
    }
}

impl Worker for CountingWorker {
    type Output = String;

    fn input_key_mode(&self, _node: &NodeCtx<'_>, _index: usize) -> InputKeyMode {
        if self.content_mode {
            InputKeyMode::Content
        } else {
            InputKeyMode::Key
        }
    }

    fn content_key<'a>(
        &'a self,
        _node: NodeCtx<'a>,
        _index: usize,
        _input_key: CacheKey,
        input: &'a String,
    ) -> BoxFuture<'a, Result<Digest, WorkerError>> {
        // Only the first character of an input "matters" to the readers in this test.
        async move { Ok(Digest::of(input.get(..1).unwrap_or_default().as_bytes())) }.boxed()
    }

    fn cache_key(&self, node: &NodeCtx<'_>, inputs: &[KeyInput]) -> Result<CacheKey, WorkerError> {
        Ok(Digest::of(format!("{:?}{inputs:?}", args(node)).as_bytes()))
    }

    fn load<'a>(
        &'a self,
        _node: NodeCtx<'a>,
        key: CacheKey,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, WorkerError>> {
        async move {
            Ok(self
                .cache
                .lock()
                .unwrap()
                .get(&key)
                .map(|v| vec![v.clone()]))
        }
        .boxed()
    }

    fn exec<'a>(
        &'a self,
        node: NodeCtx<'a>,
        key: CacheKey,
        inputs: Vec<String>,
        job: &'a Job,
    ) -> BoxFuture<'a, Result<Vec<String>, WorkerError>> {
        async move {
            let a = args(&node);
            *self.execs.lock().unwrap().entry(a.last().cloned().unwrap_or_default()).or_default() += 1;
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now, Ordering::SeqCst);
            let result = match a[0].as_str() {
                "fail" => Err(WorkerError::from(a[1].clone())),
                "sleep" => {
                    let ms: u64 = a[1].parse().unwrap();
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(ms)) => Ok(format!("{}{}", inputs.concat(), a[2])),
                        () = job.cancel.cancelled() => {
                            self.cancelled.fetch_add(1, Ordering::SeqCst);
                            Err(WorkerError::from("cancelled"))
                        }
                    }
                }
                _ => Ok(format!("{}{}", inputs.concat(), a[1])),
            };
            self.running.fetch_sub(1, Ordering::SeqCst);
            if let Ok(v) = &result {
                job.progress.log(hearth_solver::LogStream::Stdout, v.as_bytes());
                self.cache.lock().unwrap().insert(key, v.clone());
            }
            result.map(|v| vec![v])
        }
        .boxed()
    }
}

fn node(b: &mut GraphBuilder, argv: &[&str], inputs: &[Input], ignore_cache: bool) -> Input {
    let mounts = inputs
        .iter()
        .enumerate()
        .map(|(i, _)| Mount {
            input: Some(i as u32),
            target: format!("/in{i}"),
            selector: "/".into(),
            readonly: true,
            output: None,
            kind: MountKind::Bind,
        })
        .chain(std::iter::once(Mount {
            input: None,
            target: "/".into(),
            selector: "/".into(),
            readonly: false,
            output: Some(0),
            kind: MountKind::Bind,
        }))
        .collect();
    b.add(
        Op::Exec(ExecOp {
            meta: ExecMeta {
                args: argv.iter().map(|s| s.to_string()).collect(),
                env: vec![],
                cwd: "/".into(),
                user: String::new(),
                proxy_env: vec![],
            },
            mounts,
            network: NetworkMode::Default,
            security: SecurityMode::Sandbox,
            secret_env: vec![],
        }),
        inputs.to_vec(),
        None,
        NodeMetadata {
            name: argv.last().unwrap().to_string(),
            ignore_cache,
            ..NodeMetadata::default()
        },
    )
    .output0()
}

async fn solve(
    worker: &Arc<CountingWorker>,
    def: Definition,
    parallelism: usize,
) -> (
    Result<Option<String>, hearth_solver::SolveError>,
    Vec<Event>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let solver = Solver::new(Arc::clone(worker));
    let result = solver
        .solve(
            Arc::new(def),
            &SolveOptions {
                max_parallelism: parallelism,
            },
            EventSender::new(tx),
            CancellationToken::new(),
        )
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (result, events)
}

fn diamond(top: &str) -> Definition {
    let mut b = GraphBuilder::new();
    let base = node(&mut b, &["concat", "base"], &[], false);
    let left = node(&mut b, &["concat", "left"], &[base], false);
    let right = node(&mut b, &["concat", "right"], &[base], false);
    let top = node(&mut b, &["concat", top], &[left, right], false);
    b.finish(Some(top)).unwrap()
}

#[tokio::test]
async fn shared_inputs_run_once() {
    let worker = Arc::new(CountingWorker::default());
    let (result, _) = solve(&worker, diamond("top"), 4).await;
    assert_eq!(result.unwrap().unwrap(), "baseleftbaserighttop");
    let execs = worker.execs.lock().unwrap().clone();
    assert_eq!(
        execs.values().copied().collect::<Vec<_>>(),
        vec![1, 1, 1, 1]
    );
}

#[tokio::test]
async fn several_roots_share_their_common_work_in_one_solve() {
    let worker = Arc::new(CountingWorker::default());
    let plan = |top: &str| {
        let mut b = GraphBuilder::new();
        let base = node(&mut b, &["concat", "base"], &[], false);
        let tool = node(&mut b, &["concat", "tool"], &[base], false);
        let top = node(&mut b, &["concat", top], &[tool], false);
        b.finish(Some(top)).unwrap()
    };
    let (combined, roots) = Definition::combine(&[plan("amd64"), plan("arm64"), plan("amd64")]);
    let solved = Solver::new(Arc::clone(&worker))
        .solve_roots(
            Arc::new(combined),
            &roots,
            &SolveOptions { max_parallelism: 2 },
            EventSender::discard(),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        solved.outputs,
        vec![
            Some("basetoolamd64".to_owned()),
            Some("basetoolarm64".to_owned()),
            Some("basetoolamd64".to_owned())
        ]
    );
    let execs = worker.execs.lock().unwrap().clone();
    assert_eq!(execs.len(), 4, "{execs:?}");
    assert!(
        execs.values().all(|n| *n == 1),
        "each node ran once: {execs:?}"
    );
}

#[tokio::test]
async fn a_cached_rebuild_runs_nothing_and_a_change_reruns_only_dependents() {
    let worker = Arc::new(CountingWorker::default());
    solve(&worker, diamond("top"), 4).await.0.unwrap();
    let (again, events) = solve(&worker, diamond("top"), 4).await;
    assert_eq!(again.unwrap().unwrap(), "baseleftbaserighttop");
    assert_eq!(
        worker.execs.lock().unwrap().values().sum::<usize>(),
        4,
        "no new execs"
    );
    // A hit at the root needs nothing below it, yet every node of the cached chain is
    // reported cached, once, as BuildKit shows them.
    let mut cached: Vec<Digest> = events
        .iter()
        .filter_map(|e| match e {
            Event::Cached { vertex, .. } => Some(*vertex),
            _ => None,
        })
        .collect();
    assert_eq!(cached.len(), 4);
    cached.sort_by_key(|d| d.hex());
    cached.dedup();
    assert_eq!(cached.len(), 4, "each node reported once");
    assert!(
        !events.iter().any(|e| matches!(e, Event::Started { .. })),
        "nothing started"
    );
    solve(&worker, diamond("changed"), 4).await.0.unwrap();
    let execs = worker.execs.lock().unwrap().clone();
    assert_eq!(execs.get("changed"), Some(&1));
    assert_eq!(execs.get("base"), Some(&1));
    assert_eq!(execs.get("left"), Some(&1));
}

#[tokio::test]
async fn ignore_cache_reruns_the_node() {
    let worker = Arc::new(CountingWorker::default());
    let build = |ignore: bool| {
        let mut b = GraphBuilder::new();
        let base = node(&mut b, &["concat", "base"], &[], false);
        let top = node(&mut b, &["concat", "top"], &[base], ignore);
        b.finish(Some(top)).unwrap()
    };
    solve(&worker, build(false), 2).await.0.unwrap();
    solve(&worker, build(true), 2).await.0.unwrap();
    let execs = worker.execs.lock().unwrap().clone();
    assert_eq!((execs["base"], execs["top"]), (1, 2));
}

#[tokio::test]
async fn content_keys_ignore_what_the_node_does_not_read() {
    let worker = Arc::new(CountingWorker {
        content_mode: true,
        ..CountingWorker::default()
    });
    let build = |leaf: &str| {
        let mut b = GraphBuilder::new();
        let src = node(&mut b, &["concat", leaf], &[], false);
        let top = node(&mut b, &["concat", "top"], &[src], false);
        b.finish(Some(top)).unwrap()
    };
    solve(&worker, build("x1"), 2).await.0.unwrap();
    // Same first character: the reader's key is unchanged, so it is not re-run.
    solve(&worker, build("x2"), 2).await.0.unwrap();
    solve(&worker, build("y1"), 2).await.0.unwrap();
    let execs = worker.execs.lock().unwrap().clone();
    assert_eq!(execs["top"], 2, "{execs:?}");
}

#[tokio::test]
async fn parallelism_is_bounded_and_used() {
    let worker = Arc::new(CountingWorker::default());
    let mut b = GraphBuilder::new();
    let leaves: Vec<Input> = (0..6)
        .map(|i| node(&mut b, &["sleep", "100", &format!("leaf{i}")], &[], false))
        .collect();
    let top = node(&mut b, &["concat", "top"], &leaves, false);
    let def = b.finish(Some(top)).unwrap();
    let started = std::time::Instant::now();
    solve(&worker, def, 2).await.0.unwrap();
    assert_eq!(worker.max_running.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() < Duration::from_millis(550),
        "independent nodes ran two at a time"
    );
}

#[tokio::test]
async fn a_failure_cancels_running_work_and_names_the_vertex() {
    let worker = Arc::new(CountingWorker::default());
    let mut b = GraphBuilder::new();
    let slow = node(&mut b, &["sleep", "5000", "slow"], &[], false);
    let bad = node(&mut b, &["fail", "boom"], &[], false);
    let top = node(&mut b, &["concat", "top"], &[slow, bad], false);
    let def = b.finish(Some(top)).unwrap();
    let started = std::time::Instant::now();
    let (result, events) = solve(&worker, def, 4).await;
    let err = result.unwrap_err();
    assert_eq!(err.message, "boom");
    assert_eq!(err.name, "boom");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Give the cancelled sibling a moment to observe its token.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(worker.cancelled.load(Ordering::SeqCst), 1);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Failed { message, .. } if message == "boom"))
    );
    assert_eq!(worker.execs.lock().unwrap().get("top"), None);
}

#[tokio::test]
async fn events_report_start_logs_and_completion() {
    let worker = Arc::new(CountingWorker::default());
    let mut b = GraphBuilder::new();
    let only = node(&mut b, &["concat", "only"], &[], false);
    let (_, events) = solve(&worker, b.finish(Some(only)).unwrap(), 1).await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::Started { .. } => "started",
            Event::Log { .. } => "log",
            Event::Completed { .. } => "completed",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, vec!["started", "log", "completed"]);
}

#[tokio::test]
async fn after_a_failure_the_event_stream_ends_once_cancelled_work_stops() {
    // A display drains events until the channel closes; a solve that kept its sender
    // alive after failing would leave the client waiting forever.
    let worker = Arc::new(CountingWorker::default());
    let mut b = GraphBuilder::new();
    let slow = node(&mut b, &["sleep", "60000", "slow"], &[], false);
    let bad = node(&mut b, &["fail", "boom"], &[], false);
    let left = node(&mut b, &["concat", "left"], &[slow], false);
    let top = node(&mut b, &["concat", "top"], &[left, bad], false);
    let def = b.finish(Some(top)).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let solver = Solver::new(Arc::clone(&worker));
    let result = solver
        .solve(
            Arc::new(def),
            &SolveOptions { max_parallelism: 4 },
            EventSender::new(tx),
            CancellationToken::new(),
        )
        .await;
    assert!(result.is_err());
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while rx.recv().await.is_some() {}
    })
    .await;
    assert!(
        drained.is_ok(),
        "the event channel stayed open after the solve failed"
    );
    assert_eq!(
        worker.execs.lock().unwrap().get("left"),
        None,
        "nothing ran after the failure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_keyed_by_content_are_built_in_parallel() {
    // Keying a node by its inputs' content needs their results; independent inputs must
    // still build side by side (the chain of COPY --from steps of a multi-stage build).
    let worker = Arc::new(CountingWorker {
        content_mode: true,
        ..CountingWorker::default()
    });
    let mut b = GraphBuilder::new();
    let first = node(&mut b, &["sleep", "300", "a"], &[], false);
    let second = node(&mut b, &["sleep", "300", "b"], &[], false);
    let third = node(&mut b, &["sleep", "300", "c"], &[], false);
    let left = node(&mut b, &["concat", "l"], &[first, second], false);
    let top = node(&mut b, &["concat", "top"], &[left, third], false);
    let (result, _) = solve(&worker, b.finish(Some(top)).unwrap(), 3).await;
    result.unwrap();
    assert_eq!(
        worker.max_running.load(Ordering::SeqCst),
        3,
        "the three sleeps ran at once"
    );
}
