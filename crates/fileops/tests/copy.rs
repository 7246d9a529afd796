//! `copy` scenarios with the exact trees BuildKit v0.24 produces (type, mode, owner,
//! content, link target, hard links), including the public conformance behaviours.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::os::unix::fs::MetadataExt as _;

use common::{
    Roots, at, chown, dir, dockerfile_copy, file, lines, plain_copy, symlink, tree, with_mode,
};
use hearth_fileops::{FileOpError, Ids, copy};
use hearth_graph::op::Chmod;

fn run(r: &Roots, action: &hearth_graph::op::CopyAction) {
    copy(&r.src, &r.dest, action, None).unwrap();
}

fn run_as(r: &Roots, action: &hearth_graph::op::CopyAction, uid: u32, gid: u32) {
    copy(&r.src, &r.dest, action, Some(Ids { uid, gid })).unwrap();
}

#[test]
fn a_file_is_renamed_put_into_a_new_or_existing_directory_and_parents_are_created() {
    let r = Roots::new();
    file(&r.src, "/a.txt", "A", 0o644);
    dir(&r.dest, "/existing", 0o700);
    run(&r, &dockerfile_copy("/a.txt", "/renamed.txt"));
    run(&r, &dockerfile_copy("/a.txt", "/into-dir/"));
    run(&r, &dockerfile_copy("/a.txt", "/existing"));
    run(&r, &dockerfile_copy("a.txt", "/deep/new/name.txt"));
    run(&r, &dockerfile_copy("/a.txt", "/work/."));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/deep dir 0755 0:0",
            "/deep/new dir 0755 0:0",
            "/deep/new/name.txt file 0644 0:0 \"A\"",
            "/existing dir 0700 0:0",
            "/existing/a.txt file 0644 0:0 \"A\"",
            "/into-dir dir 0755 0:0",
            "/into-dir/a.txt file 0644 0:0 \"A\"",
            "/renamed.txt file 0644 0:0 \"A\"",
            "/work dir 0755 0:0",
            "/work/a.txt file 0644 0:0 \"A\"",
        ])
    );
    r.assert_outside_untouched();
}

#[test]
fn two_sources_copied_to_a_path_without_trailing_slash_end_as_one_file_the_last() {
    let r = Roots::new();
    file(&r.src, "/a.txt", "A", 0o644);
    file(&r.src, "/b.txt", "B", 0o600);
    // `COPY a.txt b.txt /one`: one action per source.
    run(&r, &dockerfile_copy("/a.txt", "/one"));
    run(&r, &dockerfile_copy("/b.txt", "/one"));
    // A wildcard matching both: each match is copied onto the same path.
    run(&r, &dockerfile_copy("/*.txt", "/glob"));
    // With the slash they land side by side.
    run(&r, &dockerfile_copy("/*.txt", "/multi/"));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/glob file 0600 0:0 \"B\"",
            "/multi dir 0755 0:0",
            "/multi/a.txt file 0644 0:0 \"A\"",
            "/multi/b.txt file 0600 0:0 \"B\"",
            "/one file 0600 0:0 \"B\"",
        ])
    );
}

fn directory_source(r: &Roots) {
    dir(&r.src, "/dir", 0o700);
    chown(&r.src, "/dir", 5, 5);
    file(&r.src, "/dir/inner.txt", "inner", 0o644);
    dir(&r.src, "/dir/sub", 0o750);
    file(&r.src, "/dir/sub/deep.txt", "deep", 0o600);
}

#[test]
fn a_directory_source_copies_its_contents_into_a_directory_made_for_it() {
    let r = Roots::new();
    directory_source(&r);
    run(&r, &dockerfile_copy("/dir", "/contents/"));
    run(&r, &dockerfile_copy("/dir/", "/contents-slash"));
    run(&r, &dockerfile_copy("/dir/.", "/dot"));
    run(&r, &dockerfile_copy("/dir/sub", "/sub-only"));
    // The created destination gets 0755 root:root, not the source directory's
    // 0700 5:5 (it is made before the copy, and an existing top is not updated).
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/contents dir 0755 0:0",
            "/contents/inner.txt file 0644 0:0 \"inner\"",
            "/contents/sub dir 0750 0:0",
            "/contents/sub/deep.txt file 0600 0:0 \"deep\"",
            "/contents-slash dir 0755 0:0",
            "/contents-slash/inner.txt file 0644 0:0 \"inner\"",
            "/contents-slash/sub dir 0750 0:0",
            "/contents-slash/sub/deep.txt file 0600 0:0 \"deep\"",
            "/dot dir 0755 0:0",
            "/dot/inner.txt file 0644 0:0 \"inner\"",
            "/dot/sub dir 0750 0:0",
            "/dot/sub/deep.txt file 0600 0:0 \"deep\"",
            "/sub-only dir 0755 0:0",
            "/sub-only/deep.txt file 0600 0:0 \"deep\"",
        ])
    );
}

#[test]
fn the_whole_source_root_copies_everything() {
    let r = Roots::new();
    directory_source(&r);
    file(&r.src, "/top.txt", "top", 0o644);
    run(&r, &dockerfile_copy("/", "/everything/"));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/everything dir 0755 0:0",
            "/everything/dir dir 0700 5:5",
            "/everything/dir/inner.txt file 0644 0:0 \"inner\"",
            "/everything/dir/sub dir 0750 0:0",
            "/everything/dir/sub/deep.txt file 0600 0:0 \"deep\"",
            "/everything/top.txt file 0644 0:0 \"top\"",
        ])
    );
}

#[test]
fn without_dir_contents_only_a_directory_is_copied_as_itself() {
    let r = Roots::new();
    directory_source(&r);
    dir(&r.dest, "/existing", 0o755);
    dir(&r.dest, "/merged", 0o755);
    // Missing destination: it becomes the copy, with the source's metadata.
    run(&r, &plain_copy("/dir", "/plain"));
    // Existing destination: the directory goes inside under its own name.
    run(&r, &plain_copy("/dir", "/existing"));
    // `dir/.` has the base name `.`, so it merges into the existing directory.
    run(&r, &plain_copy("/dir/.", "/merged"));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/existing dir 0755 0:0",
            "/existing/dir dir 0700 5:5",
            "/existing/dir/inner.txt file 0644 0:0 \"inner\"",
            "/existing/dir/sub dir 0750 0:0",
            "/existing/dir/sub/deep.txt file 0600 0:0 \"deep\"",
            "/merged dir 0755 0:0",
            "/merged/inner.txt file 0644 0:0 \"inner\"",
            "/merged/sub dir 0750 0:0",
            "/merged/sub/deep.txt file 0600 0:0 \"deep\"",
            "/plain dir 0700 5:5",
            "/plain/inner.txt file 0644 0:0 \"inner\"",
            "/plain/sub dir 0750 0:0",
            "/plain/sub/deep.txt file 0600 0:0 \"deep\"",
        ])
    );
}

#[test]
fn copying_into_an_existing_directory_merges_and_replaces_files() {
    let r = Roots::new();
    dir(&r.dest, "/existing", 0o700);
    chown(&r.dest, "/existing", 7, 7);
    file(&r.dest, "/existing/keep.txt", "old", 0o644);
    file(&r.dest, "/existing/replace.txt", "old", 0o600);
    chown(&r.dest, "/existing/replace.txt", 3, 3);
    dir(&r.dest, "/existing/new", 0o777);
    chown(&r.dest, "/existing/new", 9, 9);
    dir(&r.src, "/src/new", 0o755);
    file(&r.src, "/src/new/n.txt", "n", 0o644);
    file(&r.src, "/src/replace.txt", "replaced", 0o644);
    file(&r.src, "/single.txt", "single", 0o640);
    run(&r, &dockerfile_copy("/src/", "/existing/"));
    run(&r, &dockerfile_copy("/single.txt", "/existing/keep.txt"));
    // The top directory keeps its own metadata; a nested existing directory takes
    // the source's; files are replaced with the source's metadata.
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/existing dir 0700 7:7",
            "/existing/keep.txt file 0640 0:0 \"single\"",
            "/existing/new dir 0755 0:0",
            "/existing/new/n.txt file 0644 0:0 \"n\"",
            "/existing/replace.txt file 0644 0:0 \"replaced\"",
        ])
    );
}

#[test]
fn conflicting_types_replace_links_and_files_but_never_directories() {
    let r = Roots::new();
    dir(&r.src, "/d/sub", 0o755);
    file(&r.src, "/d/sub/x", "x", 0o644);
    file(&r.src, "/d/f.txt", "new", 0o644);
    file(&r.src, "/a.txt", "a", 0o644);
    // Below the destination, a link in the way of a file is replaced, not written
    // through (only the destination path itself is resolved through links).
    file(&r.dest, "/elsewhere.txt", "untouched", 0o644);
    symlink(&r.dest, "/t/f.txt", "/elsewhere.txt");
    run(&r, &dockerfile_copy("/d", "/t"));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/elsewhere.txt file 0644 0:0 \"untouched\"",
            "/t dir 0755 0:0",
            "/t/f.txt file 0644 0:0 \"new\"",
            "/t/sub dir 0755 0:0",
            "/t/sub/x file 0644 0:0 \"x\"",
        ])
    );

    // A directory where a file goes.
    dir(&r.dest, "/x/a.txt", 0o755);
    let err = copy(&r.src, &r.dest, &dockerfile_copy("/a.txt", "/x/"), None).unwrap_err();
    assert!(matches!(err, FileOpError::ReplaceDirectory { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "cannot replace to directory /x/a.txt with file"
    );

    // A file where a directory goes.
    file(&r.dest, "/y/sub", "file", 0o644);
    let err = copy(&r.src, &r.dest, &dockerfile_copy("/d", "/y"), None).unwrap_err();
    assert_eq!(err.to_string(), "cannot copy to non-directory: /y/sub");
}

#[test]
fn wildcards_follow_go_match_syntax_in_last_and_middle_components() {
    let r = Roots::new();
    for (name, content) in [
        ("/a.txt", "a"),
        ("/b.txt", "b"),
        ("/c.md", "c"),
        ("/f1.md", "f1"),
        ("/f2.md", "f2"),
        ("/fxx.md", "fxx"),
        ("/st*r", "star"),
        ("/sub/one/leaf", "one"),
        ("/sub/two/leaf", "two"),
        ("/sub/two/deeper/leaf", "too deep"),
    ] {
        file(&r.src, name, content, 0o644);
    }
    run(&r, &dockerfile_copy("/*.txt", "/txt/"));
    run(&r, &dockerfile_copy("/f?.md", "/q/"));
    run(&r, &dockerfile_copy("/sub/*/leaf", "/leaves/"));
    run(&r, &dockerfile_copy("/[ab].*", "/class/"));
    run(&r, &dockerfile_copy("/[^abcf]*", "/negated/"));
    run(&r, &dockerfile_copy("/st[*]r", "/star/"));
    // A match that is a directory copies its contents.
    run(&r, &dockerfile_copy("/su?/t*", "/dirmatch/"));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/class dir 0755 0:0",
            "/class/a.txt file 0644 0:0 \"a\"",
            "/class/b.txt file 0644 0:0 \"b\"",
            "/dirmatch dir 0755 0:0",
            "/dirmatch/deeper dir 0755 0:0",
            "/dirmatch/deeper/leaf file 0644 0:0 \"too deep\"",
            "/dirmatch/leaf file 0644 0:0 \"two\"",
            "/leaves dir 0755 0:0",
            "/leaves/leaf file 0644 0:0 \"two\"",
            // `sub` matches too, and a matched directory's contents are copied.
            "/negated dir 0755 0:0",
            "/negated/one dir 0755 0:0",
            "/negated/one/leaf file 0644 0:0 \"one\"",
            "/negated/st*r file 0644 0:0 \"star\"",
            "/negated/two dir 0755 0:0",
            "/negated/two/deeper dir 0755 0:0",
            "/negated/two/deeper/leaf file 0644 0:0 \"too deep\"",
            "/negated/two/leaf file 0644 0:0 \"two\"",
            "/q dir 0755 0:0",
            "/q/f1.md file 0644 0:0 \"f1\"",
            "/q/f2.md file 0644 0:0 \"f2\"",
            "/star dir 0755 0:0",
            "/star/st*r file 0644 0:0 \"star\"",
            "/txt dir 0755 0:0",
            "/txt/a.txt file 0644 0:0 \"a\"",
            "/txt/b.txt file 0644 0:0 \"b\"",
        ])
    );
}

#[test]
fn a_wildcard_matching_nothing_copies_nothing_or_fails_when_not_allowed() {
    let r = Roots::new();
    file(&r.src, "/a.txt", "a", 0o644);
    let report = copy(&r.src, &r.dest, &dockerfile_copy("/*.none", "/none/"), None).unwrap();
    assert_eq!(report.sources, 0);
    // Not even the destination directory is made.
    assert!(tree(&r.dest).is_empty());

    let mut strict = dockerfile_copy("/*.none", "/none/");
    strict.allow_empty_wildcard = false;
    let err = copy(&r.src, &r.dest, &strict, None).unwrap_err();
    assert!(matches!(err, FileOpError::NoMatch { .. }));
    assert_eq!(err.to_string(), "/*.none not found");

    // The directory part of a wildcard must exist.
    let err = copy(
        &r.src,
        &r.dest,
        &dockerfile_copy("/missing/*.txt", "/x/"),
        None,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "\"/missing\": not found");
}

#[test]
fn a_missing_source_is_not_found_with_its_path() {
    let r = Roots::new();
    file(&r.src, "/present.txt", "p", 0o644);
    for action in [
        dockerfile_copy("does-not-exist.txt", "/"),
        plain_copy("/does-not-exist.txt", "/"),
    ] {
        let err = copy(&r.src, &r.dest, &action, None).unwrap_err();
        assert!(matches!(err, FileOpError::NotFound { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("\"/does-not-exist.txt\": not found"),
            "{err}"
        );
    }
    let err = copy(
        &r.src,
        &r.dest,
        &dockerfile_copy("/present.txt/x", "/"),
        None,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "\"/present.txt/x\": not found");
}

#[test]
fn without_create_dest_path_the_parent_must_exist() {
    let r = Roots::new();
    file(&r.src, "/a.txt", "a", 0o644);
    let mut action = plain_copy("/a.txt", "/nodir/x");
    action.create_dest_path = false;
    let err = copy(&r.src, &r.dest, &action, None).unwrap_err();
    assert!(
        matches!(err, FileOpError::DestinationParent { .. }),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("failed to stat /nodir/x"),
        "{err}"
    );
    action.dest = "/x".into();
    copy(&r.src, &r.dest, &action, None).unwrap();
    assert_eq!(tree(&r.dest), lines(&["/x file 0644 0:0 \"a\""]));
}

fn symlink_source(r: &Roots) {
    file(&r.src, "/real.txt", "real", 0o644);
    symlink(&r.src, "/link-to-real", "real.txt");
    file(&r.src, "/dir/inner.txt", "inner", 0o644);
    symlink(&r.src, "/dir/link-rel", "inner.txt");
    symlink(&r.src, "/dir/abs-link", "/etc/passwd");
    symlink(&r.src, "/link-dir", "dir");
}

#[test]
fn a_top_level_source_link_is_followed_and_links_inside_directories_are_kept() {
    let r = Roots::new();
    symlink_source(&r);
    run(&r, &dockerfile_copy("/dir", "/copied-dir/"));
    run(&r, &dockerfile_copy("/link-to-real", "/followed.txt"));
    run(&r, &dockerfile_copy("/link-dir", "/through-link-dir/"));
    // The copy is named after the link, not its target.
    run(&r, &dockerfile_copy("/link-to-real", "/into/"));
    // Without follow_symlinks the link itself is copied.
    run(&r, &plain_copy("/link-to-real", "/kept"));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/copied-dir dir 0755 0:0",
            "/copied-dir/abs-link symlink 0:0 -> /etc/passwd",
            "/copied-dir/inner.txt file 0644 0:0 \"inner\"",
            "/copied-dir/link-rel symlink 0:0 -> inner.txt",
            "/followed.txt file 0644 0:0 \"real\"",
            "/into dir 0755 0:0",
            "/into/link-to-real file 0644 0:0 \"real\"",
            "/kept symlink 0:0 -> real.txt",
            "/through-link-dir dir 0755 0:0",
            "/through-link-dir/abs-link symlink 0:0 -> /etc/passwd",
            "/through-link-dir/inner.txt file 0644 0:0 \"inner\"",
            "/through-link-dir/link-rel symlink 0:0 -> inner.txt",
        ])
    );
}

#[test]
fn a_destination_link_is_followed_inside_the_destination_root() {
    let r = Roots::new();
    file(&r.src, "/real.txt", "real", 0o644);
    dir(&r.dest, "/real-target", 0o755);
    symlink(&r.dest, "/linked-dest", "/real-target");
    file(&r.dest, "/target.txt", "old", 0o600);
    symlink(&r.dest, "/lf", "target.txt");
    symlink(&r.dest, "/dangling", "/nowhere/file.txt");
    run(&r, &dockerfile_copy("/real.txt", "/linked-dest/"));
    // A link to a file: the file it points to is replaced, the link stays.
    run(&r, &dockerfile_copy("/real.txt", "/lf"));
    // A dangling link: its target is created, inside the root.
    run(&r, &dockerfile_copy("/real.txt", "/dangling"));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/dangling symlink 0:0 -> /nowhere/file.txt",
            "/lf symlink 0:0 -> target.txt",
            "/linked-dest symlink 0:0 -> /real-target",
            "/nowhere dir 0755 0:0",
            "/nowhere/file.txt file 0644 0:0 \"real\"",
            "/real-target dir 0755 0:0",
            "/real-target/real.txt file 0644 0:0 \"real\"",
            "/target.txt file 0644 0:0 \"real\"",
        ])
    );
}

#[test]
fn hard_links_are_kept_within_one_source_only() {
    let r = Roots::new();
    file(&r.src, "/h/a/orig", "shared", 0o640);
    std::fs::create_dir_all(at(&r.src, "/h/b")).unwrap();
    std::fs::hard_link(at(&r.src, "/h/a/orig"), at(&r.src, "/h/b/link")).unwrap();
    std::fs::hard_link(at(&r.src, "/h/a/orig"), at(&r.src, "/h/z-link")).unwrap();
    run(&r, &dockerfile_copy("/h", "/h/"));
    // Separate sources (and separate wildcard matches) are separate copies.
    run(&r, &dockerfile_copy("/h/a/orig", "/sep/"));
    run(&r, &dockerfile_copy("/h/b/link", "/sep/"));
    run(&r, &dockerfile_copy("/h/*/*", "/glob/"));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/glob dir 0755 0:0",
            "/glob/link file 0640 0:0 \"shared\"",
            "/glob/orig file 0640 0:0 \"shared\"",
            "/h dir 0755 0:0",
            "/h/a dir 0755 0:0",
            "/h/a/orig file 0640 0:0 \"shared\"",
            "/h/b dir 0755 0:0",
            "/h/b/link file 0640 0:0 \"shared\" hardlink=/h/a/orig",
            "/h/z-link file 0640 0:0 \"shared\" hardlink=/h/a/orig",
            "/sep dir 0755 0:0",
            "/sep/link file 0640 0:0 \"shared\"",
            "/sep/orig file 0640 0:0 \"shared\"",
        ])
    );
    let nlink = |p: &str| std::fs::metadata(at(&r.dest, p)).unwrap().nlink();
    assert_eq!(nlink("/h/a/orig"), 3);
    assert_eq!(nlink("/sep/orig"), 1);
}

#[test]
fn modes_owners_and_times_are_preserved_without_chmod_or_chown() {
    let r = Roots::new();
    file(&r.src, "/perm/suid", "", 0o4755);
    file(&r.src, "/perm/sgid", "", 0o2750);
    file(&r.src, "/perm/plain", "", 0o400);
    dir(&r.src, "/perm/sticky", 0o1777);
    dir(&r.src, "/perm/private", 0o700);
    chown(&r.src, "/perm/sgid", 1000, 1001);
    // chown cleared the setgid bit; set it again.
    file(&r.src, "/perm/sgid", "", 0o2750);
    chown(&r.src, "/perm/private", 42, 43);
    symlink(&r.src, "/perm/link", "plain");
    chown(&r.src, "/perm/link", 7, 8);
    let when = filetime_secs(1_000_000_000);
    for p in ["/perm/plain", "/perm/sticky", "/perm"] {
        rustix::fs::utimensat(
            rustix::fs::CWD,
            at(&r.src, p),
            &when,
            rustix::fs::AtFlags::empty(),
        )
        .unwrap();
    }
    run(&r, &dockerfile_copy("/perm", "/perm/"));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/perm dir 0755 0:0",
            "/perm/link symlink 7:8 -> plain",
            "/perm/plain file 0400 0:0 \"\"",
            "/perm/private dir 0700 42:43",
            "/perm/sgid file 2750 1000:1001 \"\"",
            "/perm/sticky dir 1777 0:0",
            "/perm/suid file 4755 0:0 \"\"",
        ])
    );
    let mtime = |p: &str| std::fs::symlink_metadata(at(&r.dest, p)).unwrap().mtime();
    assert_eq!(mtime("/perm/plain"), 1_000_000_000);
    assert_eq!(mtime("/perm/sticky"), 1_000_000_000);
    // An existing top directory gets the source directory's times back.
    assert_eq!(mtime("/perm"), 1_000_000_000);
}

fn filetime_secs(secs: i64) -> rustix::fs::Timestamps {
    let ts = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::fs::Timestamps {
        last_access: ts,
        last_modification: ts,
    }
}

#[test]
fn octal_chmod_applies_to_files_directory_trees_and_created_parents() {
    let r = Roots::new();
    file(&r.src, "/f.txt", "f", 0o644);
    dir(&r.src, "/dir/sub", 0o700);
    file(&r.src, "/dir/inner.txt", "inner", 0o644);
    file(&r.src, "/dir/sub/deep.txt", "deep", 0o600);
    symlink(&r.src, "/dir/link", "inner.txt");
    let octal = |src: &str, dest: &str, bits: u32| {
        with_mode(dockerfile_copy(src, dest), Chmod::Octal(bits))
    };
    run(&r, &octal("/f.txt", "/exec.txt", 0o755));
    run(&r, &octal("/f.txt", "/private.txt", 0o600));
    run(&r, &octal("/dir", "/dir640/", 0o640));
    run(&r, &octal("/f.txt", "/setuid.txt", 0o4755));
    // Parents the copy creates get the mode's permission bits (not setuid).
    run(&r, &octal("/f.txt", "/made/parents/f.txt", 0o4750));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/dir640 dir 0640 0:0",
            "/dir640/inner.txt file 0640 0:0 \"inner\"",
            "/dir640/link symlink 0:0 -> inner.txt",
            "/dir640/sub dir 0640 0:0",
            "/dir640/sub/deep.txt file 0640 0:0 \"deep\"",
            "/exec.txt file 0755 0:0 \"f\"",
            "/made dir 0750 0:0",
            "/made/parents dir 0750 0:0",
            "/made/parents/f.txt file 4750 0:0 \"f\"",
            "/private.txt file 0600 0:0 \"f\"",
            "/setuid.txt file 4755 0:0 \"f\"",
        ])
    );
}

#[test]
fn symbolic_chmod_applies_per_entry_and_leaves_created_directories_alone() {
    let r = Roots::new();
    dir(&r.src, "/tree/sub", 0o700);
    file(&r.src, "/tree/plain.txt", "p", 0o644);
    file(&r.src, "/tree/exe", "x", 0o744);
    file(&r.src, "/tree/sub/w.txt", "w", 0o666);
    let symbolic = |expr: &str, dest: &str| {
        with_mode(dockerfile_copy("/tree", dest), Chmod::Symbolic(expr.into()))
    };
    run(&r, &symbolic("a+X", "/capital-x/"));
    run(&r, &symbolic("u+x,go-w", "/mixed/"));
    run(
        &r,
        &with_mode(plain_copy("/tree", "/whole"), Chmod::Symbolic("g+w".into())),
    );
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/capital-x dir 0755 0:0",
            "/capital-x/exe file 0755 0:0 \"x\"",
            "/capital-x/plain.txt file 0644 0:0 \"p\"",
            "/capital-x/sub dir 0711 0:0",
            "/capital-x/sub/w.txt file 0666 0:0 \"w\"",
            "/mixed dir 0755 0:0",
            "/mixed/exe file 0744 0:0 \"x\"",
            "/mixed/plain.txt file 0744 0:0 \"p\"",
            "/mixed/sub dir 0700 0:0",
            "/mixed/sub/w.txt file 0744 0:0 \"w\"",
            // Copied as itself, the top directory takes the expression too.
            "/whole dir 0775 0:0",
            "/whole/exe file 0764 0:0 \"x\"",
            "/whole/plain.txt file 0664 0:0 \"p\"",
            "/whole/sub dir 0720 0:0",
            "/whole/sub/w.txt file 0666 0:0 \"w\"",
        ])
    );
}

#[test]
fn chown_applies_to_every_copied_entry_and_to_created_parents() {
    let r = Roots::new();
    file(&r.src, "/f.txt", "f", 0o4755);
    dir(&r.src, "/dir/sub", 0o755);
    file(&r.src, "/dir/sub/x.txt", "x", 0o644);
    symlink(&r.src, "/dir/link", "sub/x.txt");
    chown(&r.src, "/dir/sub/x.txt", 1000, 1000);
    dir(&r.dest, "/existing", 0o755);
    run_as(&r, &dockerfile_copy("/f.txt", "/both.txt"), 1234, 5678);
    run_as(&r, &dockerfile_copy("/dir", "/a/b/c/"), 1001, 2002);
    run_as(&r, &dockerfile_copy("/dir", "/existing/"), 7, 7);
    // Without an owner, source owners stay and created parents are root's.
    run(&r, &dockerfile_copy("/dir", "/kept/deeper"));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/a dir 0755 1001:2002",
            "/a/b dir 0755 1001:2002",
            "/a/b/c dir 0755 1001:2002",
            "/a/b/c/link symlink 1001:2002 -> sub/x.txt",
            "/a/b/c/sub dir 0755 1001:2002",
            "/a/b/c/sub/x.txt file 0644 1001:2002 \"x\"",
            // setuid survives the chown.
            "/both.txt file 4755 1234:5678 \"f\"",
            // An existing top directory keeps its owner.
            "/existing dir 0755 0:0",
            "/existing/link symlink 7:7 -> sub/x.txt",
            "/existing/sub dir 0755 7:7",
            "/existing/sub/x.txt file 0644 7:7 \"x\"",
            "/kept dir 0755 0:0",
            "/kept/deeper dir 0755 0:0",
            "/kept/deeper/link symlink 0:0 -> sub/x.txt",
            "/kept/deeper/sub dir 0755 0:0",
            "/kept/deeper/sub/x.txt file 0644 1000:1000 \"x\"",
        ])
    );
}

fn project(r: &Roots) {
    file(&r.src, "/x/a.txt", "a", 0o644);
    file(&r.src, "/x/b.md", "b", 0o644);
    file(&r.src, "/x/y/c.txt", "c", 0o644);
    dir(&r.src, "/x", 0o750);
    chown(&r.src, "/x", 3, 3);
    file(&r.src, "/z.txt", "z", 0o644);
    file(&r.src, "/logs/1.log", "1", 0o644);
    file(&r.src, "/logs/keep.log", "k", 0o644);
    file(&r.src, "/top.log", "t", 0o644);
}

#[test]
fn include_patterns_select_paths_and_create_their_parents_from_the_source() {
    let r = Roots::new();
    project(&r);
    // `COPY --parents x/*.txt /out/`.
    let mut action = dockerfile_copy("/", "/out/");
    action.include_patterns = vec!["x/*.txt".into()];
    run(&r, &action);
    let mut action = dockerfile_copy("/", "/deep/");
    action.include_patterns = vec!["**/*.txt".into()];
    run(&r, &action);
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/deep dir 0755 0:0",
            "/deep/x dir 0750 3:3",
            "/deep/x/a.txt file 0644 0:0 \"a\"",
            "/deep/x/y dir 0755 0:0",
            "/deep/x/y/c.txt file 0644 0:0 \"c\"",
            "/deep/z.txt file 0644 0:0 \"z\"",
            "/out dir 0755 0:0",
            "/out/x dir 0750 3:3",
            "/out/x/a.txt file 0644 0:0 \"a\"",
        ])
    );
}

#[test]
fn exclude_patterns_drop_paths_and_exceptions_bring_them_back() {
    let r = Roots::new();
    project(&r);
    let mut action = dockerfile_copy("/", "/ex/");
    action.exclude_patterns = vec!["*.log".into(), "logs".into(), "x/y".into()];
    run(&r, &action);
    let mut action = dockerfile_copy("/", "/re/");
    action.exclude_patterns = vec![
        "logs".into(),
        "!logs/keep.log".into(),
        "x".into(),
        "*.txt".into(),
    ];
    run(&r, &action);
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/ex dir 0755 0:0",
            "/ex/x dir 0750 3:3",
            "/ex/x/a.txt file 0644 0:0 \"a\"",
            "/ex/x/b.md file 0644 0:0 \"b\"",
            "/ex/z.txt file 0644 0:0 \"z\"",
            "/re dir 0755 0:0",
            "/re/logs dir 0755 0:0",
            "/re/logs/keep.log file 0644 0:0 \"k\"",
            "/re/top.log file 0644 0:0 \"t\"",
        ])
    );
    let mut bad = dockerfile_copy("/", "/bad/");
    bad.exclude_patterns = vec!["[".into()];
    assert!(matches!(
        copy(&r.src, &r.dest, &bad, None),
        Err(FileOpError::Pattern { .. })
    ));
}

#[test]
fn special_files_are_recreated_as_buildkit_does() {
    let r = Roots::new();
    let dev = at(&r.src, "/dev");
    std::fs::create_dir(&dev).unwrap();
    let mode = rustix::fs::Mode::from_raw_mode(0o640);
    use rustix::fs::{CWD, FileType, makedev, mknodat};
    mknodat(CWD, dev.join("fifo"), FileType::Fifo, mode, 0).unwrap();
    mknodat(
        CWD,
        dev.join("null"),
        FileType::CharacterDevice,
        mode,
        makedev(1, 3),
    )
    .unwrap();
    mknodat(
        CWD,
        dev.join("loop"),
        FileType::BlockDevice,
        mode,
        makedev(7, 200),
    )
    .unwrap();
    let socket = std::os::unix::net::UnixListener::bind(dev.join("sock")).unwrap();
    std::fs::set_permissions(
        dev.join("sock"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    for p in ["/dev/fifo", "/dev/null", "/dev/loop"] {
        std::fs::set_permissions(
            at(&r.src, p),
            std::os::unix::fs::PermissionsExt::from_mode(0o640),
        )
        .unwrap();
    }
    run(&r, &dockerfile_copy("/dev", "/d/"));
    drop(socket);
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/d dir 0755 0:0",
            "/d/fifo fifo 0640 0:0",
            // fsutil clears the S_IFSOCK bits: a block device becomes a character
            // device and a socket an empty file.
            "/d/loop char 0640 0:0 7:200",
            "/d/null char 0640 0:0 1:3",
            "/d/sock file 0700 0:0 \"\"",
        ])
    );
}

#[test]
fn extended_attributes_are_copied() {
    let r = Roots::new();
    file(&r.src, "/f", "f", 0o644);
    xattr::set(at(&r.src, "/f"), "user.hearth", b"value").unwrap();
    xattr::set(at(&r.src, "/f"), "trusted.hearth", b"t").unwrap();
    run(&r, &dockerfile_copy("/f", "/g"));
    let got = |name: &str| xattr::get(at(&r.dest, "/g"), name).unwrap();
    assert_eq!(got("user.hearth").as_deref(), Some(&b"value"[..]));
    assert_eq!(got("trusted.hearth").as_deref(), Some(&b"t"[..]));
}

#[test]
fn names_with_spaces_and_unicode_are_copied_verbatim() {
    let r = Roots::new();
    file(&r.src, "/my file.txt", "spaces", 0o644);
    file(&r.src, "/dir with space/inner file.txt", "inner", 0o644);
    file(&r.src, "/café.txt", "unicode", 0o644);
    run(&r, &dockerfile_copy("/my file.txt", "/dest dir/"));
    run(&r, &dockerfile_copy("/dir with space", "/spaced/"));
    run(&r, &dockerfile_copy("/café.txt", "/unicode/"));
    run(&r, &dockerfile_copy("/my*file.txt", "/glob-space/"));
    assert_eq!(
        tree(&r.dest),
        lines(&[
            "/dest dir dir 0755 0:0",
            "/dest dir/my file.txt file 0644 0:0 \"spaces\"",
            "/glob-space dir 0755 0:0",
            "/glob-space/my file.txt file 0644 0:0 \"spaces\"",
            "/spaced dir 0755 0:0",
            "/spaced/inner file.txt file 0644 0:0 \"inner\"",
            "/unicode dir 0755 0:0",
            "/unicode/café.txt file 0644 0:0 \"unicode\"",
        ])
    );
}

#[test]
fn the_report_counts_sources_and_entries() {
    let r = Roots::new();
    file(&r.src, "/a/1", "1", 0o644);
    file(&r.src, "/a/2", "2", 0o644);
    file(&r.src, "/b", "b", 0o644);
    let report = copy(&r.src, &r.dest, &dockerfile_copy("/*", "/all/"), None).unwrap();
    assert_eq!(report.sources, 2);
    assert_eq!(report.unpacked, 0);
    // /all/1, /all/2 and /all/b (the contents of /a land in /all itself).
    assert_eq!(report.entries, 3);
}

#[test]
fn twenty_thousand_small_files_copy_in_linear_time() {
    let r = Roots::new();
    for d in 0..100 {
        let dir_path = at(&r.src, &format!("/many/d{d:03}"));
        std::fs::create_dir_all(&dir_path).unwrap();
        for f in 0..200 {
            std::fs::write(dir_path.join(format!("f{f:03}")), "x").unwrap();
        }
    }
    let report = copy(&r.src, &r.dest, &dockerfile_copy("/many", "/many/"), None).unwrap();
    assert_eq!(report.entries, 100 + 20_000);
    let count = std::fs::read_dir(at(&r.dest, "/many/d099"))
        .unwrap()
        .count();
    assert_eq!(count, 200);
}
