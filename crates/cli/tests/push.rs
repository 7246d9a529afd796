//! `hearth build --push` against a real Distribution registry: skopeo reads what was
//! pushed, dockerd pulls and runs it, an unchanged push uploads nothing, and a push to a
//! second repository of the same registry mounts instead of uploading (requests counted in
//! the registry's access log).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::process::Command;

use support::Env;

/// A fixed creation time, so that rebuilding gives the same image (as with BuildKit,
/// the config's `created` is otherwise the build's time).
const EPOCH: &str = "SOURCE_DATE_EPOCH=1700000000";

fn skopeo(args: &[&str]) -> std::process::Output {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn a_pushed_image_is_read_by_skopeo_and_run_by_docker_and_pushes_again_for_free() {
    let env = Env::new();
    let reg = env.registry.addr().to_owned();
    // The base named by its own registry (not through the docker.io mirror), so its
    // blobs are known to live in this registry.
    let dockerfile = format!(
        "FROM {reg}/library/busybox\nCOPY note.txt /note.txt\nENV WHO=registry\nLABEL team=hearth\nCMD [\"sh\", \"-c\", \"cat /note.txt; echo pulled from the $WHO\"]\n"
    );
    let ctx = env.dir(
        "ctx",
        &[
            ("Dockerfile", &dockerfile),
            ("note.txt", "pushed by hearth\n"),
        ],
    );
    let root = env.work.path().join("root");
    let app = format!("{reg}/team/app:1");
    // The test's setup pushed busybox itself.
    let baseline = env.registry.blob_uploads();
    let output = env.hearth_ok(
        &root,
        &[
            "build",
            "--progress",
            "plain",
            "--build-arg",
            EPOCH,
            "--push",
            "-t",
            &app,
            ctx.to_str().unwrap(),
        ],
    );
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("pushing layers"), "{log}");
    assert!(
        log.contains(&format!("pushing manifest for {app}@sha256:")),
        "{log}"
    );
    // busybox's layer was pulled from this registry, so it is mounted, not uploaded:
    // only the new COPY layer and the config travel.
    assert!(log.contains("mounted from library/busybox"), "{log}");
    assert_eq!(
        env.registry.blob_uploads(),
        baseline + 2,
        "{:?}",
        env.registry.requests()
    );

    let inspected = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--config",
        &format!("docker://{app}"),
    ]);
    let config: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["sh", "-c", "cat /note.txt; echo pulled from the $WHO"])
    );
    assert_eq!(config["config"]["Labels"]["team"], "hearth");
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{app}"),
    ]);
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json",
        "docker media types by default"
    );
    // hearth's own view of what it pushed, against skopeo's.
    let shown = env.hearth_ok(&root, &["imagetools", "inspect", &app]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    let digest = hearth_core::Digest::of(&raw.stdout);
    assert!(shown.contains(&format!("Digest:    {digest}")), "{shown}");
    assert!(shown.contains("Platform:  linux/amd64"), "{shown}");
    assert!(shown.contains("Layers:"), "{shown}");
    let shown_raw = env.hearth_ok(&root, &["imagetools", "inspect", "--raw", &app]);
    assert_eq!(
        String::from_utf8_lossy(&shown_raw.stdout).trim_end(),
        String::from_utf8_lossy(&raw.stdout).trim_end()
    );
    let oci_dir = env.work.path().join("copied");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{app}"),
        &format!("oci:{}:copied", oci_dir.display()),
    ]);
    assert!(oci_dir.join("index.json").is_file());

    // Unchanged: every blob is already there.
    let before = env.registry.blob_uploads();
    env.hearth_ok(
        &root,
        &[
            "build",
            "--progress",
            "plain",
            "--build-arg",
            EPOCH,
            "--push",
            "-t",
            &app,
            ctx.to_str().unwrap(),
        ],
    );
    assert_eq!(
        env.registry.blob_uploads(),
        before,
        "a second push uploads nothing"
    );

    // Another repository of the same registry, from a new process: mounted from team/app.
    let other = format!("{reg}/other/app:1");
    let output = env.hearth_ok(
        &root,
        &[
            "build",
            "--progress",
            "plain",
            "--build-arg",
            EPOCH,
            "-o",
            &format!("type=image,name={other},push=true,oci-mediatypes=true"),
            ctx.to_str().unwrap(),
        ],
    );
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        env.registry.blob_uploads(),
        before,
        "the layers are mounted, not uploaded:\n{log}"
    );
    let mounts = env
        .registry
        .requests()
        .into_iter()
        .filter(|(m, p, s)| {
            m == "POST" && p.starts_with("/v2/other/app/") && p.contains("mount=") && *s == 201
        })
        .count();
    assert!(mounts >= 2, "{:?}", env.registry.requests());
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{other}"),
    ]);
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );

    let dockerd =
        hearth_testkit::Dockerd::start().unwrap_or_else(|e| panic!("the test needs dockerd: {e}"));
    let pull = dockerd.docker(&["pull", &app]).unwrap();
    assert!(
        pull.status.success(),
        "docker pull failed: {}\n{}",
        String::from_utf8_lossy(&pull.stderr),
        dockerd.log()
    );
    let run = dockerd
        .docker(&["run", "--rm", "--network", "none", &app])
        .unwrap();
    assert!(
        run.status.success(),
        "docker run failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "pushed by hearth\npulled from the registry\n"
    );
}

#[test]
fn push_without_a_name_and_an_unreachable_registry_explain_themselves() {
    let env = Env::new();
    let ctx = env.dir("ctx", &[("Dockerfile", "FROM busybox\nCMD [\"true\"]\n")]);
    let root = env.work.path().join("root");
    let out = env
        .hearth(
            &root,
            &[
                "build",
                "--progress",
                "plain",
                "--push",
                ctx.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pushing needs an image name"), "{err}");

    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("127.0.0.1:{port}/app:1");
    let out = env
        .hearth(
            &root,
            &[
                "build",
                "--progress",
                "plain",
                "--push",
                "-t",
                &target,
                ctx.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("failed to push {target}")), "{err}");
    assert!(err.contains("connection refused"), "{err}");
    assert!(err.contains("no tag was written"), "{err}");
}

#[test]
fn pull_then_push_moves_a_stored_image_between_repositories() {
    let env = Env::new();
    let reg = env.registry.addr().to_owned();
    let source = format!("{reg}/library/busybox:latest");
    let root = env.work.path().join("root");

    let out = env.hearth_ok(&root, &["pull", &source]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("Downloaded newer image"), "{said}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), source);
    let out = env.hearth_ok(&root, &["pull", &source]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Image is up to date"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let images = env.hearth_ok(&root, &["images"]);
    assert!(
        String::from_utf8_lossy(&images.stdout).contains(&format!("{reg}/library/busybox")),
        "{}",
        String::from_utf8_lossy(&images.stdout)
    );

    // A build tagged for this registry, pushed afterwards with `hearth push`: the busybox
    // layer is mounted from where it was pulled, only the new layer and config go up.
    let ctx = env.dir(
        "ctx",
        &[(
            "Dockerfile",
            &format!("FROM {source}\nRUN echo later > /later\n"),
        )],
    );
    let stored = format!("{reg}/later/app:2");
    env.hearth_ok(
        &root,
        &[
            "build",
            "--progress",
            "plain",
            "-t",
            &stored,
            ctx.to_str().unwrap(),
        ],
    );
    let before = env.registry.blob_uploads();
    let out = env.hearth_ok(&root, &["push", &stored]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("2 uploaded, 1 mounted, 0 already present"),
        "{said}"
    );
    assert_eq!(env.registry.blob_uploads(), before + 2);
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{stored}"),
    ]);

    let out = env
        .hearth(&root, &["push", &format!("{reg}/never/built:1")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no image named"), "{err}");
    assert!(err.contains("hearth images"), "{err}");
}
