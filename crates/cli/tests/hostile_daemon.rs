//! A hostile client of hearthd, or hostile images built through it, against the
//! machines involved: the daemon's context copy never follows a link the client's
//! context turned a directory into, and a `type=local` output the client writes never
//! goes through a link an earlier output left. Real hearthd, real runc.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use hearth_testkit::Hearthd;
use support::Env;

/// A directory standing for files of the daemon's (or the client's) machine; what a
/// write, delete, chmod or re-time would change, by path.
fn snapshot(dir: &Path) -> BTreeMap<String, (u32, u64, i64, i64, Vec<u8>)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let m = e.path().symlink_metadata().unwrap();
            let content = if m.is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (
                e.path().display().to_string(),
                (m.mode(), m.size(), m.mtime(), m.mtime_nsec(), content),
            )
        })
        .collect()
}

fn host_dir(work: &Path) -> PathBuf {
    let host = work.join("host");
    std::fs::create_dir_all(host.join("sub")).unwrap();
    std::fs::write(host.join("f"), "host file").unwrap();
    std::fs::write(host.join("sub/g"), "host file").unwrap();
    std::fs::write(host.join("victim"), "host file").unwrap();
    host
}

fn daemon(env: &Env) -> Hearthd {
    let socket = env.work.path().join("hearthd.sock");
    Hearthd::start(
        &env.work.path().join("daemon-root"),
        &socket,
        Some(&env.config),
    )
    .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"))
}

fn build_through(env: &Env, addr: &str, ctx: &Path, out: &Path) -> std::process::Output {
    env.hearth(
        &env.work.path().join("client-root"),
        &[
            "build",
            "--progress=plain",
            &format!("--addr={addr}"),
            &format!("--output=type=local,dest={}", out.display()),
            ctx.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap()
}

#[test]
fn a_context_directory_turned_into_a_link_never_leads_the_daemon_out_of_its_copy() {
    let env = Env::new();
    let host = host_dir(env.work.path());
    let daemon = daemon(&env);
    let ctx = env.dir(
        "ctx",
        &[
            ("Dockerfile", "FROM busybox\nCOPY . /ctx\n"),
            ("d/f", "context file"),
            ("d/sub/g", "context file"),
        ],
    );
    let out = env.work.path().join("out");
    let first = build_through(&env, &daemon.address(), &ctx, &out);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("ctx/d/f")).unwrap(),
        "context file"
    );

    // The client makes `d` a link to a directory of the daemon's machine holding files of
    // the names the daemon's copy had; the next sync must not remove or touch them.
    let before = snapshot(&host);
    std::fs::remove_dir_all(ctx.join("d")).unwrap();
    std::os::unix::fs::symlink(&host, ctx.join("d")).unwrap();
    let second = build_through(&env, &daemon.address(), &ctx, &env.work.path().join("out2"));
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        snapshot(&host),
        before,
        "the daemon changed files through the link"
    );
    assert!(
        std::fs::symlink_metadata(env.work.path().join("out2/ctx/d"))
            .unwrap()
            .is_symlink(),
        "the link is part of the context, as it is"
    );
}

#[test]
fn a_local_output_through_the_daemon_replaces_links_an_earlier_output_left() {
    let env = Env::new();
    let host = host_dir(env.work.path());
    let daemon = daemon(&env);
    let first = env.dir(
        "first",
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox\nRUN ln -s {h}/victim /evil && ln -s {h}/sub /d\n",
                h = host.display()
            ),
        )],
    );
    let second = env.dir(
        "second",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo pwned > /evil && chmod 4777 /evil && mkdir -m 777 /d && echo pwned > /d/planted\n",
        )],
    );
    let out = env.work.path().join("shared-out");
    let before = snapshot(&host);
    for ctx in [&first, &second] {
        let built = build_through(&env, &daemon.address(), ctx, &out);
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        assert_eq!(snapshot(&host), before, "the client wrote through a link");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("evil")).unwrap(),
        "pwned\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("d/planted")).unwrap(),
        "pwned\n"
    );
}
