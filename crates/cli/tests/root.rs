//! The state directory as users give it: a relative `--root` works like an absolute one.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use support::Env;

#[test]
fn a_relative_root_runs_steps() {
    let env = Env::new();
    let ctx = env.dir(
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN echo ran > /ran\n")],
    );
    let out = env.work.path().join("out");
    // runc reads the rootfs path from the bundle, relative to the bundle's directory: a
    // relative root used to make every RUN fail with "invalid rootfs".
    let output = env
        .hearth(
            std::path::Path::new("relative-root"),
            &[
                "build",
                "--progress=plain",
                &format!("--output=type=local,dest={}", out.display()),
                ctx.to_str().unwrap(),
            ],
        )
        .current_dir(env.work.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(std::fs::read_to_string(out.join("ran")).unwrap(), "ran\n");
    assert!(env.work.path().join("relative-root").is_dir());
}
