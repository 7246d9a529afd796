//! Round trips (tree → layer tar → tree), determinism, Go `archive/tar` byte compatibility,
//! and tars written by GNU tar and Python's tarfile.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use common::*;
use hearth_layer::{
    ApplyOptions, DiffOptions, WhiteoutMode, XattrPolicy, apply_layer, write_layer_tar,
};
use sha2::{Digest as _, Sha256};

const CAPABILITY: &[u8] = &[
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A tree with every kind of entry and every header corner a layer meets.
fn rich_tree(root: &Path) {
    mkdir(root, "etc", 0o755);
    let passwd = write(root, "etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644);
    chown(&passwd, 1000, 1000);
    let ping = write(root, "usr/bin/ping", &b"\x7fELF".repeat(3000), 0o4755);
    set_xattr(&ping, "security.capability", CAPABILITY);
    set_xattr(&ping, "user.origin", b"test");
    std::fs::hard_link(&ping, root.join("usr/bin/ping4")).unwrap();
    std::fs::hard_link(&ping, root.join("usr/bin/ping6")).unwrap();
    write(root, "usr/bin/empty", b"", 0o755);
    mkdir(root, "srv/shared", 0o2775);
    mkdir(root, "tmp", 0o1777);
    let big_ids = mkdir(root, "home/big", 0o700);
    chown(&big_ids, 3_000_000, 4_000_000);
    set_xattr(&root.join("home"), "user.dir", b"yes");
    symlink(root, "usr/bin/sh", "busybox");
    symlink(root, "etc/mtab", "/proc/self/mounts");
    symlink(root, "dangling", "../nowhere");
    let long_dir = "d".repeat(150);
    write(
        root,
        &format!("{long_dir}/{}", "f".repeat(90)),
        b"prefix split",
        0o600,
    );
    write(root, &"L".repeat(200), b"pax path", 0o640);
    symlink(root, "longlink", &"/t".repeat(80));
    std::fs::write(root.join(os("caf\u{e9}")), b"non-ascii").unwrap();
    std::fs::write(
        root.join(std::ffi::OsStr::from_bytes(b"raw\xff")),
        b"non-utf8",
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o620),
        0,
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("loop0"),
        rustix::fs::FileType::BlockDevice,
        rustix::fs::Mode::from_raw_mode(0o660),
        rustix::fs::makedev(7, 0),
    )
    .unwrap();
    settle_times(root, 1_650_000_000);
}

fn layer_of(upper: &Path, options: &DiffOptions) -> Vec<u8> {
    let mut tar = Vec::new();
    let stats = write_layer_tar(upper, &mut tar, options).unwrap();
    assert_eq!(stats.size, tar.len() as u64);
    tar
}

fn apply_overlay(tar: &[u8], dest: &Path) {
    apply_layer(tar, dest, &ApplyOptions::default()).unwrap();
}

#[test]
fn round_trip_keeps_modes_owners_links_xattrs_and_long_names() {
    require_root();
    let upper = tempfile::tempdir().unwrap();
    rich_tree(upper.path());
    let options = DiffOptions {
        xattrs: XattrPolicy::All,
        ..DiffOptions::default()
    };
    let tar = layer_of(upper.path(), &options);
    let dest = tempfile::tempdir().unwrap();
    apply_overlay(&tar, dest.path());
    assert_same_tree(upper.path(), dest.path(), Snapshot::default());

    // The three names of ping are one file again, with content written once.
    let names = tar_names(&tar);
    let mut archive = tar::Archive::new(&tar[..]);
    let links: Vec<_> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.header().entry_type().is_hard_link())
        .map(|e| String::from_utf8_lossy(&e.path_bytes()).into_owned())
        .collect();
    assert_eq!(links, ["usr/bin/ping4", "usr/bin/ping6"]);
    assert!(
        names.contains(&"etc/".to_owned()),
        "directories end with a slash"
    );
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with('/') && !n.starts_with("./"))
    );
}

#[test]
fn default_policy_records_only_the_capability_xattr() {
    require_root();
    let upper = tempfile::tempdir().unwrap();
    rich_tree(upper.path());
    let tar = layer_of(upper.path(), &DiffOptions::default());
    let dest = tempfile::tempdir().unwrap();
    apply_overlay(&tar, dest.path());
    let ping = dest.path().join("usr/bin/ping");
    assert_eq!(
        get_xattr(&ping, "security.capability").as_deref(),
        Some(CAPABILITY)
    );
    assert_eq!(get_xattr(&ping, "user.origin"), None);
    assert_eq!(get_xattr(&dest.path().join("home"), "user.dir"), None);
}

#[test]
fn layers_are_deterministic() {
    require_root();
    let upper = tempfile::tempdir().unwrap();
    rich_tree(upper.path());
    let first = layer_of(upper.path(), &DiffOptions::default());
    let second = layer_of(upper.path(), &DiffOptions::default());
    assert_eq!(first, second);
    // The same tree built again elsewhere (other inodes, other temp path) gives the same bytes.
    let again = tempfile::tempdir().unwrap();
    rich_tree(again.path());
    assert_eq!(first, layer_of(again.path(), &DiffOptions::default()));
}

/// The digest Go's `archive/tar`, driven the way containerd 2's `ChangeWriter` drives it
/// (FormatPAX, mtimes truncated, no user-name lookups, capability xattr only, whiteouts
/// with mode 0 and mtime 0), produces for `go_tree`. Computed once with Go 1.19 on this
/// exact tree; a change here means hearth's diff_ids no longer match BuildKit's.
const GO_DIGEST: &str = "e7e9ff572644cd619a0658e50b7ad54182c6afd0060b691aae2fdca3349c00be";

fn go_tree(root: &Path) {
    rich_tree(root);
    whiteout(root, "gone");
    mkdir(root, "etc/ssl", 0o755);
    whiteout(root, "etc/ssl/old.pem");
    settle_times(root, 1_650_000_000);
    // A pre-1970 directory exercises the PAX mtime record.
    let ts = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: -100,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: -100,
            tv_nsec: 0,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        root.join("srv"),
        &ts,
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
}

#[test]
fn layer_bytes_match_go_archive_tar() {
    require_root();
    let upper = tempfile::tempdir().unwrap();
    go_tree(upper.path());
    let tar = layer_of(upper.path(), &DiffOptions::default());
    if let Ok(keep) = std::env::var("HEARTH_LAYER_KEEP_GO_TREE") {
        // How GO_DIGEST was made: the tree is copied out for the Go reference writer.
        let status = Command::new("cp")
            .args(["-a", "--"])
            .arg(upper.path())
            .arg(&keep)
            .status()
            .unwrap();
        assert!(status.success());
    }
    assert_eq!(hex(&Sha256::digest(&tar)), GO_DIGEST);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tree of the kinds other tar writers handle portably (no devices, no big ids).
fn portable_tree(root: &Path) {
    write(root, "etc/hostname", b"box\n", 0o644);
    write(root, "usr/local/bin/tool", b"#!/bin/sh\necho hi\n", 0o755);
    std::fs::hard_link(
        root.join("usr/local/bin/tool"),
        root.join("usr/local/bin/tool-alias"),
    )
    .unwrap();
    symlink(root, "usr/local/bin/t", "tool");
    let deep = format!("{}/{}/{}", "a".repeat(60), "b".repeat(60), "c".repeat(60));
    write(root, &format!("{deep}/{}", "n".repeat(120)), b"deep", 0o600);
    symlink(root, "far", &format!("/{deep}/{}", "n".repeat(120)));
    let owned = write(root, "srv/data", b"owned", 0o640);
    chown(&owned, 1000, 1000);
    mkdir(root, "tmp", 0o1777);
    settle_times(root, 1_600_000_000);
}

fn applied_equals_source(tar: &[u8], source: &Path) {
    let dest = tempfile::tempdir().unwrap();
    apply_layer(tar, dest.path(), &ApplyOptions::default()).unwrap();
    assert_same_tree(source, dest.path(), Snapshot::default());
}

#[test]
fn gnu_tar_archives_apply() {
    require_root();
    let src = tempfile::tempdir().unwrap();
    portable_tree(src.path());
    for format in ["gnu", "pax", "ustar"] {
        if format == "ustar" {
            // ustar cannot hold the 120-byte file name; GNU tar would refuse it.
            continue;
        }
        let out = Command::new("tar")
            .arg(format!("--format={format}"))
            .args(["--numeric-owner", "-C"])
            .arg(src.path())
            .args(["-cf", "-", "."])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        applied_equals_source(&out.stdout, src.path());
    }
}

#[test]
fn python_tarfile_archives_apply() {
    require_root();
    let src = tempfile::tempdir().unwrap();
    portable_tree(src.path());
    for format in ["GNU_FORMAT", "PAX_FORMAT"] {
        let script = format!(
            "import sys, tarfile\n\
             with tarfile.open(fileobj=sys.stdout.buffer, mode='w|', format=tarfile.{format}) as t:\n\
             \x20   t.add(sys.argv[1], arcname='.')\n"
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .arg(src.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        applied_equals_source(&out.stdout, src.path());
    }
}

#[test]
fn later_entries_replace_earlier_ones() {
    require_root();
    let tar = raw_tar(&[
        Raw::dir("x/"),
        Raw::file("x/inner", b"gone with the dir"),
        Raw::file("x", b"file replaces dir"),
        Raw::file("y", b"first"),
        Raw::dir("y/"),
        Raw::symlink("z", "/etc"),
        Raw::file("z", b"file replaces symlink"),
        Raw::dir("d/"),
        Raw::file("d/keep", b"kept"),
        Raw {
            mode: 0o700,
            ..Raw::dir("d/")
        },
    ]);
    let dest = tempfile::tempdir().unwrap();
    let report = apply_layer(&tar[..], dest.path(), &ApplyOptions::default()).unwrap();
    assert_eq!(report.entries, 10);
    assert_eq!(
        std::fs::read(dest.path().join("x")).unwrap(),
        b"file replaces dir"
    );
    assert!(dest.path().join("y").is_dir());
    assert_eq!(
        std::fs::read(dest.path().join("z")).unwrap(),
        b"file replaces symlink"
    );
    assert_eq!(std::fs::read(dest.path().join("d/keep")).unwrap(), b"kept");
    let mode = std::fs::metadata(dest.path().join("d")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o7777,
        0o700,
        "a second directory entry updates the metadata"
    );
}

#[test]
fn missing_parents_are_created_0755_and_dir_times_survive_their_contents() {
    require_root();
    let tar = raw_tar(&[
        Raw::dir("a/"),
        Raw::file("a/b/c/file", b"x"),
        Raw {
            mode: 0o750,
            ..Raw::dir("a/b/")
        },
        Raw::file("a/b/late", b"written after a/b's entry"),
    ]);
    let dest = tempfile::tempdir().unwrap();
    let options = ApplyOptions {
        whiteouts: WhiteoutMode::Apply,
        ..ApplyOptions::default()
    };
    apply_layer(&tar[..], dest.path(), &options).unwrap();
    let meta = |p: &str| std::fs::symlink_metadata(dest.path().join(p)).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta("a/b/c").mode() & 0o7777, 0o755);
    assert_eq!(meta("a/b").mode() & 0o7777, 0o750);
    assert_eq!(meta("a/b").mtime(), 1_600_000_000);
    assert_eq!(meta("a").mtime(), 1_600_000_000);
}
