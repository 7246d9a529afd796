//! Behaviour of graph freezing: identity digests, deduplication and validation.

use expect_test::expect;
use hearth_core::Platform;
use hearth_graph::op::{
    CopyAction, ExecMeta, ExecOp, FileAction, FileOp, ImageSource, MergeOp, Mount, MountKind,
    NetworkMode, SecurityMode, SourceOp,
};
use hearth_graph::{GraphBuilder, GraphError, Input, NodeMetadata, Op};

fn linux() -> Platform {
    Platform::new("linux", "amd64", "")
}

fn image(b: &mut GraphBuilder, reference: &str) -> Input {
    b.add(
        Op::Source(SourceOp::Image(ImageSource {
            reference: reference.into(),
            platform: linux(),
        })),
        vec![],
        Some(linux()),
        NodeMetadata::default(),
    )
    .output0()
}

fn run(b: &mut GraphBuilder, base: Input, cmd: &str, name: &str) -> Input {
    b.add(
        Op::Exec(ExecOp {
            meta: ExecMeta {
                args: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
                env: vec!["PATH=/bin".into()],
                cwd: "/".into(),
                user: String::new(),
                proxy_env: vec![],
            },
            mounts: vec![Mount {
                input: Some(0),
                target: "/".into(),
                selector: "/".into(),
                readonly: false,
                output: Some(0),
                kind: MountKind::Bind,
            }],
            network: NetworkMode::Default,
            security: SecurityMode::Sandbox,
            secret_env: vec![],
        }),
        vec![base],
        Some(linux()),
        NodeMetadata {
            name: name.into(),
            ..NodeMetadata::default()
        },
    )
    .output0()
}

#[test]
fn identical_work_from_two_stages_is_one_node() {
    let mut b = GraphBuilder::new();
    let base1 = image(&mut b, "docker.io/library/busybox:latest");
    let a = run(&mut b, base1, "echo hi", "[a 1/1] RUN echo hi");
    let base2 = image(&mut b, "docker.io/library/busybox:latest");
    let c = run(&mut b, base2, "echo hi", "[c 1/1] RUN echo hi");
    let merge = b.add(
        Op::Merge(MergeOp {}),
        vec![a, c],
        Some(linux()),
        NodeMetadata::default(),
    );
    let def = b.finish(Some(merge.output0())).unwrap();
    assert_eq!(b.len(), 5);
    assert_eq!(
        def.len(),
        3,
        "image, run and merge: the duplicates collapse"
    );
    let root = def.root().unwrap();
    let merged = def.node(&root.node).unwrap();
    assert_eq!(merged.inputs[0], merged.inputs[1]);
    // The first name wins for the shared node.
    assert_eq!(
        def.metadata(&merged.inputs[0].node).unwrap().name,
        "[a 1/1] RUN echo hi"
    );
}

#[test]
fn metadata_does_not_change_identity_but_ops_do() {
    let digest_of = |cmd: &str, name: &str| {
        let mut b = GraphBuilder::new();
        let base = image(&mut b, "docker.io/library/busybox:latest");
        let out = run(&mut b, base, cmd, name);
        b.finish(Some(out)).unwrap().root().unwrap().node
    };
    assert_eq!(digest_of("echo hi", "one"), digest_of("echo hi", "two"));
    assert_ne!(digest_of("echo hi", "one"), digest_of("echo ho", "one"));
}

#[test]
fn digests_are_stable_across_runs() {
    // The digest is part of the on-disk and wire format: changing it silently
    // would orphan caches. This value may only change together with
    // GRAPH_ENCODING_VERSION.
    let mut b = GraphBuilder::new();
    let base = image(&mut b, "docker.io/library/busybox:latest");
    let def = b.finish(Some(base)).unwrap();
    expect!["sha256:3138d54d11cbf76d6089d09b70251c95d22d54460e70c76131a6839e17a87240"]
        .assert_eq(&def.root().unwrap().node.to_string());
}

#[test]
fn unreachable_nodes_are_left_out() {
    let mut b = GraphBuilder::new();
    let base = image(&mut b, "docker.io/library/busybox:latest");
    let _unused = run(&mut b, base, "exit 1", "unused");
    let used = run(&mut b, base, "true", "used");
    let def = b.finish(Some(used)).unwrap();
    assert_eq!(def.len(), 2);
    let names: Vec<_> = def
        .nodes_in_order()
        .map(|(d, _)| def.metadata(d).unwrap().name.clone())
        .collect();
    assert_eq!(names, vec!["".to_owned(), "used".to_owned()]);
}

#[test]
fn dangling_inputs_and_missing_outputs_are_errors() {
    let mut b = GraphBuilder::new();
    let base = image(&mut b, "x");
    let bad = b.add(
        Op::File(FileOp {
            base: Some(0),
            actions: vec![FileAction::Copy(CopyAction {
                source: Some(3),
                src: "/a".into(),
                dest: "/b".into(),
                owner: None,
                mode: None,
                follow_symlinks: true,
                dir_contents_only: true,
                include_patterns: vec![],
                exclude_patterns: vec![],
                attempt_unpack: false,
                create_dest_path: true,
                allow_wildcard: true,
                allow_empty_wildcard: true,
            })],
        }),
        vec![base],
        None,
        NodeMetadata::default(),
    );
    assert_eq!(
        b.finish(Some(bad.output0())),
        Err(GraphError::DanglingInput {
            node: 1,
            index: 3,
            count: 1
        })
    );
    let wrong_output = Input {
        node: base.node,
        output: 2,
    };
    assert_eq!(
        b.finish(Some(wrong_output)),
        Err(GraphError::MissingOutput {
            node: 0,
            producer: 0,
            output: 2,
            outputs: 1
        })
    );
}

#[test]
fn a_cycle_is_reported() {
    // Node ids are plain arena indices, so an id taken from another builder can name a
    // node that is added later; that is the only way to close a cycle, and freezing
    // must reject it rather than loop.
    let mut other = GraphBuilder::new();
    let _zero = other.add(Op::Merge(MergeOp {}), vec![], None, NodeMetadata::default());
    let one = other.add(Op::Merge(MergeOp {}), vec![], None, NodeMetadata::default());
    let mut cyclic = GraphBuilder::new();
    let a = cyclic.add(
        Op::Merge(MergeOp {}),
        vec![one.output0()],
        None,
        NodeMetadata::default(),
    );
    let _b = cyclic.add(
        Op::Merge(MergeOp {}),
        vec![a.output0()],
        None,
        NodeMetadata::default(),
    );
    assert_eq!(cyclic.finish(Some(a.output0())), Err(GraphError::Cycle(0)));
}

#[test]
fn scratch_root_is_an_empty_definition() {
    let b = GraphBuilder::new();
    let def = b.finish(None).unwrap();
    assert!(def.is_empty());
    assert_eq!(def.dump(), "root: scratch\n");
}

#[test]
fn dump_shows_nodes_in_dependency_order() {
    let mut b = GraphBuilder::new();
    let base = image(&mut b, "docker.io/library/busybox:latest");
    let out = run(&mut b, base, "echo hi", "[1/1] RUN echo hi");
    let def = b.finish(Some(out)).unwrap();
    let dump = def.dump();
    let lines: Vec<&str> = dump.lines().collect();
    assert!(lines[0].starts_with("n1 "), "{dump}");
    assert!(lines[0].ends_with("source image docker.io/library/busybox:latest [linux/amd64]"));
    assert!(lines[1].starts_with("n2 "));
    assert!(lines[1].ends_with(r#"exec ["/bin/sh", "-c", "echo hi"] [linux/amd64]"#));
    assert_eq!(lines[2], "    name: [1/1] RUN echo hi");
    assert_eq!(lines[5], "    mount / <- n1.0:/ bind output=0");
    assert!(lines[6].starts_with("root: n2.0 "));
}

#[test]
fn combined_plans_share_identical_work_and_keep_each_root() {
    let plan = |target_cmd: &str| {
        let mut b = GraphBuilder::new();
        let base = image(&mut b, "docker.io/library/busybox:latest");
        let shared = run(&mut b, base, "make tool", "[build 1/1] RUN make tool");
        let own = run(&mut b, shared, target_cmd, "[2/2] RUN");
        b.finish(Some(own)).unwrap()
    };
    let amd64 = plan("package amd64");
    let arm64 = plan("package arm64");
    let (combined, roots) = hearth_graph::Definition::combine(&[amd64.clone(), arm64.clone()]);
    assert_eq!(roots, vec![amd64.root(), arm64.root()]);
    assert_ne!(amd64.root(), arm64.root());
    assert_eq!(
        combined.len(),
        4,
        "image and build step once, one step per platform"
    );
    let order: Vec<_> = combined.nodes_in_order().map(|(d, _)| *d).collect();
    for (position, (_, node)) in combined.nodes_in_order().enumerate() {
        for input in &node.inputs {
            let at = order.iter().position(|d| *d == input.node).unwrap();
            assert!(at < position, "every input precedes its reader");
        }
    }
}
