//! Whiteouts and opaque directories: upper dir → tar → upper dir, applying onto a full root
//! file system, and the real overlayfs view of stacked layers.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;
use hearth_layer::{ApplyOptions, DiffOptions, WhiteoutMode, apply_layer, write_layer_tar};

const OPAQUE: &str = "trusted.overlay.opaque";

/// An upper dir as overlayfs leaves it after `rm gone etc/x; rm -rf opq; mkdir opq; …`.
fn upper_with_deletions(root: &Path) {
    write(root, "new-file", b"added", 0o644);
    whiteout(root, "gone");
    mkdir(root, "etc", 0o755);
    whiteout(root, "etc/x");
    let opq = mkdir(root, "opq", 0o750);
    chown(&opq, 7, 8);
    set_xattr(&opq, OPAQUE, b"y");
    write(root, "opq/new", b"fresh", 0o644);
    mkdir(root, "opq/sub", 0o755);
    settle_times(root, 1_700_000_000);
}

fn tar_of(upper: &Path) -> Vec<u8> {
    let mut tar = Vec::new();
    write_layer_tar(upper, &mut tar, &DiffOptions::default()).unwrap();
    tar
}

fn entry_header(tar: &[u8], name: &str) -> tar::Header {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path_bytes().as_ref() == name.as_bytes())
        .map(|e| e.header().clone())
        .unwrap_or_else(|| panic!("no entry {name}"))
}

#[test]
fn whiteouts_and_opaque_dirs_become_wh_entries() {
    require_root();
    let upper = tempfile::tempdir().unwrap();
    upper_with_deletions(upper.path());
    let tar = tar_of(upper.path());
    assert_eq!(
        tar_names(&tar),
        // In walk order of the upper dir: `.wh.gone` stands where `gone` sorts.
        [
            "etc/",
            "etc/.wh.x",
            ".wh.gone",
            "new-file",
            "opq/",
            "opq/.wh..wh..opq",
            "opq/new",
            "opq/sub/"
        ]
    );
    // containerd 2's whiteout: an empty regular file, mode 0, root, mtime 0.
    let wh = entry_header(&tar, ".wh.gone");
    assert!(wh.entry_type().is_file());
    assert_eq!(
        (
            wh.mode().unwrap(),
            wh.uid().unwrap(),
            wh.mtime().unwrap(),
            wh.size().unwrap()
        ),
        (0, 0, 0, 0)
    );
    // moby's opaque marker: the directory's permissions and owner.
    let marker = entry_header(&tar, "opq/.wh..wh..opq");
    assert_eq!(
        (
            marker.mode().unwrap(),
            marker.uid().unwrap(),
            marker.gid().unwrap()
        ),
        (0o750, 7, 8)
    );
}

#[test]
fn overlay_mode_reproduces_the_upper_dir() {
    require_root();
    let upper = tempfile::tempdir().unwrap();
    upper_with_deletions(upper.path());
    let tar = tar_of(upper.path());
    let dest = tempfile::tempdir().unwrap();
    apply_layer(&tar[..], dest.path(), &ApplyOptions::default()).unwrap();
    assert_same_tree(
        upper.path(),
        dest.path(),
        Snapshot {
            ignore_whiteout_mtime: true,
            ..Snapshot::default()
        },
    );
    // And the reproduced upper dir exports to the same bytes.
    assert_eq!(tar_of(dest.path()), tar);
}

fn rootfs(root: &Path) {
    write(root, "gone", b"old", 0o644);
    write(root, "etc/x", b"old", 0o644);
    write(root, "etc/y", b"stays", 0o644);
    write(root, "opq/old", b"hidden", 0o644);
    write(root, "opq/sub/old", b"hidden too", 0o644);
    write(root, "other/z", b"untouched", 0o644);
}

#[test]
fn apply_mode_deletes_whiteouts_and_empties_opaque_dirs() {
    require_root();
    let upper = tempfile::tempdir().unwrap();
    upper_with_deletions(upper.path());
    let tar = tar_of(upper.path());
    let root = tempfile::tempdir().unwrap();
    rootfs(root.path());
    let options = ApplyOptions {
        whiteouts: WhiteoutMode::Apply,
        ..ApplyOptions::default()
    };
    apply_layer(&tar[..], root.path(), &options).unwrap();
    let exists = |p: &str| root.path().join(p).symlink_metadata().is_ok();
    assert!(!exists("gone"));
    assert!(!exists("etc/x"));
    assert!(exists("etc/y"));
    assert!(exists("other/z"));
    assert!(!exists("opq/old"));
    assert!(
        !exists("opq/sub/old"),
        "kept directories lose their old contents"
    );
    assert_eq!(
        std::fs::read(root.path().join("opq/new")).unwrap(),
        b"fresh"
    );
    assert!(root.path().join("opq/sub").is_dir());
    assert!(exists("new-file"));
    // No overlay artefacts in a plain root file system.
    assert_eq!(get_xattr(&root.path().join("opq"), OPAQUE), None);
}

#[test]
fn opaque_marker_keeps_entries_of_the_same_layer_whatever_the_order() {
    require_root();
    let root = tempfile::tempdir().unwrap();
    rootfs(root.path());
    let tar = raw_tar(&[
        Raw::file("opq/early", b"before the marker"),
        Raw::dir("opq/sub/"),
        Raw::file("opq/sub/newer", b"also this layer"),
        Raw::file("opq/.wh..wh..opq", b""),
        Raw::file("opq/late", b"after the marker"),
    ]);
    let options = ApplyOptions {
        whiteouts: WhiteoutMode::Apply,
        ..ApplyOptions::default()
    };
    apply_layer(&tar[..], root.path(), &options).unwrap();
    let mut left: Vec<String> = snapshot(&root.path().join("opq"), Snapshot::default())
        .into_keys()
        .map(|p| p.display().to_string())
        .collect();
    left.sort();
    assert_eq!(left, ["early", "late", "sub", "sub/newer"]);
}

#[test]
fn whiteout_replaces_what_the_same_layer_put_there_in_overlay_mode() {
    require_root();
    let tar = raw_tar(&[
        Raw::dir("d/"),
        Raw::file("d/f", b"x"),
        Raw::file(".wh.d", b""),
    ]);
    let dest = tempfile::tempdir().unwrap();
    apply_layer(&tar[..], dest.path(), &ApplyOptions::default()).unwrap();
    let meta = std::fs::symlink_metadata(dest.path().join("d")).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(meta.file_type().is_char_device());
    assert_eq!(meta.rdev(), 0);
}

#[test]
fn invalid_whiteout_names_are_rejected() {
    require_root();
    for name in [".wh.", "a/.wh..", "a/.wh..."] {
        let tar = raw_tar(&[Raw::file(name, b"")]);
        let dest = tempfile::tempdir().unwrap();
        let err = apply_layer(&tar[..], dest.path(), &ApplyOptions::default()).unwrap_err();
        assert!(
            matches!(err, hearth_layer::LayerError::UnsafePath { .. }),
            "{name}: {err}"
        );
    }
}

/// Unmounts on drop, so a failing assertion leaves no mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

#[test]
fn stacked_layers_look_right_through_a_real_overlay_mount() {
    require_root();
    // Layer 1, a small root file system, from a plain upper dir.
    let base = tempfile::tempdir().unwrap();
    write(base.path(), "a/x", b"x1", 0o644);
    write(base.path(), "a/y", b"y1", 0o644);
    write(base.path(), "b/old", b"old", 0o644);
    write(base.path(), "b/deep/older", b"older", 0o644);
    write(base.path(), "c", b"c1", 0o644);
    settle_times(base.path(), 1_600_000_000);
    // Layer 2's upper dir: rm a/x; rm -rf b && mkdir b && echo > b/new; echo c2 > c; touch d.
    let upper = tempfile::tempdir().unwrap();
    mkdir(upper.path(), "a", 0o755);
    whiteout(upper.path(), "a/x");
    set_xattr(&mkdir(upper.path(), "b", 0o755), OPAQUE, b"y");
    write(upper.path(), "b/new", b"new", 0o644);
    write(upper.path(), "c", b"c2", 0o644);
    write(upper.path(), "d", b"d", 0o644);
    settle_times(upper.path(), 1_700_000_000);

    let layer1 = tar_of(base.path());
    let layer2 = tar_of(upper.path());
    let dirs = tempfile::tempdir().unwrap();
    let l1 = mkdir(dirs.path(), "l1", 0o755);
    let l2 = mkdir(dirs.path(), "l2", 0o755);
    let merged = mkdir(dirs.path(), "merged", 0o755);
    apply_layer(&layer1[..], &l1, &ApplyOptions::default()).unwrap();
    apply_layer(&layer2[..], &l2, &ApplyOptions::default()).unwrap();

    let data =
        std::ffi::CString::new(format!("lowerdir={}:{}", l2.display(), l1.display())).unwrap();
    rustix::mount::mount(
        "overlay",
        &merged,
        "overlay",
        rustix::mount::MountFlags::RDONLY,
        data.as_c_str(),
    )
    .unwrap();
    let mounted = Mounted(merged.clone());

    let read = |p: &str| std::fs::read(merged.join(p)).ok();
    assert_eq!(read("a/x"), None, "whiteout hides a/x");
    assert_eq!(read("a/y").as_deref(), Some(&b"y1"[..]));
    assert_eq!(read("b/old"), None, "opaque b hides its lower contents");
    assert!(!merged.join("b/deep").exists());
    assert_eq!(read("b/new").as_deref(), Some(&b"new"[..]));
    assert_eq!(read("c").as_deref(), Some(&b"c2"[..]));
    assert_eq!(read("d").as_deref(), Some(&b"d"[..]));

    // The native snapshotter path must give exactly the same tree.
    let native = tempfile::tempdir().unwrap();
    let options = ApplyOptions {
        whiteouts: WhiteoutMode::Apply,
        ..ApplyOptions::default()
    };
    apply_layer(&layer1[..], native.path(), &options).unwrap();
    apply_layer(&layer2[..], native.path(), &options).unwrap();
    assert_same_tree(&merged, native.path(), Snapshot::default());
    drop(mounted);
}

#[test]
fn with_a_lower_view_the_output_follows_buildkits_overlay_differ() {
    require_root();
    let lower = tempfile::tempdir().unwrap();
    write(lower.path(), "a/x", b"x", 0o644);
    write(lower.path(), "b/old", b"old", 0o644);
    write(lower.path(), "b/keep", b"same", 0o644);
    write(lower.path(), "unchanged/f", b"f", 0o644);
    settle_times(lower.path(), 1_600_000_000);

    let upper = tempfile::tempdir().unwrap();
    mkdir(upper.path(), "a", 0o755);
    whiteout(upper.path(), "a/x");
    whiteout(upper.path(), "never-existed");
    set_xattr(&mkdir(upper.path(), "b", 0o755), OPAQUE, b"y");
    write(upper.path(), "b/new", b"new", 0o644);
    write(upper.path(), "b/keep", b"same", 0o644);
    // A copied-up directory with the lower's metadata and nothing changed inside.
    mkdir(upper.path(), "unchanged", 0o755);
    settle_times(upper.path(), 1_600_000_000);
    // Directories compare without mtimes; files do: b/keep was rewritten.
    settle_times(&upper.path().join("b"), 1_700_000_000);

    let mut tar = Vec::new();
    let options = DiffOptions {
        lower: Some(lower.path().to_path_buf()),
        ..DiffOptions::default()
    };
    write_layer_tar(upper.path(), &mut tar, &options).unwrap();
    assert_eq!(
        tar_names(&tar),
        // No whiteout for what never existed, no entry for the untouched copy-up, and the
        // opaque directory spelled out as whiteouts of what it hides.
        ["a/", "a/.wh.x", "b/", "b/keep", "b/new", "b/.wh.old"]
    );

    // Applied on the lower tree it gives what the overlay mount would show.
    let root = tempfile::tempdir().unwrap();
    std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", lower.path().display()))
        .arg(root.path())
        .status()
        .unwrap();
    let apply = ApplyOptions {
        whiteouts: WhiteoutMode::Apply,
        ..ApplyOptions::default()
    };
    apply_layer(&tar[..], root.path(), &apply).unwrap();
    assert!(!root.path().join("a/x").exists());
    assert!(!root.path().join("b/old").exists());
    assert!(root.path().join("b/new").exists());
    assert!(root.path().join("unchanged/f").exists());
}

#[test]
fn only_the_marker_makes_a_directory_opaque() {
    require_root();
    // A tar cannot smuggle overlayfs attributes in through PAX records.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    builder
        .append_pax_extensions([
            ("SCHILY.xattr.trusted.overlay.opaque", &b"y"[..]),
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/etc"[..]),
        ])
        .unwrap();
    builder
        .append_data(&mut header, "sneaky/", std::io::empty())
        .unwrap();
    let tar = builder.into_inner().unwrap();
    let dest = tempfile::tempdir().unwrap();
    apply_layer(&tar[..], dest.path(), &ApplyOptions::default()).unwrap();
    let dir = dest.path().join("sneaky");
    assert!(dir.is_dir());
    assert_eq!(get_xattr(&dir, OPAQUE), None);
    assert_eq!(get_xattr(&dir, "trusted.overlay.redirect"), None);
}
