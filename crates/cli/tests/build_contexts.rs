//! `hearth build --build-context` from the command line, embedded and through a real
//! hearthd: an image context replaces a stage either way; a directory context is refused
//! through the daemon (directories do not travel yet) with a message naming the way out.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use hearth_testkit::Hearthd;
use support::Env;

const DOCKERFILE: &str = "\
FROM scratch AS tools
COPY Dockerfile /never

FROM busybox
COPY --from=tools /bin/busybox /bb
";

#[test]
fn an_image_context_replaces_a_stage_embedded_and_through_the_daemon() {
    let env = Env::new();
    let ctx = env.dir("ctx", &[("Dockerfile", DOCKERFILE)]);
    let socket = env.work.path().join("hearthd.sock");
    let daemon = Hearthd::start(
        &env.work.path().join("daemon-root"),
        &socket,
        Some(&env.config),
    )
    .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"));
    let image = format!(
        "tools=docker-image://{}/library/busybox:latest",
        env.registry.addr()
    );
    for (label, remote) in [("embedded", false), ("daemon", true)] {
        let out = env.work.path().join(format!("{label}-out"));
        let mut args = vec![
            "build".to_owned(),
            format!("--build-context={image}"),
            format!("--output=type=local,dest={}", out.display()),
        ];
        if remote {
            args.push(format!("--addr={}", daemon.address()));
        }
        args.push(ctx.to_str().unwrap().to_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env.hearth_ok(&env.work.path().join("root"), &args);
        assert_eq!(
            std::fs::read(out.join("bb")).unwrap(),
            std::fs::read("/bin/busybox").unwrap(),
            "{label}"
        );
        assert!(!out.join("never").exists(), "{label}");
    }

    let dir = env.dir("tools-dir", &[("bin/busybox", "not really\n")]);
    let refused = env
        .hearth(
            &env.work.path().join("unused"),
            &[
                "build",
                &format!("--build-context=tools={}", dir.display()),
                &format!("--addr={}", daemon.address()),
                ctx.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(
        text.contains("not sent to hearthd yet") && text.contains("docker-image://"),
        "{text}"
    );
}
