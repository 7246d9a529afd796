//! Garbage collection: hearthd's background collector keeps usage under `maxUsedSpace`
//! without touching what a running build uses; `hearth du` and `hearth prune --dry-run`
//! say what is there and why it stays.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::process::Stdio;

use hearth_testkit::Hearthd;
use support::Env;

/// Sum of record sizes `hearth du` reports, in bytes (from its verbose listing).
fn record_bytes(env: &Env, root: &std::path::Path, addr: Option<&str>) -> (u64, String) {
    let mut args = vec!["du", "--verbose"];
    let flag;
    if let Some(addr) = addr {
        flag = format!("--addr={addr}");
        args.push(&flag);
    }
    let out = env.hearth_ok(root, &args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ids = text.lines().filter(|l| l.starts_with("ID:")).count();
    let sizes: u64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("Size:"))
        .map(|s| parse_size(s.trim()))
        .sum();
    assert!(ids > 0 || sizes == 0, "{text}");
    (sizes, text)
}

/// docker's human sizes back to bytes (decimal units).
fn parse_size(s: &str) -> u64 {
    let (number, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = number.trim().parse().unwrap();
    let scale = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => panic!("unit {other}"),
    };
    (n * scale) as u64
}

#[test]
fn the_collector_keeps_usage_under_the_cap_and_spares_running_builds() {
    let env = Env::new();
    let config = env.work.path().join("gc.toml");
    let cap = 6_000_000u64;
    std::fs::write(
        &config,
        format!(
            "{}\n[worker.oci]\n  gc = true\n\n[[worker.oci.gcpolicy]]\n  all = true\n  maxUsedSpace = {cap}\n",
            std::fs::read_to_string(&env.config).unwrap()
        ),
    )
    .unwrap();
    let socket = env.work.path().join("hearthd.sock");
    let root = env.work.path().join("daemon-root");
    let mut daemon = Hearthd::start(&root, &socket, Some(&config))
        .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"));
    let addr = daemon.address();
    let unused = env.work.path().join("unused");
    let build = |name: &str, dockerfile: &str| {
        let ctx = env.dir(name, &[("Dockerfile", dockerfile)]);
        env.hearth(
            &unused,
            &[
                "build",
                "--progress=plain",
                &format!("--addr={addr}"),
                ctx.to_str().unwrap(),
            ],
        )
    };

    // A long build holds its base stage while others fill the store past the cap.
    let mut long = build(
        "long",
        "FROM busybox\nRUN head -c 2000000 /dev/urandom > /held\nRUN sleep 6 && test -s /held\n",
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    for i in 0..5 {
        let out = build(
            &format!("filler{i}"),
            &format!("FROM busybox\nRUN head -c 2000000 /dev/urandom > /filler{i}\n"),
        )
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let status = long.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(long.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        status.success(),
        "the running build kept what it used:\n{err}\n{}",
        daemon.log()
    );

    // The collector runs after every build; give the last run a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (used, text) = loop {
        let (used, text) = record_bytes(&env, &unused, Some(&addr));
        // The collector logs once its removals are done, which du may see first.
        let logged = daemon.log().contains("gc: pruned by policy");
        if (used <= cap && logged) || std::time::Instant::now() > deadline {
            break (used, text);
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    assert!(
        used <= cap,
        "records hold {used} bytes, cap {cap}:\n{text}\n{}",
        daemon.log()
    );
    assert!(
        daemon.log().contains("gc: pruned by policy"),
        "{}",
        daemon.log()
    );

    // Offline, the same store explains itself.
    daemon
        .terminate(std::time::Duration::from_secs(30))
        .unwrap();
    let out = env.hearth_ok(&root, &["prune", "--dry-run", "--keep-duration=1h"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("within keep-duration"), "{said}");
    assert!(said.contains("Total: would free 0B"), "{said}");
    let out = env.hearth_ok(&root, &["prune", "--all"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("removed "), "{said}");
    let (left, text) = record_bytes(&env, &root, None);
    assert_eq!(left, 0, "prune --all leaves nothing:\n{text}");
    let verify = env.hearth_ok(&root, &["debug", "verify"]);
    assert!(
        String::from_utf8_lossy(&verify.stdout)
            .trim_end()
            .ends_with("ok")
    );
}
