//! Hostile tars: every attempt to write outside the destination is refused with
//! `UnsafePath` (or, for absolute names and under `ResolveInRoot`, kept inside), and a
//! sentinel next to the destination is never touched.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use hearth_layer::{ApplyOptions, LayerError, SymlinkPolicy, WhiteoutMode, apply_layer};

/// `base/` holds `dest/` (where the tar goes) and `sentinel` (which must survive).
struct Sandbox {
    base: tempfile::TempDir,
}

const SENTINEL: &[u8] = b"do not touch";

impl Sandbox {
    fn new() -> Self {
        let base = tempfile::tempdir().unwrap();
        std::fs::create_dir(base.path().join("dest")).unwrap();
        std::fs::write(base.path().join("sentinel"), SENTINEL).unwrap();
        Self { base }
    }

    fn dest(&self) -> PathBuf {
        self.base.path().join("dest")
    }

    fn base(&self) -> &Path {
        self.base.path()
    }

    /// Nothing but `dest` and an intact sentinel next to it.
    fn assert_outside_untouched(&self) {
        let mut names: Vec<String> = std::fs::read_dir(self.base())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["dest", "sentinel"]);
        assert_eq!(
            std::fs::read(self.base().join("sentinel")).unwrap(),
            SENTINEL
        );
        let meta = std::fs::metadata(self.base().join("sentinel")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.nlink(), 1, "no hardlink was made to the sentinel");
    }

    fn apply(&self, tar: &[u8], options: &ApplyOptions) -> Result<(), LayerError> {
        apply_layer(tar, &self.dest(), options).map(|_| ())
    }
}

fn rejected(result: Result<(), LayerError>, what: &str) -> String {
    match result {
        Err(LayerError::UnsafePath { entry, reason }) => format!("{entry}: {reason}"),
        other => panic!("{what}: expected UnsafePath, got {other:?}"),
    }
}

fn both_modes() -> [ApplyOptions; 2] {
    [
        ApplyOptions::default(),
        ApplyOptions {
            whiteouts: WhiteoutMode::Apply,
            ..ApplyOptions::default()
        },
    ]
}

#[test]
fn dot_dot_escapes_are_rejected() {
    require_root();
    for name in [
        "../escape",
        "a/../../escape",
        "./../sentinel",
        "a/b/../../../sentinel",
    ] {
        for options in both_modes() {
            let sandbox = Sandbox::new();
            let tar = raw_tar(&[Raw::file(name, b"pwned")]);
            let message = rejected(sandbox.apply(&tar, &options), name);
            assert!(message.contains(".."), "{message}");
            sandbox.assert_outside_untouched();
        }
    }
}

#[test]
fn absolute_names_stay_inside_the_destination() {
    require_root();
    let sandbox = Sandbox::new();
    let abs = format!("{}/sentinel", sandbox.base().display());
    let tar = raw_tar(&[
        Raw::file("/hearth-layer-abs-test/path", b"inside"),
        Raw::file(&abs, b"inside too"),
    ]);
    sandbox.apply(&tar, &ApplyOptions::default()).unwrap();
    assert!(!Path::new("/hearth-layer-abs-test").exists());
    assert_eq!(
        std::fs::read(sandbox.dest().join("hearth-layer-abs-test/path")).unwrap(),
        b"inside"
    );
    assert_eq!(
        std::fs::read(sandbox.dest().join(abs.trim_start_matches('/'))).unwrap(),
        b"inside too"
    );
    sandbox.assert_outside_untouched();
}

#[test]
fn writing_through_a_symlink_from_the_same_tar_is_rejected() {
    require_root();
    let sandbox_for_target = Sandbox::new();
    let base = sandbox_for_target.base().display().to_string();
    let cases: Vec<(String, Vec<u8>)> = vec![
        // Absolute symlink to the directory holding the sentinel.
        (
            "abs dir".into(),
            raw_tar(&[Raw::symlink("a", &base), Raw::file("a/sentinel", b"pwned")]),
        ),
        // Relative symlink climbing out.
        (
            "relative".into(),
            raw_tar(&[Raw::symlink("a", ".."), Raw::file("a/sentinel", b"pwned")]),
        ),
        // The classic: a -> /etc, then a/<file>.
        (
            "etc".into(),
            raw_tar(&[
                Raw::symlink("a", "/etc"),
                Raw::file("a/hearth-layer-must-not-exist", b"pwned"),
            ]),
        ),
        // A directory entry through the link.
        (
            "dir".into(),
            raw_tar(&[Raw::symlink("a", &base), Raw::dir("a/newdir/")]),
        ),
        // Deeper: the symlink is a middle component.
        (
            "middle".into(),
            raw_tar(&[
                Raw::dir("d/"),
                Raw::symlink("d/l", &base),
                Raw::file("d/l/x/sentinel", b"pwned"),
            ]),
        ),
        // Symlink to a symlink.
        (
            "chain".into(),
            raw_tar(&[
                Raw::symlink("one", &base),
                Raw::symlink("two", "one"),
                Raw::file("two/sentinel", b"pwned"),
            ]),
        ),
    ];
    for (what, tar) in cases {
        for options in both_modes() {
            // Each case gets its own sandbox; the symlinks point at this one's base.
            let sandbox = Sandbox::new();
            let tar = retarget(&tar, &base, &sandbox.base().display().to_string());
            let message = rejected(sandbox.apply(&tar, &options), &what);
            assert!(message.contains("symlink"), "{what}: {message}");
            sandbox.assert_outside_untouched();
        }
    }
    assert!(!Path::new("/etc/hearth-layer-must-not-exist").exists());
}

/// Replaces one base path by another of the same length inside a raw tar (and fixes the
/// header checksums), so prepared cases can point at each test's own sandbox.
fn retarget(tar: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = tar.to_vec();
    let mut i = 0;
    while i + 512 <= out.len() {
        let block = &mut out[i..i + 512];
        if block.iter().all(|&b| b == 0) {
            break;
        }
        let size = tar::Header::from_byte_slice(block).entry_size().unwrap() as usize;
        if let Some(pos) = block.windows(from.len()).position(|w| w == from.as_bytes()) {
            block[pos..pos + to.len()].copy_from_slice(to.as_bytes());
            let mut header = tar::Header::from_byte_slice(block).clone();
            header.set_cksum();
            block.copy_from_slice(header.as_bytes());
        }
        i += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[test]
fn symlinks_already_in_the_root_fs_are_not_followed() {
    require_root();
    for options in both_modes() {
        let sandbox = Sandbox::new();
        std::os::unix::fs::symlink(sandbox.base(), sandbox.dest().join("lib")).unwrap();
        let tar = raw_tar(&[Raw::file("lib/sentinel", b"pwned")]);
        rejected(sandbox.apply(&tar, &options), "pre-existing symlink");
        sandbox.assert_outside_untouched();
    }
}

#[test]
fn hardlinks_must_stay_inside_and_off_symlinks() {
    require_root();
    for options in both_modes() {
        let sandbox = Sandbox::new();
        let base = sandbox.base().display().to_string();
        let escapes = [
            raw_tar(&[Raw::hardlink("h", "../sentinel")]),
            raw_tar(&[Raw::hardlink("h", "../../etc/passwd")]),
            raw_tar(&[Raw::symlink("l", &base), Raw::hardlink("h", "l/sentinel")]),
            raw_tar(&[Raw::symlink("l", "/etc"), Raw::hardlink("h", "l/passwd")]),
            raw_tar(&[
                Raw::dir("d/"),
                Raw::symlink("d/up", "../.."),
                Raw::hardlink("h", "d/up/sentinel"),
            ]),
        ];
        for tar in escapes {
            rejected(sandbox.apply(&tar, &options), "hardlink");
            sandbox.assert_outside_untouched();
        }
        // Names are cleaned lexically first (Go's filepath.Clean), so this one asks for
        // `d/sentinel`, which does not exist: an error, and nothing touched.
        let lexical = raw_tar(&[
            Raw::dir("d/"),
            Raw::symlink("d/up", "../.."),
            Raw::hardlink("h", "d/up/../sentinel"),
        ]);
        assert!(sandbox.apply(&lexical, &options).is_err());
        sandbox.assert_outside_untouched();
    }
    // A hardlink inside is fine, including to an absolute-looking name.
    let sandbox = Sandbox::new();
    let tar = raw_tar(&[Raw::file("f", b"data"), Raw::hardlink("g", "/f")]);
    sandbox.apply(&tar, &ApplyOptions::default()).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(sandbox.dest().join("g")).unwrap().ino(),
        std::fs::metadata(sandbox.dest().join("f")).unwrap().ino()
    );
}

#[test]
fn whiteouts_cannot_reach_outside() {
    require_root();
    for options in both_modes() {
        let sandbox = Sandbox::new();
        let base = sandbox.base().display().to_string();
        for tar in [
            raw_tar(&[Raw::symlink("a", &base), Raw::file("a/.wh.sentinel", b"")]),
            raw_tar(&[Raw::symlink("a", &base), Raw::file("a/.wh..wh..opq", b"")]),
            raw_tar(&[Raw::file("../.wh.sentinel", b"")]),
        ] {
            rejected(sandbox.apply(&tar, &options), "whiteout");
            sandbox.assert_outside_untouched();
        }
    }
}

#[test]
fn replacing_a_symlink_never_writes_through_it() {
    require_root();
    let sandbox = Sandbox::new();
    let target = format!("{}/sentinel", sandbox.base().display());
    let tar = raw_tar(&[
        Raw::symlink("s", &target),
        Raw::file("s", b"replaces the link"),
        Raw::symlink("t", &target),
        Raw {
            mode: 0o777,
            ..Raw::file("t", b"")
        },
    ]);
    sandbox.apply(&tar, &ApplyOptions::default()).unwrap();
    assert_eq!(
        std::fs::read(sandbox.dest().join("s")).unwrap(),
        b"replaces the link"
    );
    assert!(
        !std::fs::symlink_metadata(sandbox.dest().join("t"))
            .unwrap()
            .is_symlink()
    );
    sandbox.assert_outside_untouched();
}

#[test]
fn resolve_in_root_follows_links_but_only_inside() {
    require_root();
    let sandbox = Sandbox::new();
    let base = sandbox.base().display().to_string();
    let options = ApplyOptions {
        symlinks: SymlinkPolicy::ResolveInRoot,
        ..ApplyOptions::default()
    };
    let tar = raw_tar(&[
        Raw::symlink("abs", &base),
        Raw::file("abs/sentinel", b"lands inside"),
        Raw::symlink("up", "../.."),
        Raw::file("up/top", b"clamped at the root"),
        Raw::dir("usr/lib/"),
        Raw::symlink("lib", "usr/lib"),
        Raw::file("lib/libc.so", b"through a legit link"),
        Raw::file("../escape", b"clamped"),
        Raw::hardlink("hl", "../../lib/libc.so"),
    ]);
    sandbox.apply(&tar, &options).unwrap();
    let dest = sandbox.dest();
    assert_eq!(
        std::fs::read(dest.join(base.trim_start_matches('/')).join("sentinel")).unwrap(),
        b"lands inside"
    );
    assert_eq!(
        std::fs::read(dest.join("top")).unwrap(),
        b"clamped at the root"
    );
    assert_eq!(
        std::fs::read(dest.join("usr/lib/libc.so")).unwrap(),
        b"through a legit link"
    );
    assert_eq!(std::fs::read(dest.join("escape")).unwrap(), b"clamped");
    assert_eq!(
        std::fs::read(dest.join("hl")).unwrap(),
        b"through a legit link"
    );
    sandbox.assert_outside_untouched();
}
