//! The two-platform busybox fixture, read back from a real registry with skopeo: an index
//! naming an amd64 and an arm64/v8 image whose layers hold binaries for those machines.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use hearth_testkit::{BusyboxPlatform, Registry, require};

fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new(require("skopeo", "skopeo").unwrap())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `/bin/busybox` from a layer blob (gzip'd tar).
fn busybox_in_layer(blob: &Path) -> Vec<u8> {
    let file = std::fs::File::open(blob).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap() == Path::new("bin/busybox") {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            return data;
        }
    }
    panic!("no bin/busybox in {}", blob.display());
}

#[test]
fn pushed_index_has_an_amd64_and_an_arm64_image_with_matching_binaries() {
    let registry = Registry::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let index_digest =
        hearth_testkit::write_busybox_index_layout(&layout, &BusyboxPlatform::ALL).unwrap();
    let reference = format!("{}/library/busybox:latest", registry.addr());
    hearth_testkit::push_index_layout(&layout, &reference).unwrap();

    let raw = hearth_testkit::inspect_raw(&reference).unwrap();
    assert_eq!(hearth_core::Digest::of(&raw), index_digest);
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: Vec<_> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"].clone())
        .collect();
    assert_eq!(
        platforms,
        [
            serde_json::json!({"architecture": "amd64", "os": "linux"}),
            serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"}),
        ]
    );

    // The amd64 image is the very image of the single-platform layout other tests use.
    let single = hearth_testkit::write_busybox_layout(&work.path().join("single")).unwrap();
    assert_eq!(index["manifests"][0]["digest"], single.to_string());

    for (entry, (arch, uname)) in index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .zip([("amd64", "x86_64"), ("arm64", "aarch64")])
    {
        let by_digest = format!(
            "docker://{}/library/busybox@{}",
            registry.addr(),
            entry["digest"].as_str().unwrap()
        );
        let config: serde_json::Value = serde_json::from_slice(&skopeo(&[
            "inspect",
            "--config",
            "--tls-verify=false",
            &by_digest,
        ]))
        .unwrap();
        assert_eq!(config["architecture"], arch);
        assert_eq!(config["os"], "linux");

        let copy = work.path().join(format!("copy-{arch}"));
        skopeo(&[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &by_digest,
            &format!("dir:{}", copy.display()),
        ]);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
        let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
        let layer = copy.join(layer_digest.trim_start_matches("sha256:"));
        let busybox = copy.join("busybox");
        std::fs::write(&busybox, busybox_in_layer(&layer)).unwrap();
        std::fs::set_permissions(
            &busybox,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        // Each binary runs as what it is: amd64 directly, arm64 through Debian's aarch64
        // emulator, which refuses an ELF file for any other machine.
        let mut command = if arch == "arm64" {
            let mut c = Command::new(require("qemu-aarch64-static", "qemu-user-static").unwrap());
            c.arg(&busybox);
            c
        } else {
            Command::new(&busybox)
        };
        let out = command.args(["uname", "-m"]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), uname, "{arch}");
    }
}
