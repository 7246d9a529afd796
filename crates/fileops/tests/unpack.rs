//! `ADD` of local archives: detection by content, go-archive's extraction rules.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::io::Write as _;

use common::{Roots, at, dir, dockerfile_copy, file, lines, symlink, tree, with_mode};
use hearth_fileops::{Ids, copy};
use hearth_graph::op::{Chmod, CopyAction};

struct Entry<'a> {
    name: &'a str,
    kind: tar::EntryType,
    mode: u32,
    owner: (u64, u64),
    link: &'a str,
    data: &'a [u8],
}

fn entry<'a>(name: &'a str, kind: tar::EntryType, mode: u32) -> Entry<'a> {
    Entry {
        name,
        kind,
        mode,
        owner: (0, 0),
        link: "",
        data: b"",
    }
}

fn build(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(e.kind);
        header.set_path(e.name).unwrap();
        header.set_mode(e.mode);
        header.set_uid(e.owner.0);
        header.set_gid(e.owner.1);
        header.set_mtime(1_700_000_000);
        header.set_size(e.data.len() as u64);
        if !e.link.is_empty() {
            header.set_link_name(e.link).unwrap();
        }
        header.set_cksum();
        builder.append(&header, e.data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The archive of the add-local-tar conformance case.
fn package() -> Vec<u8> {
    use tar::EntryType::{Directory, Link, Regular, Symlink};
    build(&[
        entry("pkg/", Directory, 0o755),
        entry("pkg/bin/", Directory, 0o755),
        Entry {
            owner: (1000, 1000),
            data: b"#!/bin/sh\necho tool\n",
            ..entry("pkg/bin/tool", Regular, 0o755)
        },
        entry("pkg/etc/", Directory, 0o750),
        Entry {
            data: b"secret=1\n",
            ..entry("pkg/etc/conf", Regular, 0o600)
        },
        Entry {
            link: "pkg/etc/conf",
            ..entry("pkg/hard", Link, 0o600)
        },
        Entry {
            link: "bin/tool",
            ..entry("pkg/link", Symlink, 0o777)
        },
    ])
}

fn package_tree(prefix: &str, owner: Option<&str>) -> Vec<String> {
    let o = |default: &str| owner.unwrap_or(default).to_owned();
    vec![
        format!("{prefix}/pkg dir 0755 {}", o("0:0")),
        format!("{prefix}/pkg/bin dir 0755 {}", o("0:0")),
        format!(
            "{prefix}/pkg/bin/tool file 0755 {} \"#!/bin/sh\\necho tool\\n\"",
            o("1000:1000")
        ),
        format!("{prefix}/pkg/etc dir 0750 {}", o("0:0")),
        format!(
            "{prefix}/pkg/etc/conf file 0600 {} \"secret=1\\n\"",
            o("0:0")
        ),
        format!(
            "{prefix}/pkg/hard file 0600 {} \"secret=1\\n\" hardlink={prefix}/pkg/etc/conf",
            o("0:0")
        ),
        format!("{prefix}/pkg/link symlink {} -> bin/tool", o("0:0")),
    ]
}

fn add(src: &str, dest: &str) -> CopyAction {
    let mut action = dockerfile_copy(src, dest);
    action.attempt_unpack = true;
    action
}

fn write(r: &Roots, path: &str, data: &[u8]) {
    std::fs::File::create(at(&r.src, path))
        .unwrap()
        .write_all(data)
        .unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

#[test]
fn add_extracts_archives_in_every_compression_detected_by_content() {
    let r = Roots::new();
    let tar = package();
    let bz = {
        let mut w = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        w.write_all(&tar).unwrap();
        w.finish().unwrap()
    };
    let xz = {
        let mut w = liblzma::write::XzEncoder::new(Vec::new(), 6);
        w.write_all(&tar).unwrap();
        w.finish().unwrap()
    };
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    write(&r, "/files.tar", &tar);
    write(&r, "/bundle.tar.gz", &gzip(&tar));
    write(&r, "/b.bz2", &bz);
    write(&r, "/x.txt", &xz);
    write(&r, "/z.bin", &zst);
    for (src, dest) in [
        ("/files.tar", "/srv/"),
        ("/bundle.tar.gz", "/opt/"),
        ("/b.bz2", "/bz/"),
        ("/x.txt", "/xz/"),
        ("/z.bin", "/zst"),
    ] {
        let report = copy(&r.src, &r.dest, &add(src, dest), None).unwrap();
        assert_eq!(report.unpacked, 1, "{src}");
    }
    let mut want = Vec::new();
    for prefix in ["/bz", "/opt", "/srv", "/xz", "/zst"] {
        want.push(format!("{prefix} dir 0755 0:0"));
        want.extend(package_tree(prefix, None));
    }
    assert_eq!(tree(&r.dest), want);
}

#[test]
fn non_archives_and_copy_are_plain_copies() {
    let r = Roots::new();
    write(&r, "/fake.tar.gz", b"just text");
    write(&r, "/text.gz", &gzip(b"gzip of text, not a tar"));
    write(&r, "/empty.tar", &[0u8; 1024]);
    write(&r, "/short", b"BZh");
    write(&r, "/real.tar", &package());
    copy(&r.src, &r.dest, &add("/fake.tar.gz", "/a/"), None).unwrap();
    copy(&r.src, &r.dest, &add("/text.gz", "/a/"), None).unwrap();
    copy(&r.src, &r.dest, &add("/empty.tar", "/a/"), None).unwrap();
    copy(&r.src, &r.dest, &add("/short", "/a/"), None).unwrap();
    copy(
        &r.src,
        &r.dest,
        &dockerfile_copy("/real.tar", "/copied/"),
        None,
    )
    .unwrap();
    let listing = tree(&r.dest);
    assert_eq!(listing.len(), 7, "{listing:#?}");
    assert!(listing.contains(&"/a/fake.tar.gz file 0644 0:0 \"just text\"".to_owned()));
    assert!(listing.contains(&"/a/short file 0644 0:0 \"BZh\"".to_owned()));
    assert!(
        listing
            .iter()
            .any(|l| l.starts_with("/a/text.gz file 0644"))
    );
    assert!(
        listing
            .iter()
            .any(|l| l.starts_with("/a/empty.tar file 0644"))
    );
    assert!(
        listing
            .iter()
            .any(|l| l.starts_with("/copied/real.tar file 0644"))
    );
}

#[test]
fn chown_applies_to_every_extracted_entry_and_chmod_to_none() {
    let r = Roots::new();
    write(&r, "/p.tar", &package());
    let action = with_mode(add("/p.tar", "/owned"), Chmod::Octal(0o777));
    copy(&r.src, &r.dest, &action, Some(Ids { uid: 7, gid: 8 })).unwrap();
    let mut want = vec!["/owned dir 0755 7:8".to_owned()];
    want.extend(package_tree("/owned", Some("7:8")));
    assert_eq!(tree(&r.dest), want);
}

#[test]
fn extraction_merges_replaces_and_implies_parents() {
    use tar::EntryType::{Directory, Regular};
    let r = Roots::new();
    let archive = build(&[
        Entry {
            data: b"new",
            ..entry("existing/replace.txt", Regular, 0o640)
        },
        entry("existing/", Directory, 0o700),
        entry("was-file/", Directory, 0o755),
        Entry {
            data: b"deep",
            owner: (3, 3),
            ..entry("implied/a/b.txt", Regular, 0o4755)
        },
        entry("./", Directory, 0o700),
    ]);
    write(&r, "/m.tar", &archive);
    dir(&r.dest, "/x", 0o755);
    dir(&r.dest, "/x/existing", 0o755);
    file(&r.dest, "/x/existing/keep.txt", "keep", 0o644);
    file(&r.dest, "/x/existing/replace.txt", "old", 0o644);
    file(&r.dest, "/x/was-file", "file", 0o644);
    copy(&r.src, &r.dest, &add("/m.tar", "/x/"), None).unwrap();
    assert_eq!(
        tree(&r.dest),
        lines(&[
            // `./` on an existing directory is skipped entirely.
            "/x dir 0755 0:0",
            "/x/existing dir 0700 0:0",
            "/x/existing/keep.txt file 0644 0:0 \"keep\"",
            "/x/existing/replace.txt file 0640 0:0 \"new\"",
            "/x/implied dir 0755 0:0",
            "/x/implied/a dir 0755 0:0",
            // setuid survives the chown from the header.
            "/x/implied/a/b.txt file 4755 3:3 \"deep\"",
            "/x/was-file dir 0755 0:0",
        ])
    );
}

#[test]
fn a_link_to_an_archive_and_wildcards_are_extracted() {
    let r = Roots::new();
    write(&r, "/one.tar", &package());
    write(&r, "/two.tar", &gzip(&package()));
    symlink(&r.src, "/latest", "one.tar");
    copy(&r.src, &r.dest, &add("/latest", "/via-link/"), None).unwrap();
    let report = copy(&r.src, &r.dest, &add("/*.tar", "/all/"), None).unwrap();
    assert_eq!(report.unpacked, 2);
    let mut want = vec!["/all dir 0755 0:0".to_owned()];
    want.extend(package_tree("/all", None));
    want.push("/via-link dir 0755 0:0".to_owned());
    want.extend(package_tree("/via-link", None));
    assert_eq!(tree(&r.dest), want);
}
