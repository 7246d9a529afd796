//! Golden cache keys: a key is on disk (cache records) and on the wire (cache exports), so
//! renaming a serde field of an op, reordering a key's fields or changing how inputs
//! contribute must change a value here on purpose, with a bump of the op's key tag.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use expect_test::{Expect, expect};
use hearth_core::{Digest, Platform};
use hearth_graph::op::{
    CacheSharing, Chmod, Chown, CopyAction, ExecMeta, ExecOp, FileAction, FileOp, ImageSource,
    LocalSource, MergeOp, Mount, MountKind, NetworkMode, SecretEnv, SecretMount, SecurityMode,
    SourceOp, UserRef,
};
use hearth_graph::{Definition, GraphBuilder, Input, NodeMetadata, Op};
use hearth_registry::{Client, NoCredentials, RegistryConfig};
use hearth_solver::{InputKeyMode, KeyInput, NodeCtx, Worker};
use hearth_store::{Store, StoreOptions};
use hearth_worker::{BuildWorker, Host, HostOptions, Session};

fn linux() -> Platform {
    Platform::new("linux", "amd64", "")
}

/// A worker over a fresh store: keys need no stored state, only the worker's key code.
fn worker(dir: &std::path::Path) -> BuildWorker {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    let registry = Client::new(RegistryConfig::default(), Arc::new(NoCredentials)).unwrap();
    let options = HostOptions {
        runtime: "runc".into(),
        snapshotter: Default::default(),
        downloads: Default::default(),
    };
    BuildWorker::new(
        Host::new(store, registry, &options).unwrap(),
        Session::default(),
    )
}

/// Stands for the digest of the context files a step reads; computing it is
/// `hearth_worker::context`'s job (its own tests), here only its place in a key counts.
fn files_read() -> Digest {
    Digest::of(b"the files a step reads")
}

/// The graph of a small build: an image, the context, a RUN with every mount kind that
/// enters its key, a COPY from the context with owner and mode, and a merge of both.
struct Graph {
    builder: GraphBuilder,
    definition: Definition,
    image: Input,
    local: Input,
    exec: Input,
    copy: Input,
    merge: Input,
}

fn graph() -> Graph {
    let mut b = GraphBuilder::new();
    let image = b
        .add(
            Op::Source(SourceOp::Image(ImageSource {
                reference: "docker.io/library/busybox:1.36".into(),
                platform: linux(),
            })),
            vec![],
            Some(linux()),
            NodeMetadata::default(),
        )
        .output0();
    let local = b
        .add(
            Op::Source(SourceOp::Local(LocalSource {
                name: "context".into(),
                follow_paths: vec!["src".into()],
                exclude_patterns: vec!["*.md".into()],
            })),
            vec![],
            None,
            NodeMetadata::default(),
        )
        .output0();
    let mount = |input, target: &str, readonly, output, kind| Mount {
        input,
        target: target.into(),
        selector: "/".into(),
        readonly,
        output,
        kind,
    };
    let exec = b
        .add(
            Op::Exec(ExecOp {
                meta: ExecMeta {
                    args: vec!["/bin/sh".into(), "-c".into(), "make".into()],
                    env: vec!["PATH=/bin".into(), "CC=cc".into()],
                    cwd: "/src".into(),
                    user: "1000:1000".into(),
                    proxy_env: vec!["HTTP_PROXY=http://proxy".into()],
                },
                mounts: vec![
                    mount(Some(0), "/", false, Some(0), MountKind::Bind),
                    mount(Some(1), "/src", true, None, MountKind::Bind),
                    mount(
                        None,
                        "/root/.cache",
                        false,
                        None,
                        MountKind::Cache {
                            id: "build".into(),
                            sharing: CacheSharing::Locked,
                        },
                    ),
                    mount(
                        None,
                        "/tmp",
                        false,
                        None,
                        MountKind::Tmpfs { size: 1 << 20 },
                    ),
                    mount(
                        None,
                        "/run/secrets/token",
                        true,
                        None,
                        MountKind::Secret(SecretMount {
                            id: "token".into(),
                            optional: false,
                            uid: 0,
                            gid: 0,
                            mode: 0o400,
                        }),
                    ),
                ],
                network: NetworkMode::None,
                security: SecurityMode::Sandbox,
                secret_env: vec![SecretEnv {
                    id: "api".into(),
                    name: "API_KEY".into(),
                    optional: true,
                }],
            }),
            vec![image, local],
            Some(linux()),
            NodeMetadata::default(),
        )
        .output0();
    let copy = b
        .add(
            Op::File(FileOp {
                base: Some(0),
                actions: vec![FileAction::Copy(CopyAction {
                    source: Some(1),
                    src: "/src".into(),
                    dest: "/app/".into(),
                    owner: Some(Chown {
                        user: Some(UserRef::Name("app".into())),
                        group: Some(UserRef::Id(1000)),
                    }),
                    mode: Some(Chmod::Octal(0o755)),
                    follow_symlinks: true,
                    dir_contents_only: true,
                    include_patterns: vec![],
                    exclude_patterns: vec!["*.o".into()],
                    attempt_unpack: false,
                    create_dest_path: true,
                    allow_wildcard: true,
                    allow_empty_wildcard: false,
                })],
            }),
            vec![image, local],
            Some(linux()),
            NodeMetadata::default(),
        )
        .output0();
    let merge = b
        .add(
            Op::Merge(MergeOp {}),
            vec![exec, copy],
            Some(linux()),
            NodeMetadata::default(),
        )
        .output0();
    let definition = b.finish(Some(merge)).unwrap();
    Graph {
        builder: b,
        definition,
        image,
        local,
        exec,
        copy,
        merge,
    }
}

/// The keys of every node, computed as the solver does: inputs first, each contributing
/// its key or (when the worker says the step reads its files) the digest of those files.
fn keys(worker: &BuildWorker, definition: &Definition) -> HashMap<Digest, Digest> {
    let mut keys = HashMap::new();
    for (digest, node) in definition.nodes_in_order() {
        let ctx = NodeCtx {
            digest: *digest,
            node,
            metadata: definition.metadata(digest),
            definition,
        };
        let inputs: Vec<KeyInput> = node
            .inputs
            .iter()
            .enumerate()
            .map(|(index, input)| match worker.input_key_mode(&ctx, index) {
                InputKeyMode::Key => KeyInput::Key {
                    key: keys[&input.node],
                    output: input.output,
                },
                InputKeyMode::Content => KeyInput::Content(files_read()),
            })
            .collect();
        let key = worker.cache_key(&ctx, &inputs).unwrap();
        keys.insert(*digest, key);
    }
    keys
}

/// The digest of the node behind `input`: node digests depend on content only, so the
/// graph frozen at that node names it as the whole graph does.
fn node_of(g: &Graph, input: Input) -> Digest {
    g.builder.finish(Some(input)).unwrap().root().unwrap().node
}

fn check(keys: &HashMap<Digest, Digest>, g: &Graph, input: Input, golden: Expect) {
    golden.assert_eq(&keys[&node_of(g, input)].to_string());
}

#[test]
fn cache_keys_are_stable_across_releases() {
    let dir = tempfile::tempdir().unwrap();
    let worker = worker(dir.path());
    let g = graph();
    let keys = keys(&worker, &g.definition);
    check(
        &keys,
        &g,
        g.image,
        expect!["sha256:c905c2e2f10635ad83f2cc4b85abad5cdca576a95528f42f5f304418df3014d9"],
    );
    check(
        &keys,
        &g,
        g.local,
        expect!["sha256:3a4e5c0b291328b6e57a397ef8cf314cb841ef0ec05be836f95176e87905c7b5"],
    );
    check(
        &keys,
        &g,
        g.exec,
        expect!["sha256:1191713cb0404ba967107c4a882af4d66c4b7eed1e2896da85744fc4a40d9c43"],
    );
    check(
        &keys,
        &g,
        g.copy,
        expect!["sha256:11317c19580cd661ec8b65a0f86c1bce404af9b963bd6ccfa67a4d8c179cde8d"],
    );
    check(
        &keys,
        &g,
        g.merge,
        expect!["sha256:937c9de14494c5889b023d508bb3c07f376728d97dfa87a41769ccb17c06b682"],
    );
}

#[test]
fn steps_reading_context_files_are_keyed_by_those_files() {
    // The goldens above hold only if the copy and the /src bind mount read files and the
    // bases contribute keys; this pins that split, which decides what a context edit reruns.
    let dir = tempfile::tempdir().unwrap();
    let worker = worker(dir.path());
    let g = graph();
    let modes = |input: Input| {
        let digest = node_of(&g, input);
        let node = g.definition.node(&digest).unwrap();
        let ctx = NodeCtx {
            digest,
            node,
            metadata: g.definition.metadata(&digest),
            definition: &g.definition,
        };
        (0..node.inputs.len())
            .map(|i| worker.input_key_mode(&ctx, i))
            .collect::<Vec<_>>()
    };
    assert_eq!(modes(g.exec), [InputKeyMode::Key, InputKeyMode::Content]);
    assert_eq!(modes(g.copy), [InputKeyMode::Key, InputKeyMode::Content]);
    assert_eq!(modes(g.merge), [InputKeyMode::Key, InputKeyMode::Key]);
}
