//! `hearth build` through a real hearthd process: the image is the one the embedded engine
//! makes (same digest), outputs arrive on the client, secrets stay on the client, and an
//! unchanged context sends no file bytes the second time.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::Path;

use hearth_testkit::Hearthd;
use support::{Env, image_digest};

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
