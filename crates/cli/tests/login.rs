//! `hearth login` / `logout` against a real registry with htpasswd basic auth, writing
//! docker's credential file in a private `DOCKER_CONFIG`; pushes use what login stored,
//! and a refused password is explained without ever being printed.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use hearth_testkit::Registry;
use support::Env;

const PASSWORD: &str = "s3cret-Passw0rd";

fn with_docker_config(mut cmd: Command, docker_config: &Path) -> Command {
    cmd.env("DOCKER_CONFIG", docker_config);
    cmd
}

fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn login_stores_what_push_uses_and_refusals_name_the_registry_without_the_secret() {
    let env = Env::new();
    let private = Registry::start_with_basic_auth("ci", PASSWORD)
        .unwrap_or_else(|e| panic!("the test needs a registry: {e}"));
    let host = private.addr().to_owned();
    let docker_config = env.work.path().join("docker-config");
    let root = env.work.path().join("root");
    let ctx = env.dir(
        "ctx",
        &[("Dockerfile", "FROM busybox\nCMD [\"echo\", \"private\"]\n")],
    );
    let target = format!("{host}/private/app:1");
    let push_args = [
        "build",
        "--progress",
        "plain",
        "--push",
        "-t",
        target.as_str(),
        ctx.to_str().unwrap(),
    ];

    // Not logged in: the refusal says how to log in.
    let out = with_docker_config(env.hearth(&root, &push_args), &docker_config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains(&format!("hearth login {host}")),
        "{message}"
    );

    // A wrong password is refused at login and nothing is stored.
    let out = run_with_stdin(
        with_docker_config(
            env.hearth(&root, &["login", "-u", "ci", "--password-stdin", &host]),
            &docker_config,
        ),
        "not-the-password\n",
    );
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains(&format!("login to {host} failed")),
        "{message}"
    );
    assert!(!message.contains("not-the-password"), "{message}");
    assert!(!docker_config.join("config.json").exists());

    // The right one is stored the way docker stores it.
    let out = run_with_stdin(
        with_docker_config(
            env.hearth(&root, &["login", "-u", "ci", "--password-stdin", &host]),
            &docker_config,
        ),
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(docker_config.join("config.json")).unwrap()).unwrap();
    let expected = {
        use std::process::Command;
        let out = Command::new("base64")
            .arg("-w0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(format!("ci:{PASSWORD}").as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(config["auths"][&host]["auth"], expected.as_str());

    // Push with the stored login.
    let out = with_docker_config(env.hearth(&root, &push_args), &docker_config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD));

    // Credentials that stopped working: which registry refused, how to log in again.
    std::fs::write(
        docker_config.join("config.json"),
        format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"Y2k6d3JvbmctcGFzc3dvcmQtNDI=\"}}}}}}"),
    )
    .unwrap();
    let out = with_docker_config(env.hearth(&root, &push_args), &docker_config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = text(&out);
    assert!(message.contains("push access denied"), "{message}");
    assert!(
        message.contains(&format!(
            "the credentials for {host} were refused; update them with `hearth login {host}`"
        )),
        "{message}"
    );
    assert!(!message.contains("wrong-password-42"), "{message}");

    // Logout removes the entry; a second logout says there was nothing.
    let out = with_docker_config(env.hearth(&root, &["logout", &host]), &docker_config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("Removing login credentials for {host}")));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(docker_config.join("config.json")).unwrap()).unwrap();
    assert!(config["auths"].get(&host).is_none(), "{config}");
    let out = with_docker_config(env.hearth(&root, &["logout", &host]), &docker_config)
        .output()
        .unwrap();
    assert!(text(&out).contains(&format!("Not logged in to {host}")));
}
