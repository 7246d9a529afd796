//! What every engine test needs: a real registry on loopback holding the busybox base
//! image, a fresh state root, and a way to run builds and collect their events.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_dockerfile::BuildOptions;
use hearth_engine::{
    BuildOutcome, BuildRequest, DockerfileSource, Engine, EngineError, EngineOptions, Export,
    SnapshotterChoice,
};
use hearth_registry::{HostConfig, RegistryConfig};
use hearth_solver::{Event, EventSender};
use hearth_testkit::Registry;
use tokio_util::sync::CancellationToken;

/// A registry with busybox, and a state root.
pub(crate) struct Env {
    pub(crate) registry: Registry,
    pub(crate) root: tempfile::TempDir,
    pub(crate) work: tempfile::TempDir,
}

impl Env {
    /// Starts a registry and pushes busybox to it as `library/busybox:latest`.
    pub(crate) fn new() -> Self {
        let registry =
            Registry::start().unwrap_or_else(|e| panic!("the tests need a registry: {e}"));
        let work = tempfile::tempdir().unwrap();
        let layout = work.path().join("busybox-layout");
        hearth_testkit::write_busybox_layout(&layout)
            .unwrap_or_else(|e| panic!("making the busybox image: {e}"));
        hearth_testkit::push_layout(
            &layout,
            &format!("{}/library/busybox:latest", registry.addr()),
        )
        .unwrap_or_else(|e| panic!("pushing busybox: {e}"));
        Self {
            registry,
            root: tempfile::tempdir().unwrap(),
            work,
        }
    }

    /// Starts a registry and pushes a two-platform busybox (amd64 and arm64, an index) to
    /// it as `library/busybox:latest`.
    pub(crate) fn with_busybox_index() -> Self {
        let registry =
            Registry::start().unwrap_or_else(|e| panic!("the tests need a registry: {e}"));
        let work = tempfile::tempdir().unwrap();
        let layout = work.path().join("busybox-index");
        hearth_testkit::write_busybox_index_layout(&layout, &hearth_testkit::BusyboxPlatform::ALL)
            .unwrap_or_else(|e| panic!("making the busybox index: {e}"));
        hearth_testkit::push_index_layout(
            &layout,
            &format!("{}/library/busybox:latest", registry.addr()),
        )
        .unwrap_or_else(|e| panic!("pushing the busybox index: {e}"));
        Self {
            registry,
            root: tempfile::tempdir().unwrap(),
            work,
        }
    }

    pub(crate) fn options(&self, root: &Path) -> EngineOptions {
        let mut hosts = BTreeMap::new();
        hosts.insert(
            "docker.io".to_owned(),
            HostConfig {
                mirrors: vec![self.registry.addr().to_owned()],
                ..HostConfig::default()
            },
        );
        hosts.insert(
            self.registry.addr().to_owned(),
            HostConfig {
                http: Some(true),
                ..HostConfig::default()
            },
        );
        EngineOptions {
            root: root.to_path_buf(),
            runtime: PathBuf::from("runc"),
            registry: RegistryConfig { hosts },
            credentials: std::sync::Arc::new(hearth_registry::NoCredentials),
            max_parallelism: 2,
            snapshotter: SnapshotterChoice::Auto,
            downloads: hearth_engine::DownloadLimits::default(),
            on_wait: None,
        }
    }

    pub(crate) async fn engine(&self) -> Engine {
        Engine::open(self.options(self.root.path())).await.unwrap()
    }

    /// A context directory with these files.
    pub(crate) fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.work.path().join(name);
        for (path, content) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

/// What a build reported.
pub(crate) struct Report {
    pub(crate) outcome: Result<BuildOutcome, EngineError>,
    pub(crate) events: Vec<Event>,
}

impl Report {
    /// Names of the vertices that ran (started), in order.
    pub(crate) fn ran(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Started { name, .. } if !hearth_solver::is_engine_step(name) => {
                    Some(name.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// Names of the vertices reported cached.
    pub(crate) fn cached(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Cached { name, .. } if !hearth_solver::is_engine_step(name) => {
                    Some(name.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// Every log byte the build produced.
    pub(crate) fn logs(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Log { data, .. } => Some(data.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub(crate) fn expect_ok(&self) -> &BuildOutcome {
        match &self.outcome {
            Ok(o) => o,
            Err(e) => panic!(
                "build failed: {e}\nlogs:\n{}",
                String::from_utf8_lossy(&self.logs())
            ),
        }
    }
}

pub(crate) fn request(context: &Path, exports: Vec<Export>) -> BuildRequest {
    BuildRequest {
        context: context.to_path_buf(),
        dockerfile: DockerfileSource::Path(context.join("Dockerfile")),
        options: BuildOptions::for_host(),
        platforms: Vec::new(),
        secrets: BTreeMap::new(),
        allow_network_host: false,
        allow_insecure: false,
        exports,
        remote: None,
        cache_from: Vec::new(),
        cache_to: Vec::new(),
        build_contexts: BTreeMap::new(),
        credentials: std::sync::Arc::new(hearth_registry::NoCredentials),
    }
}

pub(crate) async fn build(engine: &Engine, request: BuildRequest) -> Report {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome = engine
        .build(request, EventSender::new(tx), CancellationToken::new())
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Report { outcome, events }
}

pub(crate) fn shared<T>(t: T) -> Arc<T> {
    Arc::new(t)
}
