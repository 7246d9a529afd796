//! `mkdir`, `mkfile` and `rm` actions as BuildKit's FileOp backend runs them.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::{Roots, at, chown, dir, file, lines, symlink, tree};
use hearth_fileops::{FileOpError, Ids, mkdir, mkfile, rm};
use hearth_graph::op::{MkdirAction, MkfileAction, RmAction};

fn mkdir_action(path: &str, mode: u32, make_parents: bool) -> MkdirAction {
    MkdirAction {
        path: path.into(),
        mode,
        make_parents,
        owner: None,
    }
}

fn mkfile_action(path: &str, mode: u32, data: &str) -> MkfileAction {
    MkfileAction {
        path: path.into(),
        mode,
        data: data.into(),
        owner: None,
    }
}

fn rm_action(path: &str, allow_not_found: bool, allow_wildcard: bool) -> RmAction {
    RmAction {
        path: path.into(),
        allow_not_found,
        allow_wildcard,
    }
}

const OWNER: Option<Ids> = Some(Ids { uid: 10, gid: 20 });

#[test]
fn mkdir_creates_with_exact_modes_owners_and_parents() {
    let r = Roots::new();
    dir(&r.dest, "/existing", 0o700);
    dir(&r.dest, "/setgid", 0o2775);
    // Modes are exact whatever the process umask (buildkitd runs with 0).
    mkdir(&r.dest, &mkdir_action("/open", 0o777, false), None).unwrap();
    mkdir(&r.dest, &mkdir_action("/a/b/c", 0o750, true), OWNER).unwrap();
    // An existing directory is left alone, with or without parents.
    mkdir(&r.dest, &mkdir_action("/existing", 0o755, true), OWNER).unwrap();
    mkdir(&r.dest, &mkdir_action("/existing", 0o755, false), OWNER).unwrap();
    // Only permission bits are used; the kernel adds an inherited setgid.
    mkdir(&r.dest, &mkdir_action("/setgid/child", 0o4755, false), None).unwrap();
    // The work dir of the conformance cases: `WORKDIR /work`.
    mkdir(&r.dest, &mkdir_action("/work", 0o755, true), None).unwrap();
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/a dir 0750 10:20",
            "/a/b dir 0750 10:20",
            "/a/b/c dir 0750 10:20",
            "/existing dir 0700 0:0",
            "/open dir 0777 0:0",
            "/setgid dir 2775 0:0",
            "/setgid/child dir 2755 0:0",
            "/work dir 0755 0:0",
        ])
    );
}

#[test]
fn mkdir_without_parents_needs_the_parent_and_ignores_any_existing_path() {
    let r = Roots::new();
    file(&r.dest, "/file", "x", 0o644);
    let err = mkdir(&r.dest, &mkdir_action("/missing/child", 0o755, false), None).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(2), "{err}");
    // BuildKit ignores EEXIST whatever exists.
    mkdir(&r.dest, &mkdir_action("/file", 0o755, false), None).unwrap();
    // With parents, a file in the way is ENOTDIR.
    let err = mkdir(&r.dest, &mkdir_action("/file", 0o755, true), None).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(20), "{err}");
    // A link to a directory is followed inside the root.
    dir(&r.dest, "/real", 0o755);
    symlink(&r.dest, "/link", "/real");
    mkdir(&r.dest, &mkdir_action("/link/sub", 0o700, true), None).unwrap();
    assert!(tree(&r.dest).contains(&"/real/sub dir 0700 0:0".to_owned()));
}

#[test]
fn mkfile_creates_exact_files_and_rewrites_existing_ones_keeping_their_mode() {
    let r = Roots::new();
    file(&r.dest, "/old.txt", "old content that is longer", 0o600);
    chown(&r.dest, "/old.txt", 5, 5);
    dir(&r.dest, "/dir", 0o755);
    file(&r.dest, "/target.txt", "t", 0o640);
    symlink(&r.dest, "/link.txt", "target.txt");
    mkfile(&r.dest, &mkfile_action("/new.txt", 0o666, "hello\n"), None).unwrap();
    mkfile(&r.dest, &mkfile_action("/owned", 0o4755, "x"), OWNER).unwrap();
    mkfile(&r.dest, &mkfile_action("/old.txt", 0o644, "new"), None).unwrap();
    mkfile(
        &r.dest,
        &mkfile_action("/link.txt", 0o644, "via link"),
        None,
    )
    .unwrap();
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/dir dir 0755 0:0",
            "/link.txt symlink 0:0 -> target.txt",
            "/new.txt file 0666 0:0 \"hello\\n\"",
            "/old.txt file 0600 5:5 \"new\"",
            "/owned file 0755 10:20 \"x\"",
            "/target.txt file 0640 0:0 \"via link\"",
        ])
    );
    assert!(mkfile(&r.dest, &mkfile_action("/dir", 0o644, "x"), None).is_err());
    let err = mkfile(&r.dest, &mkfile_action("/nodir/f", 0o644, "x"), None).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(2), "{err}");
}

#[test]
fn rm_removes_trees_links_and_wildcard_matches() {
    let r = Roots::new();
    file(&r.dest, "/tree/a/b.txt", "b", 0o644);
    file(&r.dest, "/keep.txt", "k", 0o644);
    file(&r.dest, "/x1.log", "1", 0o644);
    file(&r.dest, "/x2.log", "2", 0o644);
    file(&r.dest, "/real/file", "f", 0o644);
    symlink(&r.dest, "/link", "/real");
    symlink(&r.dest, "/dangling", "/nowhere");
    rm(&r.dest, &rm_action("/tree", false, false)).unwrap();
    rm(&r.dest, &rm_action("/x?.log", false, true)).unwrap();
    // The link goes, not what it points to.
    rm(&r.dest, &rm_action("/link", false, false)).unwrap();
    rm(&r.dest, &rm_action("/missing", true, false)).unwrap();
    // A wildcard matching nothing is fine even without allow_not_found.
    rm(&r.dest, &rm_action("/*.none", false, true)).unwrap();
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/dangling symlink 0:0 -> /nowhere",
            "/keep.txt file 0644 0:0 \"k\"",
            "/real dir 0755 0:0",
            "/real/file file 0644 0:0 \"f\"",
        ])
    );
    // A missing path is an error; so is a dangling link (BuildKit stats it).
    let err = rm(&r.dest, &rm_action("/missing", false, false)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(2));
    assert!(err.to_string().contains("/missing"), "{err}");
    assert!(rm(&r.dest, &rm_action("/dangling", false, false)).is_err());
    rm(&r.dest, &rm_action("/dangling", true, false)).unwrap();
    // The root itself cannot be removed.
    let err = rm(&r.dest, &rm_action("/", true, false)).unwrap_err();
    assert!(matches!(err, FileOpError::EmptyPath));
    assert!(at(&r.dest, "/keep.txt").exists());
}
