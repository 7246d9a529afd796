//! `hearth build --platform a,b` from the command line, embedded and through a real hearthd:
//! both write one directory per platform for `type=local`, the same index for `type=oci`,
//! and `hearth images` lists each platform under its name. The Dockerfile cross-compiles
//! (`FROM --platform=$BUILDPLATFORM`), so no step needs an emulator.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::Path;

use hearth_testkit::Hearthd;
use support::{Env, image_digest};

const CROSS: &str = "\
FROM --platform=$BUILDPLATFORM busybox AS build
ARG TARGETPLATFORM TARGETARCH
RUN echo \"$TARGETPLATFORM $TARGETARCH\" > /built

FROM scratch
COPY --from=build /built /built
";

/// The digest `index.json` of an OCI layout tarball names, and that index.
fn oci_index(archive: &Path) -> (String, serde_json::Value) {
    let mut blobs = std::collections::HashMap::new();
    let mut tar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        blobs.insert(name, bytes);
    }
    let top: serde_json::Value = serde_json::from_slice(&blobs["index.json"]).unwrap();
    let digest = top["manifests"][0]["digest"].as_str().unwrap();
    assert_eq!(
        top["manifests"][0]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let blob = format!("blobs/sha256/{}", digest.strip_prefix("sha256:").unwrap());
    (
        digest.to_owned(),
        serde_json::from_slice(&blobs[&blob]).unwrap(),
    )
}

#[test]
fn several_platforms_embedded_and_through_the_daemon() {
    let env = Env::new();
    let ctx = env.dir("ctx", &[("Dockerfile", CROSS)]);
    let socket = env.work.path().join("hearthd.sock");
    let daemon = Hearthd::start(
        &env.work.path().join("daemon-root"),
        &socket,
        Some(&env.config),
    )
    .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"));
    let embedded_root = env.work.path().join("embedded-root");

    let mut digests = Vec::new();
    for (label, remote) in [("embedded", false), ("daemon", true)] {
        let out = env.work.path().join(format!("{label}-files"));
        let archive = env.work.path().join(format!("{label}.tar"));
        let meta = env.work.path().join(format!("{label}.json"));
        let mut args = vec![
            "build".to_owned(),
            "--progress=plain".to_owned(),
            "--platform=linux/amd64,linux/arm64".to_owned(),
            "--build-arg=SOURCE_DATE_EPOCH=1700000000".to_owned(),
            format!("--metadata-file={}", meta.display()),
            format!("--output=type=local,dest={}", out.display()),
            format!(
                "--output=type=oci,dest={},rewrite-timestamp=true",
                archive.display()
            ),
        ];
        args.push("-t=multi:1".to_owned());
        if remote {
            args.push(format!("--addr={}", daemon.address()));
        }
        args.push(ctx.to_str().unwrap().to_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = env.hearth_ok(&embedded_root, &args);
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(log.contains("[linux/amd64->arm64 build"), "{log}");

        let read = |p: &str| std::fs::read_to_string(out.join(p)).unwrap();
        assert_eq!(read("linux_amd64/built"), "linux/amd64 amd64\n", "{label}");
        assert_eq!(read("linux_arm64/built"), "linux/arm64 arm64\n", "{label}");

        let (digest, index) = oci_index(&archive);
        let platforms: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(platforms, vec!["amd64", "arm64"], "{label}");
        assert!(!image_digest(&meta).is_empty());
        digests.push(digest);
    }
    assert_eq!(
        digests[0], digests[1],
        "with rewrite-timestamp, the daemon builds the same index as the embedded engine"
    );

    // The daemon says what it can build: its own platform natively, arm64 through Debian's
    // qemu-user-static (which the test set-up installs).
    let info = env.hearth_ok(
        &embedded_root,
        &["debug", "info", &format!("--addr={}", daemon.address())],
    );
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("Platforms:") && info.contains("linux/amd64"),
        "{info}"
    );
    assert!(info.contains("linux/arm64 (emulated: "), "{info}");

    let images = env.hearth_ok(&embedded_root, &["images"]);
    let text = String::from_utf8_lossy(&images.stdout);
    assert!(text.contains("linux/amd64"), "{text}");
    assert!(text.contains("linux/arm64"), "{text}");
}

#[test]
fn loading_several_platforms_into_docker_is_refused_with_the_alternatives() {
    let env = Env::new();
    let ctx = env.dir("ctx", &[("Dockerfile", CROSS)]);
    let output = env
        .hearth(
            &env.work.path().join("root"),
            &[
                "build",
                "--platform",
                "linux/amd64,linux/arm64",
                "--load",
                ctx.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("manifest lists"), "{text}");
    assert!(
        text.contains("type=oci") && text.contains("--push"),
        "{text}"
    );
}

#[test]
fn a_stored_index_pushes_whole_and_imagetools_lists_every_platform() {
    let env = Env::new();
    let ctx = env.dir("ctx", &[("Dockerfile", CROSS)]);
    let name = format!("{}/team/multi:1", env.registry.addr());
    let root = env.work.path().join("root");
    env.hearth_ok(
        &root,
        &[
            "build",
            "--platform=linux/amd64,linux/arm64",
            "-t",
            &name,
            ctx.to_str().unwrap(),
        ],
    );
    // `hearth push` of the stored index: each platform's manifest, then the index.
    env.hearth_ok(&root, &["push", &name]);
    let copied = env.work.path().join("copied");
    let status = std::process::Command::new("skopeo")
        .args(["copy", "--quiet", "--all", "--src-tls-verify=false"])
        .arg(format!("docker://{name}"))
        .arg(format!("oci:{}:latest", copied.display()))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "skopeo copies every platform hearth pushed"
    );
    let out = env.hearth_ok(&root, &["imagetools", "inspect", &name]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("application/vnd.docker.distribution.manifest.list.v2+json"),
        "{text}"
    );
    assert!(
        text.contains("linux/amd64") && text.contains("linux/arm64"),
        "{text}"
    );
    // `--raw` is the stored bytes: skopeo reads the same index.
    let raw = env.hearth_ok(&root, &["imagetools", "inspect", "--raw", &name]);
    assert_eq!(raw.stdout, hearth_testkit::inspect_raw(&name).unwrap());
}
