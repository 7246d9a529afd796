//! `--chown` and `USER` resolution against an image's `/etc/passwd` and
//! `/etc/group`, with moby/sys/user's parsing and BuildKit's two lookup rules.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::{Roots, dir, file};
use hearth_fileops::{FileOpError, Ids, ResolvedUser, resolve_owner, resolve_user};
use hearth_graph::op::{Chown, UserRef};

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
    \n\
    # not a comment in passwd: a user called '# not a comment in passwd'\n\
    app:x:1001:2002:app user:/home/app:/bin/sh\n\
    dup:x:5:5::/first:\n\
    dup:x:6:6::/second:\n\
    weird:x:abc:def\n\
      spaced:x:7:8::/s:/bin/sh  \n\
    twin:x:1001:9::/twin:\n\
    nobody:x:65534:65534:nobody:/home:/bin/false";

const GROUP: &str = "root:x:0:\n\
    # staff:x:50:app\n\
    wheel:x:10:root,app\n\
    appgrp:x:2002:\n\
    other:x:3003:app\n\
    nogroup:x:65534:\n";

fn image() -> Roots {
    let r = Roots::new();
    file(&r.dest, "/etc/passwd", PASSWD, 0o644);
    file(&r.dest, "/etc/group", GROUP, 0o644);
    r
}

fn name(s: &str) -> Option<UserRef> {
    Some(UserRef::Name(s.to_owned()))
}

fn id(n: u32) -> Option<UserRef> {
    Some(UserRef::Id(n))
}

#[test]
fn chown_owners_resolve_like_buildkit_read_user() {
    let r = image();
    type Case = (Option<UserRef>, Option<UserRef>, (u32, u32));
    let cases: &[Case] = &[
        // A user alone takes its primary group from passwd.
        (name("app"), None, (1001, 2002)),
        (name("app"), name("other"), (1001, 3003)),
        (name("app"), id(42), (1001, 42)),
        // A numeric user alone is used as the gid too.
        (id(1000), None, (1000, 1000)),
        (id(1234), id(5678), (1234, 5678)),
        (id(0), name("nogroup"), (0, 65534)),
        (name("nobody"), name("nogroup"), (65534, 65534)),
        (None, name("other"), (0, 3003)),
        (None, None, (0, 0)),
        // First match wins; unparsable numbers are 0; whitespace is trimmed.
        (name("dup"), None, (5, 5)),
        (name("weird"), None, (0, 0)),
        (name("spaced"), None, (7, 8)),
        // passwd has no comments; group does.
        (
            name("# not a comment in passwd: a user called '# not a comment in passwd'"),
            None,
            (0, 0),
        ),
        (name("app"), name("# staff"), (1001, 2002)),
        // BuildKit does not fail on unknown names: the ids stay as they were.
        (name("nosuch"), None, (0, 0)),
        (name("app"), name("nosuchgroup"), (1001, 2002)),
    ];
    for (user, group, (uid, gid)) in cases {
        let chown = Chown {
            user: user.clone(),
            group: group.clone(),
        };
        assert_eq!(
            resolve_owner(&chown, Some(&r.dest)).unwrap(),
            Ids {
                uid: *uid,
                gid: *gid
            },
            "{chown:?}"
        );
    }
}

#[test]
fn chown_names_need_a_filesystem_and_a_readable_file() {
    let chown = Chown {
        user: name("app"),
        group: None,
    };
    let err = resolve_owner(&chown, None).unwrap_err();
    assert!(matches!(err, FileOpError::NoUserDatabase { .. }));
    assert!(err.to_string().contains("app") && err.to_string().contains("/etc/passwd"));
    // Ids need no files at all.
    let ids = Chown {
        user: id(3),
        group: id(4),
    };
    assert_eq!(resolve_owner(&ids, None).unwrap(), Ids { uid: 3, gid: 4 });

    // No passwd file (or no /etc) counts as "not found".
    let r = Roots::new();
    assert_eq!(
        resolve_owner(&chown, Some(&r.dest)).unwrap(),
        Ids { uid: 0, gid: 0 }
    );
    file(&r.dest, "/etc", "not a directory", 0o644);
    assert_eq!(
        resolve_owner(&chown, Some(&r.dest)).unwrap(),
        Ids { uid: 0, gid: 0 }
    );

    // A passwd that cannot be read is an error naming the user and the file.
    let r = Roots::new();
    dir(&r.dest, "/etc/passwd", 0o755);
    let err = resolve_owner(&chown, Some(&r.dest)).unwrap_err();
    assert!(matches!(err, FileOpError::UserDatabase { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("user app") && message.contains("/etc/passwd"),
        "{message}"
    );
}

fn user(uid: u32, gid: u32, additional: &[u32], home: &str) -> ResolvedUser {
    ResolvedUser {
        uid,
        gid,
        additional_gids: additional.to_vec(),
        home: home.to_owned(),
    }
}

#[test]
fn run_users_resolve_like_buildkit_get_user() {
    let r = image();
    let cases: &[(&str, ResolvedUser)] = &[
        // Root, with the groups that list root.
        ("", user(0, 0, &[10], "/root")),
        ("root", user(0, 0, &[10], "/root")),
        ("0", user(0, 0, &[10], "/root")),
        // A name: primary group from passwd, supplementary groups from group.
        ("app", user(1001, 2002, &[10, 3003], "/home/app")),
        // A uid in passwd is the first line with it.
        ("1001", user(1001, 2002, &[10, 3003], "/home/app")),
        // An explicit group replaces the primary one and drops the others.
        ("app:other", user(1001, 3003, &[], "/home/app")),
        ("app:4000", user(1001, 4000, &[], "/home/app")),
        ("1001:other", user(1001, 3003, &[], "/home/app")),
        ("nobody", user(65534, 65534, &[], "/home")),
        // A uid unknown to passwd gets gid 0 and HOME /.
        ("4242", user(4242, 0, &[], "/")),
        ("4242:nogroup", user(4242, 65534, &[], "/")),
        // Numbers on both sides never read the files.
        ("1234:5678", user(1234, 5678, &[], "/")),
        ("root:root", user(0, 0, &[], "/root")),
        ("dup", user(5, 5, &[], "/first")),
        ("+1001", user(1001, 2002, &[10, 3003], "/home/app")),
    ];
    for (spec, want) in cases {
        assert_eq!(&resolve_user(spec, &r.dest).unwrap(), want, "USER {spec:?}");
    }
    assert_eq!(
        resolve_user("app", &r.dest).unwrap().oci_additional_gids(),
        [2002, 10, 3003]
    );
}

#[test]
fn run_users_fail_like_buildkit() {
    let r = image();
    let err = resolve_user("nosuch", &r.dest).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find user nosuch: no matching entries in passwd file /etc/passwd"
    );
    let err = resolve_user("app:nosuch", &r.dest).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find group nosuch: no matching entries in group file /etc/group"
    );
    for spec in ["-1", "2147483648", "4242:-5"] {
        let err = resolve_user(spec, &r.dest).unwrap_err();
        assert!(
            matches!(err, FileOpError::IdOutOfRange { .. }),
            "{spec}: {err}"
        );
    }

    // Without /etc/passwd, anything but numeric uid:gid fails as in BuildKit (Go
    // reads a nil file: "invalid argument"), except the default user.
    let empty = Roots::new();
    for spec in ["app", "1000"] {
        let err = resolve_user(spec, &empty.dest).unwrap_err();
        assert!(
            matches!(err, FileOpError::UserDatabase { .. }),
            "{spec}: {err}"
        );
        assert!(err.to_string().contains("invalid argument"), "{err}");
    }
    assert_eq!(resolve_user("", &empty.dest).unwrap(), user(0, 0, &[], "/"));
    assert_eq!(
        resolve_user("7:8", &empty.dest).unwrap(),
        user(7, 8, &[], "/")
    );

    // Without /etc/group, a user found by name cannot get its groups.
    let no_group = Roots::new();
    file(&no_group.dest, "/etc/passwd", PASSWD, 0o644);
    let err = resolve_user("app", &no_group.dest).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unable to find groups for spec app"),
        "{err}"
    );
    // A uid with no passwd line needs no groups.
    assert_eq!(
        resolve_user("4242", &no_group.dest).unwrap(),
        user(4242, 0, &[], "/")
    );
}

#[test]
fn the_busybox_users_of_the_conformance_cases() {
    // user-name, user-uid-gid and user-added-user, on busybox's own files plus the
    // lines the cases' RUN appends.
    let r = Roots::new();
    file(
        &r.dest,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\n\
         daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
         nobody:x:65534:65534:nobody:/home:/bin/false\n\
         app:x:1001:1001::/home/app:/bin/sh\n",
        0o644,
    );
    file(
        &r.dest,
        "/etc/group",
        "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\napp:x:1001:\nextra:x:1500:app\n",
        0o644,
    );
    assert_eq!(
        resolve_user("nobody", &r.dest).unwrap(),
        user(65534, 65534, &[], "/home")
    );
    let app = resolve_user("app", &r.dest).unwrap();
    assert_eq!(app, user(1001, 1001, &[1500], "/home/app"));
    assert_eq!(app.oci_additional_gids(), [1001, 1500]);
    assert_eq!(
        resolve_user("app:extra", &r.dest).unwrap(),
        user(1001, 1500, &[], "/home/app")
    );
    assert_eq!(
        resolve_user("4242", &r.dest).unwrap(),
        user(4242, 0, &[], "/")
    );
    let numeric = resolve_user("1234:5678", &r.dest).unwrap();
    assert_eq!(numeric.oci_additional_gids(), [5678]);
}

#[test]
fn hostile_user_databases_are_refused_without_reading_the_host_or_hanging() {
    // A link to an absolute host path is followed inside the image: the host's passwd
    // (written here as `outside/sentinel`, named by an absolute link) is never read.
    let linked = Roots::new();
    std::fs::create_dir_all(linked.dest.join("etc")).unwrap();
    std::fs::write(
        linked.outside.join("passwd"),
        "hostonly:x:4321:4321::/:/bin/sh\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        linked.outside.join("passwd"),
        linked.dest.join("etc/passwd"),
    )
    .unwrap();
    let err = resolve_user("hostonly", &linked.dest).unwrap_err();
    assert!(
        !err.to_string().contains("4321"),
        "the host's file was read: {err}"
    );

    // A FIFO would block a reader forever, a device would never end: both are named
    // as unusable instead. A file beyond the size limit likewise.
    let fifo = Roots::new();
    std::fs::create_dir_all(fifo.dest.join("etc")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        fifo.dest.join("etc/passwd").as_path(),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let err = resolve_user("app", &fifo.dest).unwrap_err().to_string();
    assert!(err.contains("not a regular file"), "{err}");
    let err = resolve_owner(
        &hearth_graph::op::Chown {
            user: name("app"),
            group: None,
        },
        Some(&fifo.dest),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a regular file"), "{err}");

    let huge = Roots::new();
    std::fs::create_dir_all(huge.dest.join("etc")).unwrap();
    let f = std::fs::File::create(huge.dest.join("etc/passwd")).unwrap();
    f.set_len(64 << 20).unwrap();
    let err = resolve_user("app", &huge.dest).unwrap_err().to_string();
    assert!(err.contains("larger than"), "{err}");
}
