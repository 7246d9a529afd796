//! Hostile Dockerfiles against the embedded engine, with real runc and overlayfs: one test
//! per way a build could reach the machine it runs on (the Leaky Vessels classes among
//! them). Each plants a "host" directory outside the state root, lets the Dockerfile aim
//! at it through links, `..`, mount sources, cache ids, working directories and outputs,
//! and then asserts that nothing there was written, deleted or re-timed, that none of its
//! bytes reached the build's logs or outputs, and that the build either failed with a
//! clear error or produced a safe image.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use hearth_engine::{Export, ExportKind, ImageFormat};
use support::{Env, Report, build, request};

/// What the host directory holds: a secret, a victim file, and empty entries named like
/// the stubs a runtime creates, which a cleanup through a link would delete.
const HOST_SECRET: &str = "host-secret-0f9e8d7c";

/// A directory standing for the build machine's own files.
struct Host {
    dir: PathBuf,
}

/// Everything about one entry that a write, delete, chmod or re-time would change.
type Entry = (String, u32, u32, u32, u64, i64, i64, Vec<u8>);

impl Host {
    fn new(work: &Path) -> Self {
        let dir = work.join("host");
        std::fs::create_dir_all(dir.join("deep/mnt")).unwrap();
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("secret"), HOST_SECRET).unwrap();
        std::fs::write(dir.join("victim"), HOST_SECRET).unwrap();
        std::fs::write(dir.join("hosts"), "").unwrap();
        std::fs::write(dir.join("resolv.conf"), "").unwrap();
        std::fs::write(dir.join("passwd"), "hostonly:x:4321:4321::/:/bin/sh\n").unwrap();
        Self { dir }
    }

    /// The path as a Dockerfile names it.
    fn path(&self) -> String {
        self.dir.display().to_string()
    }

    /// The host path reached from anywhere by climbing to `/` first.
    fn climbing(&self) -> String {
        format!(
            "{}{}",
            "../".repeat(40),
            self.path().trim_start_matches('/')
        )
    }

    fn snapshot(&self) -> BTreeMap<String, Entry> {
        let mut out = BTreeMap::new();
        for entry in walkdir::WalkDir::new(&self.dir) {
            let entry = entry.unwrap();
            let meta = entry.path().symlink_metadata().unwrap();
            let rel = entry
                .path()
                .strip_prefix(&self.dir)
                .unwrap()
                .display()
                .to_string();
            let content = if meta.is_file() {
                std::fs::read(entry.path()).unwrap()
            } else {
                Vec::new()
            };
            out.insert(
                rel.clone(),
                (
                    rel,
                    meta.mode(),
                    meta.uid(),
                    meta.gid(),
                    meta.size(),
                    meta.mtime(),
                    meta.mtime_nsec(),
                    content,
                ),
            );
        }
        out
    }
}

/// Runs `dockerfile` in a context holding `files` (and `links`), exporting the result to
/// a local directory, and checks the host is untouched; returns the report and the
/// output directory.
async fn run_against_host(
    env: &Env,
    host: &Host,
    name: &str,
    dockerfile: &str,
    links: &[(&str, String)],
) -> (Report, PathBuf) {
    let context = env.context(name, &[("Dockerfile", dockerfile), ("data", "ctx")]);
    for (link, target) in links {
        std::os::unix::fs::symlink(target, context.join(link)).unwrap();
    }
    let out = env.work.path().join(format!("{name}-out"));
    let before = host.snapshot();
    let engine = env.engine().await;
    let report = build(&engine, request(&context, local(out.clone()))).await;
    assert_eq!(
        host.snapshot(),
        before,
        "{name}: the host directory changed\nlogs:\n{}",
        String::from_utf8_lossy(&report.logs())
    );
    let logs = String::from_utf8_lossy(&report.logs()).into_owned();
    assert!(
        !logs.contains(HOST_SECRET),
        "{name}: the host's secret reached the logs:\n{logs}"
    );
    if out.exists() {
        for entry in walkdir::WalkDir::new(&out) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                let bytes = std::fs::read(entry.path()).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(HOST_SECRET),
                    "{name}: the host's secret is in the output at {}",
                    entry.path().display()
                );
            }
        }
    }
    (report, out)
}

/// A `type=local` output into `dest`.
fn local(dest: PathBuf) -> Vec<Export> {
    vec![Export {
        kind: ExportKind::Local { dest },
        names: Vec::new(),
        format: ImageFormat::default(),
        push: false,
    }]
}

/// The build failed with an error that says what was wrong (not a panic, not a hang).
fn failed_clearly(report: &Report, name: &str, words: &[&str]) {
    let err = match &report.outcome {
        Ok(_) => panic!("{name}: the build succeeded"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        words.iter().any(|w| err.contains(w)),
        "{name}: unclear error: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_stub_cleanup_never_follows_a_link_the_step_made() {
    // CVE-2024-23652: the step replaces the parents of its mount stubs (a tmpfs target's
    // created parents, and /etc holding the runtime's hosts and resolv.conf stubs) with
    // links to a host directory holding empty entries of the same names.
    let env = Env::new();
    let host = Host::new(env.work.path());
    // The image has no /etc, so the runtime creates it with its stubs in the step's own
    // layer, where the step can rename it (overlayfs refuses to rename a lower directory).
    let dockerfile = format!(
        "FROM busybox AS bb\n\
         FROM scratch\n\
         COPY --from=bb /bin /bin\n\
         RUN --mount=type=tmpfs,target=/stubs/deep/mnt \
         mv /stubs /stubs.moved && ln -s {h} /stubs && \
         mv /etc /etc.moved && ln -s {h} /etc\n",
        h = host.path()
    );
    let (report, out) = run_against_host(&env, &host, "stubs", &dockerfile, &[]).await;
    report.expect_ok();
    assert!(
        std::fs::symlink_metadata(out.join("stubs"))
            .unwrap()
            .is_symlink(),
        "the image keeps what the step made"
    );
}

/// A named Dockerfile and the links its context holds.
type Case = (&'static str, String, Vec<(&'static str, String)>);

#[tokio::test(flavor = "multi_thread")]
async fn mount_sources_resolve_inside_their_own_root() {
    let env = Env::new();
    let host = Host::new(env.work.path());
    let h = host.path();
    let up = host.climbing();
    let stage = format!(
        "FROM busybox AS stage\n\
         RUN ln -s {h} /hostlink && ln -s {up} /uplink && mkdir /real && echo stage > /real/f\n"
    );
    let attempt = "sh -c 'cat /m/secret /m 2>/dev/null; echo pwned > /m/new; \
                   echo pwned > /m/victim; rm -rf /m/sub /m/deep; true'";
    let cases: Vec<Case> = vec![
        (
            "context-abs-link",
            format!("FROM busybox\nRUN --mount=type=bind,source=abs,target=/m,rw {attempt}\n"),
            vec![("abs", h.clone())],
        ),
        (
            "context-climbing-link",
            format!("FROM busybox\nRUN --mount=type=bind,source=up,target=/m,rw {attempt}\n"),
            vec![("up", up.clone())],
        ),
        (
            "context-climbing-source",
            format!("FROM busybox\nRUN --mount=type=bind,source={up},target=/m,rw {attempt}\n"),
            vec![],
        ),
        (
            "stage-abs-link",
            format!(
                "{stage}FROM busybox\nRUN --mount=type=bind,from=stage,source=/hostlink,target=/m,rw {attempt}\n"
            ),
            vec![],
        ),
        (
            "stage-climbing-link-file",
            format!(
                "{stage}FROM busybox\nRUN --mount=type=bind,from=stage,source=/uplink/victim,target=/m/victim,rw sh -c 'cat /m/victim; echo pwned > /m/victim; true'\n"
            ),
            vec![],
        ),
        (
            "cache-seed-link",
            format!(
                "{stage}FROM busybox\nRUN --mount=type=cache,id=seed,from=stage,source=/hostlink,target=/m {attempt}\n"
            ),
            vec![],
        ),
        (
            "cache-id-climbing",
            format!("FROM busybox\nRUN --mount=type=cache,id={up},target=/m {attempt}\n"),
            vec![],
        ),
    ];
    for (name, dockerfile, links) in cases {
        let (report, out) = run_against_host(&env, &host, name, &dockerfile, &links).await;
        match &report.outcome {
            // A source that does not exist inside its root is an error naming it.
            Err(_) => failed_clearly(&report, name, &["RUN --mount source", "not found"]),
            Ok(_) => assert!(out.is_dir(), "{name}: no output"),
        }
    }
    // A source through a link that stays inside its root still works.
    let (report, out) = run_against_host(
        &env,
        &host,
        "stage-inside-link",
        "FROM busybox AS stage\nRUN mkdir /real && echo stage > /real/f && ln -s /real /inside\n\
         FROM busybox\nRUN --mount=type=bind,from=stage,source=/inside,target=/m cp /m/f /copied\n",
        &[],
    )
    .await;
    report.expect_ok();
    assert_eq!(
        std::fs::read_to_string(out.join("copied")).unwrap(),
        "stage\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn working_directories_and_copies_stay_inside_the_image() {
    let env = Env::new();
    let host = Host::new(env.work.path());
    let h = host.path();
    // A working directory through a link to the host, and through `..` chains.
    let dockerfile = format!(
        "FROM busybox\n\
         RUN ln -s {h} /wl\n\
         WORKDIR /wl/newdir\n\
         RUN echo pwned > f\n\
         WORKDIR /a/../../../../../../{rel}\n\
         RUN echo pwned > g\n\
         COPY --from=busybox /etc/passwd /wl/\n",
        rel = h.trim_start_matches('/'),
    );
    let (report, out) = run_against_host(&env, &host, "workdir", &dockerfile, &[]).await;
    report.expect_ok();
    assert_eq!(
        std::fs::read_to_string(out.join(h.trim_start_matches('/')).join("newdir/f")).unwrap(),
        "pwned\n",
        "the link leads inside the image"
    );

    // CVE-2024-21626: a working directory naming a descriptor the runtime leaked.
    for fd in 3..=9 {
        let dockerfile = format!(
            "FROM busybox\nWORKDIR /proc/self/fd/{fd}\n\
             RUN sh -c 'cat ../../../../../../{rel}/secret; echo pwned > ../../../../../../{rel}/victim'\n",
            rel = h.trim_start_matches('/'),
        );
        let name = format!("leaked-fd-{fd}");
        let (report, _) = run_against_host(&env, &host, &name, &dockerfile, &[]).await;
        if report.outcome.is_err() {
            failed_clearly(
                &report,
                &name,
                &[
                    "did not complete successfully",
                    "OCI runtime",
                    "working dir",
                ],
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn user_databases_are_read_inside_the_image_bounded_and_only_if_regular() {
    let env = Env::new();
    let host = Host::new(env.work.path());
    let h = host.path();
    let cases = [
        (
            "passwd-link",
            format!("RUN ln -sf {h}/passwd /etc/passwd\nUSER hostonly\nRUN true\n"),
            "unable to find user hostonly",
        ),
        (
            "passwd-fifo",
            "RUN rm /etc/passwd && mkfifo /etc/passwd\nUSER app\nRUN true\n".to_owned(),
            "not a regular file",
        ),
        (
            "passwd-device",
            "RUN rm /etc/group && mknod /etc/group c 1 5\nUSER root:app\nRUN true\n".to_owned(),
            "not a regular file",
        ),
        (
            "passwd-huge",
            "RUN dd if=/dev/zero of=/etc/passwd bs=1M count=20 2>/dev/null\nUSER app\nRUN true\n"
                .to_owned(),
            "larger than",
        ),
    ];
    for (name, steps, words) in cases {
        let dockerfile = format!("FROM busybox\n{steps}");
        let (report, _) = run_against_host(&env, &host, name, &dockerfile, &[]).await;
        failed_clearly(&report, name, &[words]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_output_is_never_written_through_a_link_an_earlier_image_left() {
    let env = Env::new();
    let host = Host::new(env.work.path());
    let first = format!(
        "FROM busybox\nRUN ln -s {h}/victim /evil && ln -s {h}/sub /dir\n",
        h = host.path()
    );
    let second = "FROM busybox\nRUN echo pwned > /evil && chmod 4777 /evil && mkdir /dir && echo pwned > /dir/planted\n";
    let dest = env.work.path().join("shared-out");
    for (name, dockerfile) in [("first", first.as_str()), ("second", second)] {
        let context = env.context(name, &[("Dockerfile", dockerfile)]);
        let before = host.snapshot();
        let engine = env.engine().await;
        let report = build(&engine, request(&context, local(dest.clone()))).await;
        report.expect_ok();
        assert_eq!(host.snapshot(), before, "{name}: the host changed");
    }
    assert_eq!(
        std::fs::read_to_string(dest.join("evil")).unwrap(),
        "pwned\n"
    );
    assert!(
        std::fs::symlink_metadata(dest.join("dir"))
            .unwrap()
            .is_dir()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn workdir_dot_dot_and_re_included_files_match_buildkit() {
    let env = Env::new();
    // (b) BuildKit creates the working directory at its in-root resolution (`/a/c`),
    // then runc's `MkdirAll` of the uncleaned path adds what the kernel needs to walk it
    // (`/a`, `/a/b`); nothing else, and in particular not `/a/b/c`.
    // (a) `docs` excluded and `docs/keep.md` re-included: BuildKit sends the file and its
    // directory.
    let context = env.context(
        "semantics",
        &[
            (
                "Dockerfile",
                "FROM busybox\nWORKDIR /a/./b/../c\nRUN pwd > /pwd\nCOPY . /ctx\n",
            ),
            (".dockerignore", "docs\n!docs/keep.md\n"),
            ("docs/keep.md", "keep"),
            ("docs/drop.md", "drop"),
        ],
    );
    let out = env.work.path().join("semantics-out");
    let engine = env.engine().await;
    let report = build(&engine, request(&context, local(out.clone()))).await;
    report.expect_ok();
    assert!(
        !out.join("a/b/c").exists(),
        "a directory BuildKit does not make"
    );
    for dir in ["a", "a/b", "a/c"] {
        assert!(out.join(dir).is_dir(), "{dir}");
    }
    assert_eq!(std::fs::read_to_string(out.join("pwd")).unwrap(), "/a/c\n");
    assert_eq!(
        std::fs::read_to_string(out.join("ctx/docs/keep.md")).unwrap(),
        "keep"
    );
    assert!(!out.join("ctx/docs/drop.md").exists());
}
