//! A single-platform image is the same bytes after multi-platform support as before it.
//! The digests below were printed by this same build on the commit before outputs moved to
//! `hearth-exporter` and builds took a list of platforms (aee2d1a): with
//! `SOURCE_DATE_EPOCH`, a fixed context and the fixed busybox base image, nothing in the
//! image depends on when or where it is built, so any change of these digests is a change
//! of what hearth writes for one platform.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use hearth_engine::{Export, ExportKind, ImageFormat};
use hearth_store::tables::Images;
use support::{Env, build, request};

const DOCKER_MANIFEST: &str =
    "sha256:0bdedaa8232b960fe856ead22c71cbbbc4b157c1a5835df7dc1a6fdde496343a";
const OCI_MANIFEST: &str =
    "sha256:4b2bfeb6f4f939f35eac3273f184f083d3f325c3fcb1ac51575b044e2025514b";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_platform_image_keeps_its_digest() {
    let env = Env::new();
    let ctx = env.context(
        "pinned",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY a.txt /a.txt\nENV X=1\nLABEL l=v\nCMD [\"cat\", \"/a.txt\"]\n",
            ),
            ("a.txt", "pinned\n"),
        ],
    );
    let file = std::fs::File::options()
        .write(true)
        .open(ctx.join("a.txt"))
        .unwrap();
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000))
        .unwrap();
    let dest = env.work.path().join("pinned.tar");
    let image = |kind, names: &[&str]| Export {
        kind,
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        format: ImageFormat::default(),
        push: false,
    };
    let mut req = request(
        &ctx,
        vec![
            image(ExportKind::Store, &["pinned:1"]),
            image(ExportKind::OciArchive { dest }, &[]),
        ],
    );
    req.options
        .build_args
        .insert("SOURCE_DATE_EPOCH".into(), "1700000000".into());
    let engine = env.engine().await;
    let report = build(&engine, req).await;
    let outcome = report.expect_ok();
    let stored = engine
        .store()
        .read()
        .unwrap()
        .get::<Images>("pinned:1")
        .unwrap()
        .unwrap();
    assert_eq!(stored.manifest.to_string(), DOCKER_MANIFEST);
    assert!(stored.platforms.is_empty(), "one platform, no index");
    let images = outcome.image.as_ref().unwrap();
    assert!(images.index.is_none());
    assert_eq!(images.top().unwrap().digest.to_string(), OCI_MANIFEST);
}
