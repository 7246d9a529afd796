//! The daemon's trust boundary, with real hearthd processes, runc and Debian's
//! `docker-registry`: a client gets the `network.host` and `security.insecure`
//! entitlements only if the daemon's configuration grants them, and registry credentials
//! are the client's (asked for over the build stream), never the daemon's own unless its
//! configuration names the host with `daemon-credentials = true`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hearth_testkit::{Hearthd, Registry};
use support::{Env, info_value};

const PASSWORD: &str = "team-s3cret-Passw0rd";

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn start_daemon(env: &Env, name: &str, config: &Path, docker_config: &Path) -> Hearthd {
    let socket = env.work.path().join(format!("{name}.sock"));
    let root = env.work.path().join(format!("{name}-root"));
    Hearthd::start_with_env(
        &root,
        &socket,
        Some(config),
        &[("DOCKER_CONFIG", docker_config)],
    )
    .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"))
}

/// A docker config directory holding `password` for `host` (none when `None`).
fn docker_config(env: &Env, name: &str, host: &str, password: Option<&str>) -> PathBuf {
    let dir = env.work.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let auths = match password {
        Some(password) => {
            serde_json::json!({ host: { "username": "team", "password": password } })
        }
        None => serde_json::json!({}),
    };
    std::fs::write(
        dir.join("config.json"),
        serde_json::json!({ "auths": auths }).to_string(),
    )
    .unwrap();
    dir
}

/// A registry that wants the team's password, holding busybox as `team/base:1`.
struct Private {
    env: Env,
    registry: Registry,
    host: String,
    ctx: PathBuf,
}

impl Private {
    fn new() -> Self {
        let env = Env::new();
        let registry = Registry::start_with_basic_auth("team", PASSWORD)
            .unwrap_or_else(|e| panic!("the test needs a registry: {e}"));
        let host = registry.addr().to_owned();
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false", "--dest-creds"])
            .arg(format!("team:{PASSWORD}"))
            .arg(format!(
                "oci:{}:latest",
                env.work.path().join("busybox-layout").display()
            ))
            .arg(format!("docker://{host}/team/base:1"))
            .output()
            .expect("run skopeo (apt-get install skopeo)");
        assert!(out.status.success(), "skopeo: {}", text(&out));
        let ctx = env.dir(
            "ctx",
            &[(
                "Dockerfile",
                &format!("FROM {host}/team/base:1\nRUN echo built-by-hearthd > /built\n"),
            )],
        );
        Self {
            env,
            registry,
            host,
            ctx,
        }
    }

    /// `hearth build --push` of the private base through `daemon`, as a client whose
    /// docker config is `docker_config`.
    fn build(&self, daemon: &Hearthd, docker_config: &Path, tag: &str) -> Output {
        let target = format!("{}/team/app:{tag}", self.host);
        let mut cmd = self.env.hearth(
            &self.env.work.path().join("unused"),
            &[
                "build",
                "--progress=plain",
                &format!("--addr={}", daemon.address()),
                "--push",
                "-t",
                &target,
                self.ctx.to_str().unwrap(),
            ],
        );
        cmd.env("DOCKER_CONFIG", docker_config);
        cmd.output().unwrap()
    }

    fn manifest_pushed(&self, tag: &str) -> bool {
        self.registry.requests().iter().any(|(m, p, s)| {
            m == "PUT" && p == &format!("/v2/team/app/manifests/{tag}") && *s == 201
        })
    }

    fn assert_refused(&self, out: &Output, daemon: &Hearthd) {
        let message = text(out);
        assert!(!out.status.success(), "{message}");
        assert!(
            message.contains(&format!(
                "{}: pull access denied, repository does not exist or may require authorization",
                self.host
            )),
            "{message}"
        );
        assert!(
            message.contains(&format!("to log in, run `hearth login {}`", self.host)),
            "{message}"
        );
        assert!(!message.contains(PASSWORD), "{message}");
        assert!(!daemon.log().contains(PASSWORD));
    }
}

#[test]
fn a_client_without_credentials_never_builds_with_the_daemons() {
    let private = Private::new();
    let env = &private.env;
    // The daemon (root) is logged in to the private registry; the client is not.
    let root_login = docker_config(env, "root-docker", &private.host, Some(PASSWORD));
    let daemon = start_daemon(env, "hearthd", &env.config, &root_login);
    let nobody = docker_config(env, "nobody-docker", &private.host, None);

    let out = private.build(&daemon, &nobody, "a");
    private.assert_refused(&out, &daemon);
    assert!(!private.manifest_pushed("a"));
}

#[test]
fn the_clients_own_credentials_pull_and_push_and_serve_no_other_client() {
    let private = Private::new();
    let env = &private.env;
    // The daemon's own login is wrong: a build that used it would be refused.
    let root_login = docker_config(env, "root-docker", &private.host, Some("not-the-password"));
    let daemon = start_daemon(env, "hearthd", &env.config, &root_login);
    let team = docker_config(env, "team-docker", &private.host, Some(PASSWORD));

    let out = private.build(&daemon, &team, "b");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        private.manifest_pushed("b"),
        "{:?}",
        private.registry.requests()
    );

    // Another client right after, on the same daemon with the image in its store: what
    // the first client's credentials obtained does not serve it.
    let nobody = docker_config(env, "nobody-docker", &private.host, None);
    let out = private.build(&daemon, &nobody, "b2");
    private.assert_refused(&out, &daemon);
    assert!(!private.manifest_pushed("b2"));
}

#[test]
fn daemon_credentials_in_the_configuration_opt_a_host_in() {
    let private = Private::new();
    let env = &private.env;
    let config = env.work.path().join("opted-in.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[registry.\"{}\"]\n  daemon-credentials = true\n",
            std::fs::read_to_string(&env.config).unwrap(),
            private.host
        ),
    )
    .unwrap();
    let root_login = docker_config(env, "root-docker", &private.host, Some(PASSWORD));
    let daemon = start_daemon(env, "hearthd", &config, &root_login);
    let announced = daemon.log().lines().any(|l| {
        l.contains("builds use the daemon's own registry credentials") && l.contains(&private.host)
    });
    assert!(announced, "{}", daemon.log());
    let nobody = docker_config(env, "nobody-docker", &private.host, None);

    let out = private.build(&daemon, &nobody, "c");
    assert!(out.status.success(), "{}", text(&out));
    assert!(private.manifest_pushed("c"));
    assert!(!daemon.log().contains(PASSWORD));

    // `--validate-config` reports the opt-in.
    let bin = hearth_testkit::workspace_bin("hearthd", "hearth-daemon").unwrap();
    let out = Command::new(bin)
        .arg(format!("--validate-config={}", config.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "note: builds through hearthd use the daemon's own registry credentials for {}",
            private.host
        )),
        "{}",
        text(&out)
    );
}

#[test]
fn entitlements_are_granted_by_the_daemons_configuration_only() {
    let env = Env::new();
    let ctx = env.dir(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN --network=host echo on the host network > /net\n",
        )],
    );
    let build = |addr: Option<&str>| {
        let mut args = vec![
            "build".to_owned(),
            "--progress=plain".to_owned(),
            "--allow=network.host".to_owned(),
        ];
        args.extend(addr.map(|a| format!("--addr={a}")));
        args.push(ctx.to_str().unwrap().to_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env.hearth(&env.work.path().join("embedded-root"), &args)
            .output()
            .unwrap()
    };

    // The configuration grants nothing: the build fails before any work.
    let strict = Hearthd::start(
        &env.work.path().join("strict-root"),
        &env.work.path().join("strict.sock"),
        Some(&env.config),
    )
    .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"));
    let out = build(Some(&strict.address()));
    let message = text(&out);
    assert!(!out.status.success(), "{message}");
    assert!(
        message.contains(
            "granting entitlement network.host is not allowed by build daemon configuration"
        ),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "set `insecure-entitlements = [\"network.host\"]` in {}",
            env.config.display()
        )),
        "{message}"
    );
    assert!(!message.contains("load metadata for"), "no work: {message}");
    assert_eq!(info_value(&env, &strict.address(), "Containers run"), 0);

    // The operator grants it: the same build runs.
    let config = env.work.path().join("granting.toml");
    std::fs::write(
        &config,
        format!(
            "insecure-entitlements = [\"network.host\"]\n{}",
            std::fs::read_to_string(&env.config).unwrap()
        ),
    )
    .unwrap();
    let granting = Hearthd::start(
        &env.work.path().join("granting-root"),
        &env.work.path().join("granting.sock"),
        Some(&config),
    )
    .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"));
    let out = build(Some(&granting.address()));
    assert!(out.status.success(), "{}", text(&out));

    // Embedded, the user runs the engine as themselves: `--allow` is theirs to give.
    let out = build(None);
    assert!(out.status.success(), "{}", text(&out));
}
