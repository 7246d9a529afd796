//! One build, several platforms: each platform is planned and solved in one solve, work
//! the platforms share runs once, and every output carries all of them (an index for
//! images, one directory per platform for files). Real registry, runc and skopeo; the
//! arm64 steps run under Debian's qemu-user-static.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::Read;
use std::path::Path;

use hearth_core::Platform;
use hearth_engine::{Export, ExportKind, ImageFormat};
use hearth_store::tables::Images;
use support::{Env, build, request};

fn amd64() -> Platform {
    Platform::new("linux", "amd64", "")
}

fn arm64() -> Platform {
    Platform::new("linux", "arm64", "")
}

fn output(kind: ExportKind, names: &[&str], push: bool) -> Export {
    Export {
        kind,
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        format: ImageFormat::default(),
        push,
    }
}

const CROSS: &str = "\
FROM --platform=$BUILDPLATFORM busybox AS build
RUN uname -m > /host-arch
ARG TARGETARCH
RUN echo \"$TARGETARCH $(uname -m)\" > /built

FROM scratch
COPY --from=build /built /built
COPY --from=build /host-arch /host-arch
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cross_compiling_stage_runs_once_per_target_arch_on_the_build_platform() {
    let env = Env::with_busybox_index();
    let ctx = env.context("cross", &[("Dockerfile", CROSS)]);
    let out = env.work.path().join("out");
    let engine = env.engine().await;
    let mut req = request(
        &ctx,
        vec![output(ExportKind::Local { dest: out.clone() }, &[], false)],
    );
    req.platforms = vec![amd64(), arm64(), Platform::parse("linux/arm64/v8").unwrap()];
    let before = engine.host().exec_count();
    let report = build(&engine, req.clone()).await;
    report.expect_ok();

    let ran = report.ran();
    let count = |needle: &str| ran.iter().filter(|n| n.contains(needle)).count();
    assert_eq!(
        count("RUN uname -m"),
        1,
        "the step every platform shares: {ran:?}"
    );
    assert_eq!(
        count("RUN echo"),
        2,
        "once per distinct TARGETARCH: {ran:?}"
    );
    assert_eq!(engine.host().exec_count() - before, 3, "{ran:?}");
    assert!(
        ran.iter()
            .any(|n| n.starts_with("[linux/amd64->arm64 build") && n.contains("RUN echo")),
        "the cross-compiling step is labelled with its target: {ran:?}"
    );

    // type=local writes one directory per platform; every binary ran natively.
    let read = |p: &str| std::fs::read_to_string(out.join(p)).unwrap();
    assert_eq!(read("linux_amd64/built"), "amd64 x86_64\n");
    assert_eq!(read("linux_arm64/built"), "arm64 x86_64\n");
    assert_eq!(read("linux_arm64/host-arch"), "x86_64\n");

    // Nothing changed: no step runs, no container starts.
    let before = engine.host().exec_count();
    let again = build(&engine, req).await;
    again.expect_ok();
    assert_eq!(again.ran(), Vec::<String>::new());
    assert_eq!(engine.host().exec_count(), before);
}

/// The manifests an OCI layout directory's index names, by platform, each with the text
/// of `file` in its top layer.
fn platform_files(layout: &Path, file: &str) -> Vec<(String, String)> {
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap();
        std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
    };
    let json = |bytes: Vec<u8>| serde_json::from_slice::<serde_json::Value>(&bytes).unwrap();
    let top = json(std::fs::read(layout.join("index.json")).unwrap());
    let index_digest = top["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let index = json(blob(&index_digest));
    let mut found = Vec::new();
    for entry in index["manifests"].as_array().unwrap() {
        let platform = format!(
            "{}/{}",
            entry["platform"]["os"].as_str().unwrap(),
            entry["platform"]["architecture"].as_str().unwrap()
        );
        let manifest = json(blob(entry["digest"].as_str().unwrap()));
        let layers = manifest["layers"].as_array().unwrap();
        let top_layer = blob(layers.last().unwrap()["digest"].as_str().unwrap());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&top_layer[..]));
        let mut text = String::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("./")
                == file
            {
                entry.read_to_string(&mut text).unwrap();
            }
        }
        found.push((platform, text));
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_platform_push_is_an_index_whose_images_ran_on_their_own_architecture() {
    let env = Env::with_busybox_index();
    let ctx = env.context(
        "uname",
        &[("Dockerfile", "FROM busybox\nRUN uname -m > /arch\n")],
    );
    let name = format!("{}/app:1", env.registry.addr());
    let layout = env.work.path().join("layout");
    let engine = env.engine().await;
    let mut req = request(
        &ctx,
        vec![
            output(ExportKind::Store, &[&name], true),
            output(
                ExportKind::OciDir {
                    dest: layout.clone(),
                },
                &[],
                false,
            ),
        ],
    );
    req.platforms = vec![amd64(), arm64()];
    let report = build(&engine, req).await;
    report.expect_ok();

    // Read back with skopeo, not with hearth: the tag is an index of both platforms, and
    // copying every platform proves each manifest and blob is there.
    let raw = hearth_testkit::inspect_raw(&name).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        index["mediaType"], "application/vnd.docker.distribution.manifest.list.v2+json",
        "{index}"
    );
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!("{}/{}", m["platform"]["os"], m["platform"]["architecture"]).replace('"', "")
        })
        .collect();
    assert_eq!(platforms, vec!["linux/amd64", "linux/arm64"]);
    let copied = env.work.path().join("copied");
    let status = std::process::Command::new("skopeo")
        .args(["copy", "--quiet", "--all", "--src-tls-verify=false"])
        .arg(format!("docker://{name}"))
        .arg(format!("oci:{}:latest", copied.display()))
        .status()
        .unwrap();
    assert!(status.success(), "skopeo copy --all of what hearth pushed");
    assert_eq!(
        platform_files(&copied, "arch"),
        vec![
            ("linux/amd64".to_owned(), "x86_64\n".to_owned()),
            ("linux/arm64".to_owned(), "aarch64\n".to_owned())
        ]
    );
    // The OCI layout written by the same build holds the same index.
    assert_eq!(platform_files(&layout, "arch").len(), 2);

    // The store names the index and keeps each platform's image beside it.
    let record = engine
        .store()
        .read()
        .unwrap()
        .get::<Images>(&name)
        .unwrap()
        .unwrap();
    let stored: Vec<&str> = record
        .platforms
        .iter()
        .map(|p| p.platform.as_str())
        .collect();
    assert_eq!(stored, vec!["linux/amd64", "linux/arm64"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_that_hold_one_image_refuse_several_platforms_before_building() {
    let env = Env::with_busybox_index();
    let ctx = env.context("refuse", &[("Dockerfile", "FROM busybox\nRUN echo hi\n")]);
    let engine = env.engine().await;
    let archive = env.work.path().join("app.tar");
    let mut req = request(
        &ctx,
        vec![output(
            ExportKind::DockerArchive {
                dest: archive.clone(),
            },
            &["app:1"],
            false,
        )],
    );
    req.platforms = vec![amd64(), arm64()];
    let report = build(&engine, req).await;
    let message = report.outcome.as_ref().expect_err("refused").to_string();
    assert!(message.contains("manifest lists"), "{message}");
    assert!(
        message.contains("type=oci") && message.contains("--push"),
        "{message}"
    );
    assert_eq!(report.ran(), Vec::<String>::new(), "nothing was built");
    assert!(!archive.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_index_without_the_platform_names_the_platforms_it_has() {
    let env = Env::with_busybox_index();
    let ctx = env.context("missing", &[("Dockerfile", "FROM busybox\nRUN echo hi\n")]);
    let engine = env.engine().await;
    let mut req = request(&ctx, Vec::new());
    req.platforms = vec![amd64(), Platform::new("linux", "s390x", "")];
    let report = build(&engine, req).await;
    let message = report.outcome.expect_err("no s390x busybox").to_string();
    assert!(message.contains("linux/s390x"), "{message}");
    assert!(
        message.contains("linux/amd64") && message.contains("linux/arm64"),
        "names what the index has: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_platform_base_of_another_platform_warns_and_is_used() {
    // Env::new pushes a busybox that is amd64 only (no index).
    let env = Env::new();
    let ctx = env.context(
        "mismatch",
        &[("Dockerfile", "FROM busybox\nCOPY Dockerfile /Dockerfile\n")],
    );
    let engine = env.engine().await;
    let mut req = request(&ctx, Vec::new());
    req.platforms = vec![arm64()];
    let report = build(&engine, req).await;
    let outcome = report.expect_ok();
    let warning = outcome
        .warnings
        .iter()
        .find(|w| w.rule == Some("InvalidBaseImagePlatform"))
        .unwrap_or_else(|| {
            panic!(
                "no InvalidBaseImagePlatform warning: {:?}",
                outcome.warnings
            )
        });
    assert!(
        warning.message.contains("\"linux/amd64\"") && warning.message.contains("\"linux/arm64\""),
        "{}",
        warning.message
    );
}
