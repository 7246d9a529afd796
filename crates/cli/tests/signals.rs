//! An embedded build that gets SIGHUP (its terminal closed) or SIGTERM during a RUN step
//! stops as it does on Ctrl-C: the step's container is killed and its mounts released
//! before hearth exits with 128 plus the signal's number, saying which signal it was.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Env;

/// The step prints a line its command text does not contain, then runs until killed.
const DOCKERFILE: &str = "FROM busybox\nRUN echo step-$((40+2))-running && sleep 600\n";
const RUNNING: &str = "step-42-running";

/// Containers runc knows under the state root.
fn containers(root: &Path) -> Vec<String> {
    let out = Command::new("runc")
        .arg("--root")
        .arg(root.join("v1/runc"))
        .args(["list", "-q"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Mount points under the state root, deepest first.
fn mounts(root: &Path) -> Vec<PathBuf> {
    let root = root.canonicalize().unwrap();
    let mut found: Vec<PathBuf> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(&root))
        .collect();
    found.reverse();
    found
}

/// Removes what a build that did not clean up left, so a failing run leaves no
/// container running for ten minutes and no mount behind.
fn clean_up(root: &Path) {
    for id in containers(root) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(root.join("v1/runc"))
            .args(["delete", "--force", &id])
            .status();
    }
    for mount in mounts(root) {
        let _ = Command::new("umount").arg("-l").arg(&mount).status();
    }
}

fn stops_like_ctrl_c(signal: &str, number: i32) {
    let env = Env::new();
    let ctx = env.dir("ctx", &[("Dockerfile", DOCKERFILE)]);
    let root = env.work.path().join("root");
    let mut child = env
        .hearth(
            &root,
            &["build", "--progress", "plain", ctx.to_str().unwrap()],
        )
        .env_remove("HEARTH_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let running = line.contains(RUNNING);
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
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    // Only a safety net: the build normally ends within a second or two.
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let give_up = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    seen.extend(rest.join().unwrap());
    let left_containers = containers(&root);
    let left_mounts = mounts(&root);
    clean_up(&root);

    let output = seen.join("\n");
    let status =
        status.unwrap_or_else(|| panic!("hearth did not exit after SIG{signal}:\n{output}"));
    let mut wrong = Vec::new();
    if status.code() != Some(128 + number) {
        wrong.push(format!("exit status {status}, not {}", 128 + number));
    }
    if !output.contains(&format!("error: build canceled by SIG{signal}")) {
        wrong.push("no message naming the signal".to_owned());
    }
    if !left_containers.is_empty() {
        wrong.push(format!("containers left: {left_containers:?}"));
    }
    if !left_mounts.is_empty() {
        wrong.push(format!("mounts left: {left_mounts:?}"));
    }
    assert!(
        wrong.is_empty(),
        "after SIG{signal}: {}\n{output}",
        wrong.join("; ")
    );
}

#[test]
fn sighup_stops_a_running_build_and_cleans_up() {
    stops_like_ctrl_c("HUP", 1);
}

#[test]
fn sigterm_stops_a_running_build_and_cleans_up() {
    stops_like_ctrl_c("TERM", 15);
}
