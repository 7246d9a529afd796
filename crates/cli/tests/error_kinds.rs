//! A client tells failures apart: a Dockerfile error, a missing base image, refused
//! registry credentials, a full disk, a cancelled build and a daemon that went away
//! each end with their own exit code and message, embedded and through hearthd alike.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hearth_testkit::{Hearthd, Registry};
use support::Env;

/// Where a build runs: in-process, or in a hearthd started for the test.
enum Mode {
    Embedded,
    Daemon(Hearthd),
}

impl Mode {
    fn daemon(env: &Env, root: &Path) -> Self {
        let socket = env.work.path().join("hearthd.sock");
        let daemon = Hearthd::start(root, &socket, Some(&env.config))
            .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"));
        Self::Daemon(daemon)
    }

    fn build(&self, env: &Env, root: &Path, ctx: &Path) -> Command {
        let mut args = vec!["build".to_owned(), "--progress=plain".to_owned()];
        if let Self::Daemon(daemon) = self {
            args.push(format!("--addr={}", daemon.address()));
        }
        args.push(ctx.to_str().unwrap().to_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = env.hearth(root, &args);
        cmd.env_remove("HEARTH_HOST");
        cmd
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Daemon(_) => "hearthd",
        }
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_failure(output: &Output, code: i32, says: &[&str], case: &str) {
    let message = text(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{case}: exit status {}:\n{message}",
        output.status
    );
    for words in says {
        assert!(
            message.contains(words),
            "{case}: no {words:?} in:\n{message}"
        );
    }
}

/// Both modes of one failure: the client in-process, then through hearthd.
fn in_both_modes(
    env: &Env,
    case: &str,
    run: impl Fn(&Mode, &Path) -> Output,
    check: impl Fn(&Output, &str),
) {
    let embedded_root = env.work.path().join(format!("{case}-embedded"));
    check(
        &run(&Mode::Embedded, &embedded_root),
        &format!("{case} (embedded)"),
    );
    let daemon = Mode::daemon(env, &env.work.path().join(format!("{case}-daemon")));
    let client_root = env.work.path().join(format!("{case}-client"));
    check(
        &run(&daemon, &client_root),
        &format!("{case} ({})", daemon.name()),
    );
}

#[test]
fn a_dockerfile_error_is_invalid_input() {
    let env = Env::new();
    let ctx = env.dir("ctx", &[("Dockerfile", "FROM busybox\nFRM busybox\n")]);
    in_both_modes(
        &env,
        "dockerfile",
        |mode, root| mode.build(&env, root, &ctx).output().unwrap(),
        |out, case| assert_failure(out, 3, &["Dockerfile:2", "unknown instruction"], case),
    );
}

#[test]
fn a_missing_base_image_is_not_found() {
    let env = Env::new();
    let ctx = env.dir("ctx", &[("Dockerfile", "FROM no-such-image:1\nRUN true\n")]);
    in_both_modes(
        &env,
        "missing",
        |mode, root| mode.build(&env, root, &ctx).output().unwrap(),
        |out, case| assert_failure(out, 4, &["not found", "hint: check the name"], case),
    );
}

#[test]
fn refused_registry_credentials_are_unauthorized() {
    let env = Env::new();
    let private = Registry::start_with_basic_auth("ci", "right-password")
        .unwrap_or_else(|e| panic!("the test needs a registry: {e}"));
    let host = private.addr().to_owned();
    // A stored login whose password the registry refuses.
    let docker_config = env.work.path().join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    let auth = base64_of("ci:wrong-password");
    std::fs::write(
        docker_config.join("config.json"),
        format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{auth}\"}}}}}}"),
    )
    .unwrap();
    let ctx = env.dir(
        "ctx",
        &[("Dockerfile", &format!("FROM {host}/private/base:1\n"))],
    );
    in_both_modes(
        &env,
        "unauthorized",
        |mode, root| {
            let mut cmd = mode.build(&env, root, &ctx);
            cmd.env("DOCKER_CONFIG", &docker_config);
            cmd.output().unwrap()
        },
        |out, case| {
            assert_failure(
                out,
                5,
                &[&host, "hint: the registry refused the credentials"],
                case,
            );
            assert!(
                !text(out).contains("wrong-password"),
                "{case}: the password was printed"
            );
        },
    );
}

/// Standard base64 of ASCII text, for docker's `auth` field.
fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: PathBuf, size: &str) -> Self {
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs (the test runs as root)");
        Self(path)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_resource_exhaustion() {
    let env = Env::new();
    // The context is copied into the state directory, which has room for busybox only.
    let big = "x".repeat(24 << 20);
    let ctx = env.dir(
        "ctx",
        &[
            ("Dockerfile", "FROM busybox\nCOPY big /big\n"),
            ("big", &big),
        ],
    );
    let embedded = Tmpfs::mount(env.work.path().join("full-embedded"), "12m");
    let out = Mode::Embedded
        .build(&env, &embedded.0, &ctx)
        .output()
        .unwrap();
    assert_failure(
        &out,
        6,
        &["No space left on device", "hint: the disk or quota ran out"],
        "full disk (embedded)",
    );

    let daemon_root = Tmpfs::mount(env.work.path().join("full-daemon"), "12m");
    let daemon = Mode::daemon(&env, &daemon_root.0);
    let out = daemon
        .build(&env, &env.work.path().join("client"), &ctx)
        .output()
        .unwrap();
    drop(daemon);
    assert_failure(
        &out,
        6,
        &["No space left on device", "hint: the disk or quota ran out"],
        "full disk (hearthd)",
    );
}

/// The step prints a line its command text does not contain, then runs until stopped.
const LONG_STEP: &str = "FROM busybox\nRUN echo step-$((40+2))-running && sleep 600\n";
const RUNNING: &str = "step-42-running";

/// Starts a build of [`LONG_STEP`], waits until its step runs, calls `stop`, and
/// returns the exit code and everything the client printed.
fn stop_while_running(mut cmd: Command, stop: impl FnOnce(u32)) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let running = line.contains(RUNNING) && !line.contains("RUN echo");
        seen.push(line);
        if running {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains(RUNNING)),
        "the step never started:\n{}",
        seen.join("\n")
    );
    stop(child.id());
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    // Only a safety net: the client normally ends within seconds.
    let give_up = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    seen.extend(rest.join().unwrap());
    (status.code(), seen.join("\n"))
}

fn send(signal: &str, pid: u32) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn a_cancelled_build_exits_with_the_signal() {
    let env = Env::new();
    let ctx = env.dir("ctx", &[("Dockerfile", LONG_STEP)]);
    let root = env.work.path().join("embedded");
    let (code, said) = stop_while_running(Mode::Embedded.build(&env, &root, &ctx), |pid| {
        send("INT", pid)
    });
    assert_eq!(code, Some(130), "embedded:\n{said}");
    assert!(
        said.contains("build canceled by SIGINT"),
        "embedded:\n{said}"
    );

    let daemon = Mode::daemon(&env, &env.work.path().join("daemon"));
    let client = env.work.path().join("client");
    let (code, said) =
        stop_while_running(daemon.build(&env, &client, &ctx), |pid| send("TERM", pid));
    assert_eq!(code, Some(143), "hearthd:\n{said}");
    assert!(
        said.contains("build canceled by SIGTERM"),
        "hearthd:\n{said}"
    );
}

#[test]
fn a_daemon_that_went_away_is_unavailable() {
    let env = Env::new();
    let ctx = env.dir("ctx", &[("Dockerfile", LONG_STEP)]);
    let Mode::Daemon(mut daemon) = Mode::daemon(&env, &env.work.path().join("daemon")) else {
        unreachable!()
    };
    let addr = daemon.address();
    let client = env.work.path().join("client");
    let mut cmd = env.hearth(
        &client,
        &[
            "build",
            "--progress=plain",
            &format!("--addr={addr}"),
            ctx.to_str().unwrap(),
        ],
    );
    cmd.env_remove("HEARTH_HOST");
    let (code, said) = stop_while_running(cmd, |_| daemon.kill());
    assert_eq!(code, Some(7), "{said}");
    assert!(
        said.contains("hint: a service the build needs (hearthd or a registry)"),
        "{said}"
    );
}
