//! Checksums cover exactly what a copy reads: stable, sensitive to every selected
//! property, blind to everything else.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::{Roots, at, chown, dir, file, symlink};
use hearth_core::Digest;
use hearth_fileops::{ChecksumOptions, FileOpError, checksum};

fn context() -> Roots {
    let r = Roots::new();
    file(&r.src, "/app/main.go", "package main", 0o644);
    file(&r.src, "/app/lib/util.go", "package lib", 0o644);
    file(&r.src, "/app/README.md", "readme", 0o644);
    file(&r.src, "/app/logs/debug.log", "noise", 0o644);
    file(&r.src, "/other.txt", "unrelated", 0o644);
    file(&r.src, "/a.txt", "a", 0o644);
    file(&r.src, "/b.txt", "b", 0o644);
    symlink(&r.src, "/app-link", "app");
    r
}

fn plain() -> ChecksumOptions {
    ChecksumOptions {
        follow_symlinks: true,
        ..ChecksumOptions::default()
    }
}

fn wildcard() -> ChecksumOptions {
    ChecksumOptions {
        follow_symlinks: true,
        wildcard: true,
        ..ChecksumOptions::default()
    }
}

fn filtered() -> ChecksumOptions {
    ChecksumOptions {
        follow_symlinks: true,
        wildcard: true,
        include_patterns: vec!["**/*.go".into()],
        exclude_patterns: vec!["lib".into()],
    }
}

/// Every selection the tests look at, with its current checksum.
fn sums(r: &Roots) -> Vec<Digest> {
    [
        ("/app", plain()),
        ("/*.txt", wildcard()),
        ("/app", filtered()),
        ("/a.txt", plain()),
    ]
    .iter()
    .map(|(path, options)| checksum(&r.src, path, options).unwrap())
    .collect()
}

/// Applies `change` and reports which of the `sums` selections changed.
fn changed_by(change: impl FnOnce(&Roots)) -> [bool; 4] {
    let r = context();
    let before = sums(&r);
    change(&r);
    let after = sums(&r);
    let mut out = [false; 4];
    for (i, flag) in out.iter_mut().enumerate() {
        *flag = before[i] != after[i];
    }
    out
}

#[test]
fn checksums_are_stable_and_distinguish_selections() {
    let r = context();
    let first = sums(&r);
    assert_eq!(first, sums(&r));
    // A second, identical tree gives identical values.
    assert_eq!(first, sums(&context()));
    let mut unique = first.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), first.len(), "{first:?}");
}

#[test]
fn selected_changes_change_the_checksum_and_others_do_not() {
    //               /app   /*.txt  /app filtered  /a.txt
    assert_eq!(
        changed_by(|r| file(&r.src, "/app/main.go", "package changed", 0o644)),
        [true, false, true, false]
    );
    assert_eq!(
        changed_by(|r| file(&r.src, "/app/README.md", "new readme", 0o644)),
        [true, false, false, false],
        "README.md is not *.go"
    );
    assert_eq!(
        changed_by(|r| file(&r.src, "/app/lib/util.go", "package changed", 0o644)),
        [true, false, false, false],
        "lib is excluded"
    );
    assert_eq!(
        changed_by(|r| file(&r.src, "/other.txt", "edited", 0o644)),
        [false, true, false, false]
    );
    assert_eq!(
        changed_by(|r| file(&r.src, "/a.txt", "a", 0o755)),
        [false, true, false, true],
        "mode"
    );
    assert_eq!(
        changed_by(|r| chown(&r.src, "/a.txt", 1, 2)),
        [false, true, false, true],
        "owner"
    );
    assert_eq!(
        changed_by(|r| {
            std::fs::rename(at(&r.src, "/app/main.go"), at(&r.src, "/app/entry.go")).unwrap();
        }),
        [true, false, true, false],
        "name"
    );
    assert_eq!(
        changed_by(|r| file(&r.src, "/c.txt", "new match", 0o644)),
        [false, true, false, false],
        "a new wildcard match"
    );
    assert_eq!(
        changed_by(|r| file(&r.src, "/c.md", "not a match", 0o644)),
        [false, false, false, false]
    );
    assert_eq!(
        changed_by(|r| dir(&r.src, "/app/logs", 0o700)),
        [true, false, false, false],
        "an unselected directory only matters to the full copy"
    );
    assert_eq!(
        changed_by(|r| {
            std::fs::remove_file(at(&r.src, "/app/logs/debug.log")).unwrap();
        }),
        [true, false, false, false]
    );
    assert_eq!(
        changed_by(|r| xattr::set(at(&r.src, "/a.txt"), "user.k", b"v").unwrap()),
        [false, true, false, true],
        "xattrs"
    );
}

#[test]
fn timestamps_do_not_change_the_checksum() {
    assert_eq!(
        changed_by(|r| {
            let ts = rustix::fs::Timespec {
                tv_sec: 12345,
                tv_nsec: 0,
            };
            rustix::fs::utimensat(
                rustix::fs::CWD,
                at(&r.src, "/a.txt"),
                &rustix::fs::Timestamps {
                    last_access: ts,
                    last_modification: ts,
                },
                rustix::fs::AtFlags::empty(),
            )
            .unwrap();
        }),
        [false, false, false, false]
    );
}

#[test]
fn links_hard_links_and_following() {
    let r = context();
    // Following the top-level link reads the directory; not following reads the link.
    let followed = checksum(&r.src, "/app-link", &plain()).unwrap();
    let not_followed = checksum(&r.src, "/app-link", &ChecksumOptions::default()).unwrap();
    assert_ne!(followed, not_followed);
    symlink(&r.src, "/app/inner-link", "main.go");
    let with_link = checksum(&r.src, "/app", &plain()).unwrap();
    std::fs::remove_file(at(&r.src, "/app/inner-link")).unwrap();
    symlink(&r.src, "/app/inner-link", "README.md");
    assert_ne!(
        with_link,
        checksum(&r.src, "/app", &plain()).unwrap(),
        "link target"
    );

    // Two copies of a file versus two names of one file.
    let separate = Roots::new();
    file(&separate.src, "/h/a", "same", 0o644);
    file(&separate.src, "/h/b", "same", 0o644);
    let linked = Roots::new();
    file(&linked.src, "/h/a", "same", 0o644);
    std::fs::hard_link(at(&linked.src, "/h/a"), at(&linked.src, "/h/b")).unwrap();
    assert_ne!(
        checksum(&separate.src, "/h", &plain()).unwrap(),
        checksum(&linked.src, "/h", &plain()).unwrap()
    );
    // An outside link to a selected file is not part of the selection.
    let outside_link = Roots::new();
    file(&outside_link.src, "/h/a", "same", 0o644);
    file(&outside_link.src, "/h/b", "same", 0o644);
    std::fs::hard_link(
        at(&outside_link.src, "/h/a"),
        at(&outside_link.src, "/elsewhere"),
    )
    .unwrap();
    assert_eq!(
        checksum(&separate.src, "/h", &plain()).unwrap(),
        checksum(&outside_link.src, "/h", &plain()).unwrap()
    );
}

#[test]
fn missing_paths_and_empty_matches() {
    let r = context();
    let err = checksum(&r.src, "/does-not-exist.txt", &plain()).unwrap_err();
    assert!(matches!(err, FileOpError::NotFound { .. }));
    assert_eq!(err.to_string(), "\"/does-not-exist.txt\": not found");
    let empty = checksum(&r.src, "/*.none", &wildcard()).unwrap();
    assert_eq!(
        empty,
        checksum(&r.src, "/missing/*.none", &wildcard()).unwrap()
    );
    assert_ne!(empty, checksum(&r.src, "/*.txt", &wildcard()).unwrap());
    // Wildcard match names matter: they name the copies.
    let renamed = context();
    std::fs::rename(at(&renamed.src, "/b.txt"), at(&renamed.src, "/c.txt")).unwrap();
    assert_ne!(
        checksum(&r.src, "/*.txt", &wildcard()).unwrap(),
        checksum(&renamed.src, "/*.txt", &wildcard()).unwrap()
    );
    let bad = ChecksumOptions {
        include_patterns: vec!["[".into()],
        ..plain()
    };
    assert!(matches!(
        checksum(&r.src, "/app", &bad),
        Err(FileOpError::Pattern { .. })
    ));
}

/// Digests for known files, as a synced context remembers them.
struct Known(std::collections::HashMap<std::path::PathBuf, [u8; 32]>);

impl hearth_fileops::ContentDigests for Known {
    fn sha256(&self, path: &std::path::Path, _meta: &std::fs::Metadata) -> Option<[u8; 32]> {
        self.0.get(path).copied()
    }
}

#[test]
fn known_content_digests_replace_reading_the_files() {
    let r = context();
    let real = |rel: &str| *Digest::of(&std::fs::read(at(&r.src, rel)).unwrap()).as_bytes();
    let mut known = std::collections::HashMap::new();
    known.insert(at(&r.src, "/app/main.go"), real("/app/main.go"));
    known.insert(at(&r.src, "/app/README.md"), real("/app/README.md"));
    let plain_sum = checksum(&r.src, "/app", &plain()).unwrap();
    let with_known =
        hearth_fileops::checksum_cached(&r.src, "/app", &plain(), Some(&Known(known.clone())))
            .unwrap();
    assert_eq!(plain_sum, with_known, "true digests give the same checksum");

    // A digest that disagrees with the file shows it was used instead of the content.
    known.insert(at(&r.src, "/app/main.go"), [7u8; 32]);
    let wrong =
        hearth_fileops::checksum_cached(&r.src, "/app", &plain(), Some(&Known(known))).unwrap();
    assert_ne!(plain_sum, wrong);
}
