//! `ADD` archives: every format made by the system tools is recognised and extracted;
//! anything else is left alone.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use hearth_layer::{ArchiveFormat, DETECT_LEN, ExtractOptions, detect_archive, extract_archive};

fn source_tree(root: &Path) {
    write(root, "app/bin/run", b"#!/bin/sh\nexec true\n", 0o755);
    write(root, "app/etc/conf", b"key=value\n", 0o640);
    chown(&root.join("app/etc/conf"), 1000, 1001);
    symlink(root, "app/current", "bin");
    // docker does not interpret whiteouts in ADD archives: this is just a file.
    write(root, "app/.wh.not-a-whiteout", b"literal", 0o644);
    write(
        root,
        &format!("app/{}", "long".repeat(40)),
        b"long name",
        0o644,
    );
    settle_times(root, 1_600_000_000);
}

/// Makes `archive.<ext>` of `src` with GNU tar and the named compressor flag.
fn make_archive(src: &Path, dir: &Path, ext: &str, flag: Option<&str>) -> PathBuf {
    let out = dir.join(format!("archive.{ext}"));
    let mut cmd = Command::new("tar");
    cmd.arg("--numeric-owner").arg("-C").arg(src);
    if let Some(flag) = flag {
        cmd.arg(flag);
    }
    let status = cmd.arg("-cf").arg(&out).arg("app").status().unwrap();
    assert!(
        status.success(),
        "tar {ext} failed (is the compressor installed?)"
    );
    out
}

const FORMATS: &[(&str, Option<&str>, ArchiveFormat)] = &[
    ("tar", None, ArchiveFormat::Tar),
    ("tar.gz", Some("--gzip"), ArchiveFormat::Gzip),
    ("tar.bz2", Some("--bzip2"), ArchiveFormat::Bzip2),
    ("tar.xz", Some("--xz"), ArchiveFormat::Xz),
    ("tar.zst", Some("--zstd"), ArchiveFormat::Zstd),
];

#[test]
fn every_format_is_detected_and_extracted() {
    require_root();
    let src = tempfile::tempdir().unwrap();
    source_tree(src.path());
    let archives = tempfile::tempdir().unwrap();
    for (ext, flag, format) in FORMATS {
        let archive = make_archive(src.path(), archives.path(), ext, *flag);
        let head = std::fs::read(&archive).unwrap();
        assert_eq!(
            detect_archive(&head[..DETECT_LEN.min(head.len())]),
            Some(*format),
            "{ext}"
        );
        let dest = tempfile::tempdir().unwrap();
        let target = dest.path().join("into/here");
        assert!(
            extract_archive(&archive, &target, &ExtractOptions::default()).unwrap(),
            "{ext} is an archive"
        );
        assert_same_tree(
            &src.path().join("app"),
            &target.join("app"),
            Snapshot::default(),
        );
        assert_eq!(
            std::fs::read(target.join("app/.wh.not-a-whiteout")).unwrap(),
            b"literal"
        );
    }
}

#[test]
fn chown_overrides_the_tar_owner() {
    require_root();
    let src = tempfile::tempdir().unwrap();
    source_tree(src.path());
    let archives = tempfile::tempdir().unwrap();
    let archive = make_archive(src.path(), archives.path(), "tar.gz", Some("--gzip"));
    let dest = tempfile::tempdir().unwrap();
    let options = ExtractOptions {
        chown: Some((4242, 4343)),
        ..ExtractOptions::default()
    };
    let target = dest.path().join("opt/new");
    assert!(extract_archive(&archive, &target, &options).unwrap());
    for rel in [
        "opt",
        "opt/new",
        "opt/new/app",
        "opt/new/app/etc/conf",
        "opt/new/app/current",
    ] {
        let meta = std::fs::symlink_metadata(dest.path().join(rel)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4242, 4343), "{rel}");
    }
}

#[test]
fn non_archives_are_left_alone() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let plain = write(
        dir.path(),
        "notes.txt",
        b"just text, long enough to not be empty",
        0o644,
    );
    // gzip of something that is not a tar: ADD copies it as it is.
    let gz = dir.path().join("data.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c {} > {}", plain.display(), gz.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let empty = write(dir.path(), "empty", b"", 0o644);
    let zeros = write(dir.path(), "zeros", &[0u8; 2048], 0o644);
    std::fs::create_dir(dir.path().join("a-dir")).unwrap();
    let dest = dir.path().join("dest");
    for src in [
        plain,
        gz,
        empty,
        zeros,
        dir.path().join("a-dir"),
        dir.path().join("missing"),
    ] {
        assert!(
            !extract_archive(&src, &dest, &ExtractOptions::default()).unwrap(),
            "{} is not an archive",
            src.display()
        );
        assert!(!dest.exists(), "nothing was created for {}", src.display());
    }
    assert_eq!(detect_archive(b"just text"), None);
}

#[test]
fn symlinks_resolve_inside_the_destination_like_docker() {
    require_root();
    let dest = tempfile::tempdir().unwrap();
    mkdir(dest.path(), "usr/lib", 0o755);
    // An absolute link: in docker's chroot it means <dest>/usr/lib.
    symlink(dest.path(), "lib", "/usr/lib");
    let tar = raw_tar(&[Raw::file("lib/libfoo.so", b"elf")]);
    let archive = dest.path().join("../archive.tar");
    std::fs::write(&archive, &tar).unwrap();
    assert!(extract_archive(&archive, dest.path(), &ExtractOptions::default()).unwrap());
    assert_eq!(
        std::fs::read(dest.path().join("usr/lib/libfoo.so")).unwrap(),
        b"elf"
    );
    assert!(
        std::fs::symlink_metadata(dest.path().join("lib"))
            .unwrap()
            .is_symlink()
    );
    assert!(
        !Path::new("/usr/lib/libfoo.so").exists() || {
            // If the host has one, it is not ours.
            std::fs::read("/usr/lib/libfoo.so").unwrap() != b"elf"
        }
    );
    std::fs::remove_file(archive).unwrap();
}

#[test]
fn xattrs_are_kept_but_never_overlayfs_ones() {
    require_root();
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    builder
        .append_pax_extensions([
            ("SCHILY.xattr.trusted.overlay.opaque", &b"y"[..]),
            ("SCHILY.xattr.user.note", &b"kept"[..]),
        ])
        .unwrap();
    builder
        .append_data(&mut header, "d/", std::io::empty())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = write(dir.path(), "x.tar", &builder.into_inner().unwrap(), 0o644);
    let dest = dir.path().join("dest");
    assert!(extract_archive(&archive, &dest, &ExtractOptions::default()).unwrap());
    assert_eq!(
        get_xattr(&dest.join("d"), "user.note").as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(get_xattr(&dest.join("d"), "trusted.overlay.opaque"), None);
}
