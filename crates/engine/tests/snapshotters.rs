//! The native snapshotter makes the same filesystem as overlayfs: a build that adds,
//! changes, deletes and replaces files gives the same image content with either. (The
//! layer tars may differ in form: where overlayfs marks a recreated directory opaque, the
//! native differ writes the equivalent explicit entries.)

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use hearth_engine::{Engine, Export, ExportKind, ImageFormat, SnapshotterChoice};
use support::{Env, build, request};

const DOCKERFILE: &str = "\
FROM busybox AS base
COPY app /app
RUN rm /bin/vi /etc/group && mkdir -p /data/sub && echo one > /data/sub/f && chmod 0750 /data
RUN rm -r /data/sub && echo two > /data/g && mv /app/conf /app/conf.d && mkdir /app/conf && ln -s ../conf.d/x /app/conf/x

FROM base
RUN --mount=type=cache,target=/cache echo cached > /cache/c && cp /cache/c /from-cache && rm /bin/ls
COPY --from=base /data /copied
";

/// Every entry of a tree with what an image diff cares about (not times).
fn listing(root: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap()
            .display()
            .to_string();
        let detail = if meta.file_type().is_symlink() {
            format!("-> {}", std::fs::read_link(entry.path()).unwrap().display())
        } else if meta.is_file() {
            hearth_core::Digest::of(&std::fs::read(entry.path()).unwrap()).short()
        } else {
            String::new()
        };
        out.push(format!(
            "{rel} {:o} {}:{} {detail}",
            meta.mode(),
            meta.uid(),
            meta.gid()
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_and_overlayfs_snapshotters_build_the_same_filesystem() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", DOCKERFILE),
            ("app/conf/x", "x\n"),
            ("app/main", "m\n"),
        ],
    );
    let mut trees = Vec::new();
    for choice in [SnapshotterChoice::Overlayfs, SnapshotterChoice::Native] {
        let root = env.work.path().join(format!("root-{choice:?}"));
        let mut options = env.options(&root);
        options.snapshotter = choice;
        let engine = Engine::open(options).await.unwrap();
        let name = if choice == SnapshotterChoice::Native {
            "native"
        } else {
            "overlayfs"
        };
        assert_eq!(engine.host().snapshotter().name(), name);
        let dest = env.work.path().join(format!("files-{name}"));
        let req = request(
            &ctx,
            vec![Export {
                kind: ExportKind::Local { dest: dest.clone() },
                names: Vec::new(),
                format: ImageFormat::default(),
                push: false,
            }],
        );
        build(&engine, req).await.expect_ok();
        trees.push(listing(&dest));
    }
    assert!(
        trees[0].iter().any(|l| l.starts_with("app/conf/x 120777")),
        "the build did what the Dockerfile says"
    );
    assert!(
        !trees[0].iter().any(|l| l.starts_with("bin/ls ")),
        "deletions are applied"
    );
    assert_eq!(
        trees[0], trees[1],
        "overlayfs and native gave different filesystems"
    );
}
