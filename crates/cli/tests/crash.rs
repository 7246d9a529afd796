//! SIGKILL at random moments of RUN steps and of the export never leaves the store
//! unusable: the next build succeeds and makes the same image as a clean build.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use rand::Rng;
use support::{Env, image_digest};

fn as_str(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

const DOCKERFILE: &str = "\
FROM busybox
COPY data.txt /data.txt
RUN for i in $(seq 1 40); do echo line $i >> /lines; sleep 0.01; done
RUN yes hearth | head -c 30000000 > /big && sleep 0.2
RUN mkdir -p /out && for i in $(seq 1 300); do echo $i > /out/f$i; done
CMD [\"cat\", \"/data.txt\"]
";

#[test]
fn sigkill_during_run_and_export_leaves_a_store_that_rebuilds_the_same_image() {
    let env = Env::new();
    let ctx = env.dir(
        "ctx",
        &[("Dockerfile", DOCKERFILE), ("data.txt", "payload\n")],
    );
    let out = env.work.path().join("image.tar");
    let metadata = env.work.path().join("metadata.json");
    let out_arg = format!("type=oci,dest={},rewrite-timestamp=true", out.display());
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "build",
            "--progress",
            "plain",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
            "-o",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push(out_arg.clone());
        a.push("--metadata-file".into());
        a.push(metadata.display().to_string());
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push(ctx.display().to_string());
        a
    };

    let clean_root = env.work.path().join("clean-root");
    env.hearth_ok(&clean_root, &as_str(&args(&[])));
    let clean = image_digest(&metadata);

    let root = env.work.path().join("root");
    let mut rng = rand::rng();
    let mut killed = 0;
    for round in 0..10 {
        // Alternate the phase the kill aims at; within it, a random delay.
        let trigger = if round % 2 == 0 {
            "RUN "
        } else {
            "exporting to image"
        };
        let delay = Duration::from_millis(rng.random_range(0..400));
        let mut child = env
            .hearth(&root, &as_str(&args(&["--no-cache"])))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut seen = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let hit = line.contains(trigger);
            seen.push(line);
            if hit {
                std::thread::sleep(delay);
                let _ = child.kill();
                break;
            }
        }
        let status = child.wait().unwrap();
        if status.signal() == Some(9) {
            killed += 1;
        } else {
            assert!(
                status.success(),
                "round {round}: the build failed on its own:\n{}",
                seen.join("\n")
            );
        }

        let after = env.hearth(&root, &as_str(&args(&[]))).output().unwrap();
        assert!(
            after.status.success(),
            "round {round}: the build after a SIGKILL ({trigger} + {delay:?}) failed:\n{}",
            String::from_utf8_lossy(&after.stderr)
        );
        assert_eq!(
            image_digest(&metadata),
            clean,
            "round {round}: a different image after the SIGKILL"
        );
    }
    assert!(
        killed >= 8,
        "only {killed} of 10 builds were killed before they finished; the test did not exercise crashes"
    );
}
