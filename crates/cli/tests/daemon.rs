//! `hearth build` through a real hearthd process: the image is the one the embedded engine
//! makes (same digest), outputs arrive on the client, secrets stay on the client, and an
//! unchanged context sends no file bytes the second time.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::Path;

use hearth_testkit::Hearthd;
use support::{Env, image_digest, info_value};

const SECRET: &str = "daemon-s3cret-value";

fn files_containing(root: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in walkdir::WalkDir::new(root).into_iter().flatten() {
        if entry.file_type().is_file()
            && let Ok(bytes) = std::fs::read(entry.path())
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(entry.path().display().to_string());
        }
    }
    hits
}

#[test]
fn a_daemon_build_matches_the_embedded_one_and_resends_nothing() {
    let env = Env::new();
    // The step checks the secret by its hash, so the Dockerfile does not hold it.
    let hash = hearth_core::Digest::of(SECRET.as_bytes());
    let dockerfile = format!(
        "FROM busybox AS build\nCOPY src/ /src/\nRUN --mount=type=secret,id=tok test \"$(sha256sum /run/secrets/tok | cut -d' ' -f1)\" = \"{}\" && cat /src/*.txt > /joined\n\nFROM busybox\nCOPY --from=build /joined /joined\nCMD [\"cat\", \"/joined\"]\n",
        hash.hex()
    );
    let ctx = env.dir(
        "ctx",
        &[
            ("Dockerfile", &dockerfile),
            ("src/a.txt", "alpha\n"),
            ("src/b.txt", "beta\n"),
            ("ignored.log", "not sent\n"),
            (".dockerignore", "*.log\n"),
        ],
    );
    let secret_file = env.work.path().join("tok");
    std::fs::write(&secret_file, SECRET).unwrap();
    let socket = env.work.path().join("hearthd.sock");
    let daemon_root = env.work.path().join("daemon-root");
    let daemon = Hearthd::start(&daemon_root, &socket, Some(&env.config))
        .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"));
    let addr = daemon.address();

    let build = |root: &Path, out: &str, remote: bool| {
        let meta = env.work.path().join(format!("{out}.json"));
        let archive = env.work.path().join(format!("{out}.tar"));
        let mut args = vec![
            "build".to_owned(),
            "--progress=plain".to_owned(),
            "--build-arg=SOURCE_DATE_EPOCH=1700000000".to_owned(),
            format!("--secret=id=tok,src={}", secret_file.display()),
            format!("--metadata-file={}", meta.display()),
            format!(
                "--output=type=docker,dest={},rewrite-timestamp=true",
                archive.display()
            ),
        ];
        if remote {
            args.push(format!("--addr={addr}"));
        }
        args.push(ctx.to_str().unwrap().to_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.hearth_ok(root, &args);
        (
            image_digest(&meta),
            archive,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (remote_digest, remote_archive, log) =
        build(&env.work.path().join("unused"), "remote", true);
    assert!(
        remote_archive.is_file(),
        "the client wrote the daemon's output"
    );
    assert!(log.contains("[internal] load build context"), "{log}");
    assert!(log.contains("bytes from the client"), "{log}");
    let (embedded_digest, _, _) = build(&env.work.path().join("embedded-root"), "embedded", false);
    assert_eq!(
        remote_digest, embedded_digest,
        "both paths build the same image"
    );

    // Unchanged: the client hashes nothing and the daemon asks for no bytes.
    let (again, _, log) = build(&env.work.path().join("unused"), "again", true);
    assert_eq!(again, remote_digest);
    assert!(log.contains("hashed 0 changed files"), "{log}");
    assert!(log.contains("0 changed (0 bytes from the client)"), "{log}");
    assert!(
        !log.contains("files from the client"),
        "nothing fetched:\n{log}"
    );

    // The secret went to the step, never to the daemon's disk; ignored files never left.
    assert!(files_containing(&daemon_root, SECRET.as_bytes()).is_empty());
    assert!(files_containing(&daemon_root, b"not sent").is_empty());
    assert!(daemon.log().contains("is ready"));
}

#[test]
fn eight_clients_at_once_share_one_run_of_their_common_step() {
    let env = Env::new();
    let socket = env.work.path().join("hearthd.sock");
    let root = env.work.path().join("daemon-root");
    let mut daemon = Hearthd::start(&root, &socket, Some(&env.config))
        .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"));
    let addr = daemon.address();
    // Every client shares the slow first RUN; each adds a step of its own.
    let contexts: Vec<_> = (0..8)
        .map(|i| {
            env.dir(
                &format!("ctx{i}"),
                &[(
                    "Dockerfile",
                    &format!(
                        "FROM busybox AS base\nRUN sleep 2 && echo shared > /shared\n\nFROM base\nRUN echo client-{i} > /mine\n"
                    ),
                )],
            )
        })
        .collect();
    let before = info_value(&env, &addr, "Containers run");
    let children: Vec<_> = contexts
        .iter()
        .map(|ctx| {
            env.hearth(
                &env.work.path().join("unused"),
                &[
                    "build",
                    "--progress=plain",
                    &format!("--addr={addr}"),
                    ctx.to_str().unwrap(),
                ],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a client failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            daemon.log()
        );
    }
    let after = info_value(&env, &addr, "Containers run");
    assert_eq!(
        after - before,
        9,
        "one shared RUN and eight of their own:\n{}",
        daemon.log()
    );

    // Stopped cleanly, the store checks out.
    let status = daemon
        .terminate(std::time::Duration::from_secs(30))
        .unwrap();
    assert!(status.success(), "hearthd exit: {status}\n{}", daemon.log());
    let verify = env.hearth_ok(&root, &["debug", "verify"]);
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(said.trim_end().ends_with("ok"), "{said}");
}

#[test]
fn sigkill_of_the_daemon_mid_build_never_corrupts_its_root() {
    use rand::Rng;
    let env = Env::new();
    let socket = env.work.path().join("hearthd.sock");
    let root = env.work.path().join("daemon-root");
    let mut daemon = Hearthd::start(&root, &socket, Some(&env.config))
        .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"));
    let addr = daemon.address();
    let ctx = env.dir(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\nARG ROUND\nCOPY data/ /data/\nRUN echo $ROUND > /round && sleep 0.3 && cp -r /data /copy\nRUN sha256sum /copy/* > /sums\n",
            ),
            ("data/a", &"a".repeat(200_000)),
            ("data/b", &"b".repeat(300_000)),
        ],
    );
    let mut rng = rand::rng();
    let mut killed_mid_build = 0;
    for round in 0..10 {
        let client = env
            .hearth(
                &env.work.path().join("unused"),
                &[
                    "build",
                    "--progress=plain",
                    &format!("--addr={addr}"),
                    &format!("--build-arg=ROUND={round}"),
                    "--output=type=tar,dest=-",
                    ctx.to_str().unwrap(),
                ],
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(
            rng.random_range(150..1200),
        ));
        daemon.kill();
        let out = client.wait_with_output().unwrap();
        if !out.status.success() {
            killed_mid_build += 1;
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("hearthd"),
                "the client says the daemon went away: {err}"
            );
        }
        daemon
            .restart()
            .unwrap_or_else(|e| panic!("round {round}: hearthd did not come back: {e}"));
    }
    assert!(
        killed_mid_build >= 5,
        "only {killed_mid_build} of 10 kills hit a build"
    );

    // The next build on the recovered root succeeds.
    env.hearth_ok(
        &env.work.path().join("unused"),
        &[
            "build",
            "--progress=plain",
            &format!("--addr={addr}"),
            "--build-arg=ROUND=final",
            ctx.to_str().unwrap(),
        ],
    );
    daemon
        .terminate(std::time::Duration::from_secs(30))
        .unwrap();
    let verify = env.hearth_ok(&root, &["debug", "verify"]);
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(said.trim_end().ends_with("ok"), "{said}");
}

#[test]
fn tcp_is_served_only_with_mutual_tls() {
    let env = Env::new();
    let tls = hearth_testkit::tls_files().unwrap_or_else(|e| panic!("certificates: {e}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = env.work.path().join("daemon-root");
    let base = std::fs::read_to_string(&env.config).unwrap();
    // Without [grpc.tls], hearthd refuses a TCP listener.
    let plain = env.work.path().join("plain.toml");
    std::fs::write(
        &plain,
        format!("[grpc]\n  address = [\"tcp://127.0.0.1:{port}\"]\n\n{base}"),
    )
    .unwrap();
    let err = Hearthd::start_with(
        &root,
        &env.work.path().join("plain.sock"),
        Some(&plain),
        &[],
    )
    .err()
    .expect("hearthd must not serve plain TCP");
    assert!(err.contains("without mutual TLS"), "{err}");

    let config = env.work.path().join("tls.toml");
    std::fs::write(
        &config,
        format!(
            "[grpc]\n  address = [\"tcp://127.0.0.1:{port}\"]\n  [grpc.tls]\n    cert = \"{}\"\n    key = \"{}\"\n    ca = \"{}\"\n\n{base}",
            tls.server_cert.display(),
            tls.server_key.display(),
            tls.ca_cert.display()
        ),
    )
    .unwrap();
    let _daemon = Hearthd::start_with(&root, &env.work.path().join("tls.sock"), Some(&config), &[])
        .unwrap_or_else(|e| panic!("hearthd over TLS: {e}"));
    let addr = format!("tcp://127.0.0.1:{port}");
    let info = |cert: &Path, key: &Path| {
        env.hearth(
            &env.work.path().join("unused"),
            &[
                "debug",
                "info",
                &format!("--addr={addr}"),
                &format!("--tlscacert={}", tls.ca_cert.display()),
                &format!("--tlscert={}", cert.display()),
                &format!("--tlskey={}", key.display()),
            ],
        )
        .output()
        .unwrap()
    };
    let out = info(&tls.client_cert, &tls.client_key);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("daemon at {addr}")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A client certificate from another CA is refused.
    let stranger = hearth_testkit::tls_files().unwrap();
    let out = info(&stranger.client_cert, &stranger.client_key);
    assert!(
        !out.status.success(),
        "a foreign client certificate was accepted: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error:") && err.contains("hearthd"), "{err}");
}
