//! The SSH fixtures against real OpenSSH and git: a key only the agent holds clones the
//! sshd's repository, nothing else can, and the server's log tells ref listings from
//! fetches.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use hearth_testkit::{GitCallKind, SshAgent, Sshd, require};

/// `git` with no configuration but its own, `HOME` in `home` (so no `~/.ssh` key can
/// stand in for the agent), the agent's socket or none, and ssh checking the host
/// against the fixture's `known_hosts` without ever prompting.
fn git(home: &Path, agent: Option<&SshAgent>, args: &[&str]) -> Output {
    let mut command = Command::new(require("git", "git").unwrap());
    command
        .args(args)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env(
            "GIT_SSH_COMMAND",
            format!(
                "ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout=10 \
                 -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
                home.join("known_hosts").display()
            ),
        )
        .env_remove("SSH_AUTH_SOCK");
    if let Some(agent) = agent {
        command.env("SSH_AUTH_SOCK", agent.socket());
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn start() -> (SshAgent, Sshd, tempfile::TempDir) {
    let agent = SshAgent::start().unwrap();
    let sshd = Sshd::start(
        agent.public_key(),
        &[("README", b"hello\n"), ("sub/a.txt", b"first\n")],
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    sshd.write_known_hosts(&home.path().join("known_hosts"))
        .unwrap();
    (agent, sshd, home)
}

#[test]
fn the_agents_key_clones_and_the_log_counts_one_fetch() {
    let (agent, sshd, home) = start();
    let dest = home.path().join("clone");
    let out = git(
        home.path(),
        Some(&agent),
        &["clone", "-q", &sshd.url(), dest.to_str().unwrap()],
    );
    assert!(out.status.success(), "clone failed: {}", stderr(&out));
    assert_eq!(std::fs::read(dest.join("README")).unwrap(), b"hello\n");
    assert_eq!(std::fs::read(dest.join("sub/a.txt")).unwrap(), b"first\n");

    let calls = sshd.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].kind, GitCallKind::Fetch, "{calls:?}");
    assert!(
        calls[0].command.starts_with("git-upload-pack "),
        "{calls:?}"
    );
    assert!(
        sshd.log().contains("Accepted publickey for root"),
        "{}",
        sshd.log()
    );
}

#[test]
fn without_the_agent_the_clone_is_refused_before_any_git_runs() {
    let (_agent, sshd, home) = start();
    let dest = home.path().join("clone");
    let out = git(
        home.path(),
        None,
        &["clone", "-q", &sshd.url(), dest.to_str().unwrap()],
    );
    assert!(!out.status.success(), "clone without the agent succeeded");
    assert!(
        stderr(&out).contains("Permission denied (publickey)"),
        "{}",
        stderr(&out)
    );
    assert!(sshd.calls().is_empty(), "{:?}", sshd.calls());
}

#[test]
fn ls_remote_is_a_ref_listing_and_a_new_commit_shows_up() {
    let (agent, sshd, home) = start();
    let first = sshd.head().unwrap();
    let out = git(
        home.path(),
        Some(&agent),
        &["ls-remote", &sshd.url(), "main"],
    );
    assert!(out.status.success(), "ls-remote failed: {}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{first}\trefs/heads/main\n")
    );
    assert_eq!((sshd.ref_listings(), sshd.fetches()), (1, 0));

    let second = sshd
        .commit(&[("sub/a.txt", b"second\n")], "change a.txt")
        .unwrap();
    assert_ne!(first, second);
    let out = git(
        home.path(),
        Some(&agent),
        &["ls-remote", &sshd.url(), "main"],
    );
    assert!(out.status.success(), "ls-remote failed: {}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{second}\trefs/heads/main\n")
    );

    let dest = home.path().join("clone");
    let out = git(
        home.path(),
        Some(&agent),
        &["clone", "-q", &sshd.url(), dest.to_str().unwrap()],
    );
    assert!(out.status.success(), "clone failed: {}", stderr(&out));
    assert_eq!(std::fs::read(dest.join("sub/a.txt")).unwrap(), b"second\n");
    assert_eq!(std::fs::read(dest.join("README")).unwrap(), b"hello\n");
    assert_eq!((sshd.ref_listings(), sshd.fetches()), (2, 1));
}

#[test]
fn the_key_lives_only_in_the_agent() {
    let agent = SshAgent::start().unwrap();
    let listed = Command::new(require("ssh-add", "openssh-client").unwrap())
        .arg("-L")
        .env("SSH_AUTH_SOCK", agent.socket())
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        agent.public_key()
    );
    assert!(agent.public_key().ends_with(agent.comment()));

    let dir = agent.socket().parent().unwrap();
    let needles = agent.secret_needles().unwrap();
    // Four full base64 lines of the file, the seed raw and in base64, the comment.
    assert!(needles.len() >= 5, "{needles:?}");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path == agent.socket() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for needle in &needles[..needles.len() - 1] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{} holds the private key",
                path.display()
            );
        }
    }
    assert!(
        String::from_utf8_lossy(agent.private_key())
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
    );
}

#[test]
fn protocol_v0_listings_and_fetches_are_told_apart_too() {
    let (agent, sshd, home) = start();
    let v0 = ["-c", "protocol.version=0"];
    let out = git(
        home.path(),
        Some(&agent),
        &[&v0[..], &["ls-remote", &sshd.url()]].concat(),
    );
    assert!(out.status.success(), "ls-remote failed: {}", stderr(&out));
    assert_eq!((sshd.ref_listings(), sshd.fetches()), (1, 0));

    let dest = home.path().join("clone");
    let out = git(
        home.path(),
        Some(&agent),
        &[
            &v0[..],
            &["clone", "-q", &sshd.url(), dest.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(out.status.success(), "clone failed: {}", stderr(&out));
    assert_eq!((sshd.ref_listings(), sshd.fetches()), (1, 1));
}
