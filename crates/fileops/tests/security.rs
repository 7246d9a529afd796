//! Nothing outside the roots is read or written, whatever links and `..` the paths
//! and trees contain. Each test plants links at a sentinel directory outside both
//! roots and checks it afterwards.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::io::Write as _;

use common::{Roots, at, dir, dockerfile_copy, file, lines, plain_copy, symlink, tree};
use hearth_fileops::{
    ChecksumOptions, FileOpError, checksum, copy, mkdir, mkfile, resolve_owner, rm,
};
use hearth_graph::op::{Chown, MkdirAction, MkfileAction, RmAction, UserRef};

fn outside(r: &Roots) -> String {
    r.outside.display().to_string()
}

#[test]
fn destination_links_pointing_outside_stay_inside_the_destination_root() {
    let r = Roots::new();
    file(&r.src, "/f.txt", "payload", 0o644);
    // Absolute host path, relative escape, and a plain `/etc`.
    symlink(&r.dest, "/abs", &outside(&r));
    symlink(&r.dest, "/rel", "../../../../../../../../outside");
    symlink(&r.dest, "/etc-link", "/etc");
    copy(&r.src, &r.dest, &dockerfile_copy("/f.txt", "/abs/x"), None).unwrap();
    copy(&r.src, &r.dest, &dockerfile_copy("/f.txt", "/rel/y"), None).unwrap();
    copy(
        &r.src,
        &r.dest,
        &dockerfile_copy("/f.txt", "/etc-link/hearth-test"),
        None,
    )
    .unwrap();
    copy(&r.src, &r.dest, &dockerfile_copy("/f.txt", "/rel"), None).unwrap();
    r.assert_outside_untouched();
    assert!(!std::path::Path::new("/etc/hearth-test").exists());
    let abs_inside = format!("{}/x", outside(&r));
    let listing = tree(&r.dest);
    assert!(listing.contains(&"/etc/hearth-test file 0644 0:0 \"payload\"".to_owned()));
    assert!(listing.contains(&"/outside/y file 0644 0:0 \"payload\"".to_owned()));
    assert!(
        listing.contains(&format!("{abs_inside} file 0644 0:0 \"payload\"")),
        "{listing:#?}"
    );
}

#[test]
fn dot_dot_in_destination_paths_stops_at_the_root() {
    let r = Roots::new();
    file(&r.src, "/f.txt", "payload", 0o644);
    copy(
        &r.src,
        &r.dest,
        &dockerfile_copy("/f.txt", "/../../outside/x"),
        None,
    )
    .unwrap();
    copy(
        &r.src,
        &r.dest,
        &plain_copy("/../f.txt", "/a/../../b/"),
        None,
    )
    .unwrap();
    r.assert_outside_untouched();
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/b dir 0755 0:0",
            "/b/f.txt file 0644 0:0 \"payload\"",
            "/outside dir 0755 0:0",
            "/outside/x file 0644 0:0 \"payload\"",
        ])
    );
}

#[test]
fn followed_source_links_resolve_inside_the_source_root() {
    let r = Roots::new();
    file(&r.src, "/etc/shadow", "image shadow", 0o640);
    symlink(&r.src, "/shadow-link", "/etc/shadow");
    symlink(&r.src, "/climb", "../../../../../../etc/shadow");
    symlink(&r.src, "/host", &format!("{}/sentinel", outside(&r)));
    symlink(&r.src, "/dir/abs", "/etc/shadow");
    copy(
        &r.src,
        &r.dest,
        &dockerfile_copy("/shadow-link", "/a"),
        None,
    )
    .unwrap();
    copy(&r.src, &r.dest, &dockerfile_copy("/climb", "/b"), None).unwrap();
    copy(&r.src, &r.dest, &dockerfile_copy("/dir", "/c/"), None).unwrap();
    // The host path does not exist inside the source root.
    let err = copy(&r.src, &r.dest, &dockerfile_copy("/host", "/d"), None).unwrap_err();
    assert!(matches!(err, FileOpError::NotFound { .. }), "{err}");
    // Wildcard bases resolve the same way: `/etc` is the image's.
    symlink(&r.src, "/etc-alias", "/etc");
    copy(
        &r.src,
        &r.dest,
        &dockerfile_copy("/etc-alias/*", "/e/"),
        None,
    )
    .unwrap();
    symlink(&r.src, "/host-dir", &outside(&r));
    let err = copy(
        &r.src,
        &r.dest,
        &dockerfile_copy("/host-dir/*", "/f/"),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, FileOpError::NotFound { .. }), "{err}");
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/a file 0640 0:0 \"image shadow\"",
            "/b file 0640 0:0 \"image shadow\"",
            "/c dir 0755 0:0",
            "/c/abs symlink 0:0 -> /etc/shadow",
            "/e dir 0755 0:0",
            "/e/shadow file 0640 0:0 \"image shadow\"",
        ])
    );
    r.assert_outside_untouched();
}

#[test]
fn checksums_never_read_outside_the_source_root() {
    let r = Roots::new();
    file(&r.src, "/etc/shadow", "image shadow", 0o640);
    symlink(&r.src, "/link", "/etc/shadow");
    symlink(&r.src, "/host", &format!("{}/sentinel", outside(&r)));
    let follow = ChecksumOptions {
        follow_symlinks: true,
        ..ChecksumOptions::default()
    };
    let via_link = checksum(&r.src, "/link", &follow).unwrap();
    // Changing the host file cannot matter: it is never read.
    assert!(matches!(
        checksum(&r.src, "/host", &follow),
        Err(FileOpError::NotFound { .. })
    ));
    std::fs::write(r.outside.join("sentinel"), "changed").unwrap();
    assert_eq!(checksum(&r.src, "/link", &follow).unwrap(), via_link);
}

#[test]
fn mkdir_mkfile_and_rm_stay_inside_the_root() {
    let r = Roots::new();
    symlink(&r.dest, "/esc", &outside(&r));
    symlink(&r.dest, "/esc-rel", "../outside");
    symlink(
        &r.dest,
        "/to-sentinel",
        &format!("{}/sentinel", outside(&r)),
    );
    dir(&r.dest, "/outside", 0o755);
    mkdir(
        &r.dest,
        &MkdirAction {
            path: "/esc/newdir".into(),
            mode: 0o755,
            make_parents: true,
            owner: None,
        },
        None,
    )
    .unwrap();
    mkfile(
        &r.dest,
        &MkfileAction {
            path: "/esc-rel/sentinel".into(),
            mode: 0o644,
            data: "overwritten?".into(),
            owner: None,
        },
        None,
    )
    .unwrap();
    mkfile(
        &r.dest,
        &MkfileAction {
            path: "/to-sentinel".into(),
            mode: 0o644,
            data: "through the link".into(),
            owner: None,
        },
        None,
    )
    .unwrap();
    // Removing through the link finds nothing inside the root.
    let err = rm(
        &r.dest,
        &RmAction {
            path: "/esc/missing".into(),
            allow_not_found: false,
            allow_wildcard: false,
        },
    )
    .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(2), "{err}");
    // Removing a link removes the link only.
    rm(
        &r.dest,
        &RmAction {
            path: "/esc".into(),
            allow_not_found: false,
            allow_wildcard: false,
        },
    )
    .unwrap();
    rm(
        &r.dest,
        &RmAction {
            path: "/../../outside/*".into(),
            allow_not_found: true,
            allow_wildcard: true,
        },
    )
    .unwrap();
    r.assert_outside_untouched();
    let listing = tree(&r.dest);
    assert!(
        !listing.iter().any(|l| l.starts_with("/esc ")),
        "{listing:#?}"
    );
    assert!(
        listing.contains(&"/outside dir 0755 0:0".to_owned()),
        "{listing:#?}"
    );
}

#[test]
fn owner_lookups_read_the_image_files_only() {
    let r = Roots::new();
    std::fs::write(
        r.outside.join("passwd"),
        "app:x:4000:4000::/home/app:/bin/sh\n",
    )
    .unwrap();
    file(
        &r.dest,
        "/real/passwd",
        "app:x:1001:1002::/home/app:/bin/sh\n",
        0o644,
    );
    dir(&r.dest, "/etc", 0o755);
    symlink(&r.dest, "/etc/passwd", "../../../../real/passwd");
    let ids = resolve_owner(
        &Chown {
            user: Some(UserRef::Name("app".into())),
            group: None,
        },
        Some(&r.dest),
    )
    .unwrap();
    assert_eq!((ids.uid, ids.gid), (1001, 1002));

    // A link to the host's file resolves inside the root, where there is none.
    std::fs::remove_file(at(&r.dest, "/etc/passwd")).unwrap();
    symlink(&r.dest, "/etc/passwd", &format!("{}/passwd", outside(&r)));
    let ids = resolve_owner(
        &Chown {
            user: Some(UserRef::Name("app".into())),
            group: None,
        },
        Some(&r.dest),
    )
    .unwrap();
    assert_eq!((ids.uid, ids.gid), (0, 0));
}

#[test]
fn archives_cannot_write_outside_the_destination() {
    let r = Roots::new();
    let mut builder = tar::Builder::new(Vec::new());
    let add = |builder: &mut tar::Builder<Vec<u8>>,
               name: &str,
               kind: tar::EntryType,
               link: &str,
               data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        {
            let raw = header.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_cksum();
        builder.append(&header, data).unwrap();
    };
    add(
        &mut builder,
        "../../escape.txt",
        tar::EntryType::Regular,
        "",
        b"up",
    );
    // Links in the archive resolve inside the extraction directory, as in a chroot.
    add(&mut builder, "evil", tar::EntryType::Symlink, "/", b"");
    add(
        &mut builder,
        "evil/pwned.txt",
        tar::EntryType::Regular,
        "",
        b"through link",
    );
    add(&mut builder, "up", tar::EntryType::Symlink, "../../..", b"");
    add(&mut builder, "up/x.txt", tar::EntryType::Regular, "", b"x");
    // The target of this hard link is not inside the destination: extraction fails.
    add(
        &mut builder,
        "hard",
        tar::EntryType::Link,
        "../../outside/sentinel",
        b"",
    );
    let data = builder.into_inner().unwrap();
    let archive = at(&r.src, "/evil.tar");
    std::fs::File::create(&archive)
        .unwrap()
        .write_all(&data)
        .unwrap();
    let mut action = dockerfile_copy("/evil.tar", "/out/");
    action.attempt_unpack = true;
    let result = copy(&r.src, &r.dest, &action, None);
    r.assert_outside_untouched();
    // The hard link's target does not exist inside the destination.
    let err = result.unwrap_err();
    assert!(matches!(err, FileOpError::Archive { .. }), "{err}");
    let listing = tree(&r.dest);
    assert!(
        listing.contains(&"/out/escape.txt file 0644 0:0 \"up\"".to_owned()),
        "{listing:#?}"
    );
    assert!(
        listing.contains(&"/out/x.txt file 0644 0:0 \"x\"".to_owned()),
        "{listing:#?}"
    );
    assert!(
        listing.contains(&"/out/pwned.txt file 0644 0:0 \"through link\"".to_owned()),
        "{listing:#?}"
    );
    assert!(
        listing.contains(&"/out/up symlink 0:0 -> ../../..".to_owned()),
        "{listing:#?}"
    );
}
