//! One-pass export: the digests describe exactly the bytes written and the tar inside.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::io::Read;
use std::path::Path;

use common::*;
use hearth_core::Digest;
use hearth_layer::{Compression, DiffOptions, export_layer, write_layer_tar};

fn tree(root: &Path) {
    for i in 0..60 {
        let data: Vec<u8> = (0..(i * 731) % 20_000)
            .map(|j| (j * i % 251) as u8)
            .collect();
        write(root, &format!("dir{}/file{i}", i % 7), &data, 0o644);
    }
    write(root, "big", &vec![7u8; 256 << 10], 0o600);
    whiteout(root, "deleted");
    symlink(root, "link", "big");
    settle_times(root, 1_650_000_000);
}

fn decompress(blob: &[u8], compression: Compression) -> Vec<u8> {
    let mut out = Vec::new();
    match compression {
        Compression::Uncompressed => out.extend_from_slice(blob),
        Compression::Gzip => {
            flate2::read::GzDecoder::new(blob)
                .read_to_end(&mut out)
                .unwrap();
        }
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(blob)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
        }
    }
    out
}

#[test]
fn digests_match_the_bytes_and_the_tar() {
    require_root();
    let upper = tempfile::tempdir().unwrap();
    tree(upper.path());
    let mut plain = Vec::new();
    write_layer_tar(upper.path(), &mut plain, &DiffOptions::default()).unwrap();
    for compression in [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Uncompressed,
    ] {
        let mut blob = Vec::new();
        let layer = export_layer(
            upper.path(),
            compression,
            None,
            &mut blob,
            &DiffOptions::default(),
        )
        .unwrap();
        assert_eq!(layer.digest, Digest::of(&blob), "{compression:?}");
        assert_eq!(layer.size, blob.len() as u64);
        let tar = decompress(&blob, compression);
        assert_eq!(tar, plain, "{compression:?} carries the same tar");
        assert_eq!(layer.diff_id, Digest::of(&tar));
        assert_eq!(layer.uncompressed_size, tar.len() as u64);
        assert_eq!(layer.compression, compression);
        assert_eq!(layer.media_type, compression.media_type(true));
        if compression == Compression::Uncompressed {
            assert_eq!(layer.digest, layer.diff_id);
        } else {
            assert!(layer.size < layer.uncompressed_size);
        }
    }
}

#[test]
fn exports_are_reproducible() {
    require_root();
    let upper = tempfile::tempdir().unwrap();
    tree(upper.path());
    for (compression, level) in [
        (Compression::Gzip, None),
        (Compression::Gzip, Some(1)),
        (Compression::Zstd, None),
        (Compression::Zstd, Some(9)),
    ] {
        let run = || {
            let mut blob = Vec::new();
            let layer = export_layer(
                upper.path(),
                compression,
                level,
                &mut blob,
                &DiffOptions::default(),
            )
            .unwrap();
            (layer, blob)
        };
        let (a, blob_a) = run();
        let (b, blob_b) = run();
        assert_eq!(a, b);
        assert_eq!(blob_a, blob_b, "{compression:?} {level:?}");
    }
}

#[test]
fn media_types_for_both_vocabularies() {
    require_root();
    let upper = tempfile::tempdir().unwrap();
    write(upper.path(), "f", b"x", 0o644);
    let mut blob = Vec::new();
    let gz = export_layer(
        upper.path(),
        Compression::Gzip,
        None,
        &mut blob,
        &DiffOptions::default(),
    )
    .unwrap();
    assert_eq!(gz.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_eq!(
        gz.media_type_for(false),
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    let mut blob = Vec::new();
    let zst = export_layer(
        upper.path(),
        Compression::Zstd,
        None,
        &mut blob,
        &DiffOptions::default(),
    )
    .unwrap();
    assert_eq!(
        zst.media_type_for(false),
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "docker has no zstd type"
    );
}

#[test]
fn write_errors_surface() {
    require_root();
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let upper = tempfile::tempdir().unwrap();
    tree(upper.path());
    let err = export_layer(
        upper.path(),
        Compression::Gzip,
        None,
        Broken,
        &DiffOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("disk on fire"), "{err}");
}

#[test]
fn gzip_blobs_decode_with_the_system_gzip() {
    require_root();
    let upper = tempfile::tempdir().unwrap();
    tree(upper.path());
    let mut blob = Vec::new();
    let layer = export_layer(
        upper.path(),
        Compression::Gzip,
        None,
        &mut blob,
        &DiffOptions::default(),
    )
    .unwrap();
    let mut child = std::process::Command::new("gzip")
        .args(["-d", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &blob));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "gzip -d rejected the blob");
    assert_eq!(Digest::of(&out.stdout), layer.diff_id);
}
