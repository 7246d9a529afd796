//! A base image of more layers than one overlay mount stacks (the kernel's limit is 500
//! lower directories) still builds and exports under the overlayfs snapshotter: views of
//! such a stack are copies, with the layers' whiteouts applied.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::Write;
use std::path::Path;

use hearth_core::Digest;
use hearth_engine::{Export, ExportKind, ImageFormat, SnapshotterChoice};
use support::{Env, build, request};

/// Layers added on top of busybox: more than overlayfs' 500.
const EXTRA_LAYERS: usize = 510;
/// Layer 3 adds `/layers/gone`, this one deletes it.
const WHITEOUT_LAYER: usize = 300;

/// One layer: `layers/fN` holding `N`, plus `layers/gone` or its whiteout where due.
fn tiny_layer(i: usize) -> (Vec<u8>, Digest) {
    let mut tar_bytes = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar_bytes);
        let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_mtime(1_700_000_000);
            h.set_size(data.len() as u64);
            h.set_path(path).unwrap();
            h.set_cksum();
            builder.append(&h, data).unwrap();
        };
        add("layers/", tar::EntryType::Directory, 0o755, &[]);
        add(
            &format!("layers/f{i}"),
            tar::EntryType::Regular,
            0o644,
            i.to_string().as_bytes(),
        );
        if i == 3 {
            add("layers/gone", tar::EntryType::Regular, 0o644, b"x");
        }
        if i == WHITEOUT_LAYER {
            add("layers/.wh.gone", tar::EntryType::Regular, 0o644, &[]);
        }
        builder.finish().unwrap();
    }
    let diff_id = Digest::of(&tar_bytes);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar_bytes).unwrap();
    (gz.finish().unwrap(), diff_id)
}

/// Rewrites the single-image OCI layout at `dir` with `count` tiny layers added on top.
fn add_layers(dir: &Path, count: usize) {
    let blobs = dir.join("blobs/sha256");
    let read_json = |digest: &str| -> serde_json::Value {
        let hex = digest.strip_prefix("sha256:").unwrap();
        serde_json::from_slice(&std::fs::read(blobs.join(hex)).unwrap()).unwrap()
    };
    let write_blob = |data: &[u8]| -> (String, usize) {
        let digest = Digest::of(data);
        std::fs::write(blobs.join(digest.hex()), data).unwrap();
        (digest.to_string(), data.len())
    };
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut manifest = read_json(index["manifests"][0]["digest"].as_str().unwrap());
    let mut config = read_json(manifest["config"]["digest"].as_str().unwrap());
    for i in 0..count {
        let (blob, diff_id) = tiny_layer(i);
        let (digest, size) = write_blob(&blob);
        manifest["layers"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": size,
            }));
        config["rootfs"]["diff_ids"]
            .as_array_mut()
            .unwrap()
            .push(diff_id.to_string().into());
        config["history"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "created": "2023-11-14T22:13:20Z",
                "created_by": format!("layer {i}"),
            }));
    }
    let (config_digest, config_size) = write_blob(&serde_json::to_vec(&config).unwrap());
    manifest["config"]["digest"] = config_digest.into();
    manifest["config"]["size"] = config_size.into();
    let (manifest_digest, manifest_size) = write_blob(&serde_json::to_vec(&manifest).unwrap());
    index["manifests"][0]["digest"] = manifest_digest.into();
    index["manifests"][0]["size"] = manifest_size.into();
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_deeper_than_overlayfs_stacks_builds_and_exports() {
    let env = Env::new();
    let layout = env.work.path().join("many-layout");
    hearth_testkit::write_busybox_layout(&layout).unwrap();
    add_layers(&layout, EXTRA_LAYERS);
    hearth_testkit::push_layout(
        &layout,
        &format!("{}/library/many:latest", env.registry.addr()),
    )
    .unwrap();

    let last = EXTRA_LAYERS - 1;
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            &format!(
                "FROM many\nRUN ls /layers | wc -l > /count && cat /layers/f0 /layers/f{last} > /ends\n"
            ),
        )],
    );
    let mut options = env.options(env.root.path());
    options.snapshotter = SnapshotterChoice::Overlayfs;
    let engine = hearth_engine::Engine::open(options).await.unwrap();
    assert_eq!(engine.host().snapshotter().name(), "overlayfs");
    let dest = env.work.path().join("files");
    let exports = vec![Export {
        kind: ExportKind::Local { dest: dest.clone() },
        names: Vec::new(),
        format: ImageFormat::default(),
        push: false,
    }];
    build(&engine, request(&ctx, exports)).await.expect_ok();

    let read = |p: &str| std::fs::read_to_string(dest.join(p)).unwrap();
    assert_eq!(
        read("count").trim(),
        EXTRA_LAYERS.to_string(),
        "the step saw every layer's file and not the deleted one"
    );
    assert_eq!(read("ends"), format!("0{last}"));
    assert!(
        dest.join("bin/busybox").is_file(),
        "the bottom layer is there"
    );
    assert!(dest.join(format!("layers/f{last}")).is_file());
    assert!(
        !dest.join("layers/gone").exists(),
        "the whiteout in layer {WHITEOUT_LAYER} applies"
    );
}
