//! The native snapshotter's differ: changes between two full trees.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use hearth_layer::{ApplyOptions, DiffOptions, WhiteoutMode, apply_layer, write_tree_diff};

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn lower_tree(root: &Path) {
    write(root, "keep/same", b"same", 0o644);
    write(root, "keep/content", b"aaaa", 0o644);
    write(root, "keep/mode", b"mode", 0o644);
    write(root, "keep/gone", b"bye", 0o644);
    write(root, "olddir/a", b"a", 0o644);
    write(root, "olddir/b/c", b"c", 0o644);
    write(root, "file-becomes-dir", b"f", 0o644);
    write(root, "dir-becomes-file/x", b"x", 0o644);
    symlink(root, "link", "keep/same");
    write(root, "untouched/deep/file", b"deep", 0o644);
    settle_times(root, 1_600_000_000);
}

/// Changes `upper` (a copy of the lower tree) the way a build step would.
fn change(upper: &Path) {
    // Same size, same (whole-second) mtime, different bytes: only a content compare sees it.
    std::fs::write(upper.join("keep/content"), b"bbbb").unwrap();
    std::fs::set_permissions(
        upper.join("keep/mode"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::remove_file(upper.join("keep/gone")).unwrap();
    std::fs::remove_dir_all(upper.join("olddir")).unwrap();
    std::fs::remove_file(upper.join("file-becomes-dir")).unwrap();
    write(upper, "file-becomes-dir/inside", b"i", 0o644);
    std::fs::remove_dir_all(upper.join("dir-becomes-file")).unwrap();
    write(upper, "dir-becomes-file", b"now a file", 0o644);
    write(upper, "added/new", b"new", 0o644);
    std::fs::remove_file(upper.join("link")).unwrap();
    symlink(upper, "link", "keep/mode");
    settle_times(upper, 1_600_000_000);
}

#[test]
fn diff_of_two_trees_has_exactly_the_changes() {
    require_root();
    let lower = tempfile::tempdir().unwrap();
    lower_tree(lower.path());
    let upper = tempfile::tempdir().unwrap();
    copy_tree(lower.path(), upper.path());
    change(upper.path());

    let mut tar = Vec::new();
    write_tree_diff(
        lower.path(),
        upper.path(),
        &mut tar,
        &DiffOptions::default(),
    )
    .unwrap();
    assert_eq!(
        tar_names(&tar),
        [
            "added/",
            "added/new",
            "dir-becomes-file",
            "file-becomes-dir/",
            "file-becomes-dir/inside",
            "keep/",
            "keep/content",
            "keep/.wh.gone",
            "keep/mode",
            "link",
            ".wh.olddir",
        ]
    );

    // Applying the diff on the lower tree gives the upper tree.
    let root = tempfile::tempdir().unwrap();
    copy_tree(lower.path(), root.path());
    let options = ApplyOptions {
        whiteouts: WhiteoutMode::Apply,
        ..ApplyOptions::default()
    };
    apply_layer(&tar[..], root.path(), &options).unwrap();
    assert_same_tree(upper.path(), root.path(), Snapshot::default());
}

#[test]
fn identical_trees_give_an_empty_layer() {
    require_root();
    let lower = tempfile::tempdir().unwrap();
    lower_tree(lower.path());
    let upper = tempfile::tempdir().unwrap();
    copy_tree(lower.path(), upper.path());
    let mut tar = Vec::new();
    let stats = write_tree_diff(
        lower.path(),
        upper.path(),
        &mut tar,
        &DiffOptions::default(),
    )
    .unwrap();
    assert_eq!(stats.entries, 0);
    assert_eq!(tar, vec![0u8; 1024]);
}

#[test]
fn excluded_paths_and_mtime_clamp() {
    require_root();
    let lower = tempfile::tempdir().unwrap();
    lower_tree(lower.path());
    let upper = tempfile::tempdir().unwrap();
    copy_tree(lower.path(), upper.path());
    mkdir(upper.path(), "run/secrets", 0o755);
    write(upper.path(), "proc-stub", b"", 0o644);
    write(upper.path(), "real", b"kept", 0o644);
    settle_times(upper.path(), 1_900_000_000);
    let options = DiffOptions {
        exclude: vec!["/run".into(), "proc-stub".into()],
        mtime_clamp: Some(1_700_000_000),
        ..DiffOptions::default()
    };
    let mut tar = Vec::new();
    write_tree_diff(lower.path(), upper.path(), &mut tar, &options).unwrap();
    let names = tar_names(&tar);
    assert!(names.contains(&"real".to_owned()), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with("run") && n != "proc-stub"),
        "{names:?}"
    );
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        assert!(entry.header().mtime().unwrap() <= 1_700_000_000);
    }
}
