//! A build context of any size reaches a real hearthd: the client sends its listing in
//! bounded chunks (one gRPC message is limited to 4 MiB, about 40,000 entries), and the
//! daemon asks for the contents in bounded batches.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use hearth_testkit::Hearthd;
use support::Env;

const FILES: usize = 100_000;
/// Distinct contents among the files. Every file is listed and synced; the daemon asks
/// for each distinct content once, in several `NeedFiles` batches. (Not one content per
/// file: the worker's sync plan, `hearth_worker::remote`, looks each digest up in a
/// list, quadratic in the contents fetched, which would make this test take minutes.)
const CONTENTS: usize = 20_000;

#[test]
fn a_hundred_thousand_file_context_builds_through_hearthd() {
    let env = Env::new();
    let ctx = env.dir(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox AS count\nCOPY files/ /ctx/\nRUN ls /ctx | wc -l > /count && cat /ctx/f099999\n\nFROM scratch\nCOPY --from=count /count /count\n",
        )],
    );
    let files = ctx.join("files");
    std::fs::create_dir(&files).unwrap();
    for i in 0..FILES {
        std::fs::write(
            files.join(format!("f{i:06}")),
            format!("content {}\n", i % CONTENTS),
        )
        .unwrap();
    }
    let daemon = Hearthd::start(
        &env.work.path().join("daemon-root"),
        &env.work.path().join("hearthd.sock"),
        Some(&env.config),
    )
    .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"));
    let out_dir = env.work.path().join("out");
    let output = env.hearth_ok(
        &env.work.path().join("unused"),
        &[
            "build",
            "--progress=plain",
            &format!("--addr={}", daemon.address()),
            &format!("--output=type=local,dest={}", out_dir.display()),
            ctx.to_str().unwrap(),
        ],
    );
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains(&format!("listed {} entries", FILES + 2)),
        "the files, their directory and the Dockerfile:\n{log}"
    );
    assert!(
        log.contains(&format!("content {}", (FILES - 1) % CONTENTS)),
        "the last file arrived:\n{log}"
    );
    assert!(
        // Only what COPY reads is synced: the files, not the Dockerfile.
        log.contains(&format!(
            "transferring context: {CONTENTS} files from the client"
        )),
        "{log}"
    );
    let count = std::fs::read_to_string(out_dir.join("count")).unwrap();
    assert_eq!(count.trim(), FILES.to_string());
}
