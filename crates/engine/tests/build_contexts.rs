//! `--build-context NAME=…` replaces a stage of that name, as buildx's named contexts do:
//! with a directory (its own `.dockerignore` applied) or with an image from a registry.
//! Real registry and runc.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use hearth_engine::{BuildContext, Export, ExportKind, ImageFormat};
use support::{Env, build, request};

const DOCKERFILE: &str = "\
FROM busybox AS base
RUN echo from-the-stage > /hello.txt

FROM busybox
COPY --from=base /hello.txt /out
";

fn local_output(dest: &std::path::Path) -> Export {
    Export {
        kind: ExportKind::Local {
            dest: dest.to_path_buf(),
        },
        names: Vec::new(),
        format: ImageFormat::default(),
        push: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_context_replaces_the_stage_of_its_name() {
    let env = Env::new();
    let ctx = env.context("main", &[("Dockerfile", DOCKERFILE)]);
    let dir = env.context(
        "base-dir",
        &[
            ("hello.txt", "from-the-directory\n"),
            ("secret.log", "ignored\n"),
            (".dockerignore", "*.log\n"),
        ],
    );
    let out = env.work.path().join("out");
    let engine = env.engine().await;
    let mut req = request(&ctx, vec![local_output(&out)]);
    req.build_contexts
        .insert("base".into(), BuildContext::Dir(dir.clone()));
    let report = build(&engine, req).await;
    report.expect_ok();
    assert_eq!(
        std::fs::read_to_string(out.join("out")).unwrap(),
        "from-the-directory\n"
    );
    let ran = report.ran();
    assert!(
        ran.iter().all(|n| !n.contains("from-the-stage")),
        "the replaced stage never ran: {ran:?}"
    );
    assert!(
        ran.iter().any(|n| n == "[context base] load from client"),
        "{ran:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_context_replaces_the_stage_of_its_name() {
    let env = Env::new();
    let ctx = env.context(
        "main",
        &[(
            "Dockerfile",
            "FROM scratch AS tools\nCOPY Dockerfile /never\n\nFROM busybox\nCOPY --from=tools /bin/busybox /bb\n",
        )],
    );
    let out = env.work.path().join("out");
    let engine = env.engine().await;
    let mut req = request(&ctx, vec![local_output(&out)]);
    req.build_contexts.insert(
        "tools".into(),
        BuildContext::Image(format!("{}/library/busybox:latest", env.registry.addr())),
    );
    let report = build(&engine, req).await;
    report.expect_ok();
    assert_eq!(
        std::fs::read(out.join("bb")).unwrap(),
        std::fs::read("/bin/busybox").unwrap(),
        "the image's file, not the stage's"
    );
    assert!(!out.join("never").exists());

    // `context` and `scratch` cannot be replaced; saying so beats ignoring it.
    let mut req = request(&ctx, Vec::new());
    req.build_contexts
        .insert("context".into(), BuildContext::Dir(ctx.clone()));
    let refused = build(&engine, req).await;
    let message = refused.outcome.expect_err("refused").to_string();
    assert!(message.contains("cannot be replaced"), "{message}");
}
