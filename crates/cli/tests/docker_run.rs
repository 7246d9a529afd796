//! An image exported with `type=docker` loads into a real dockerd, and its CMD prints
//! what the Dockerfile says.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use support::Env;

#[test]
fn a_docker_archive_loads_into_dockerd_and_runs_its_cmd() {
    let env = Env::new();
    let ctx = env.dir(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox AS build\nCOPY greeting.txt /src/\nRUN echo \"$(cat /src/greeting.txt) from a hearth build\" > /message\n\nFROM busybox\nCOPY --from=build /message /message\nENV WHO=docker\nCMD [\"sh\", \"-c\", \"cat /message; echo run by $WHO\"]\n",
            ),
            ("greeting.txt", "hello\n"),
        ],
    );
    let root = env.work.path().join("root");
    let archive = env.work.path().join("image.tar");
    env.hearth_ok(
        &root,
        &[
            "build",
            "--progress",
            "plain",
            "-t",
            "hearth-e2e:latest",
            "-o",
            &format!("type=docker,dest={}", archive.display()),
            ctx.to_str().unwrap(),
        ],
    );

    let dockerd =
        hearth_testkit::Dockerd::start().unwrap_or_else(|e| panic!("the test needs dockerd: {e}"));
    let load = dockerd.load(&archive).unwrap();
    assert!(
        load.status.success(),
        "docker load failed: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    let loaded = String::from_utf8_lossy(&load.stdout);
    assert!(
        loaded.contains("hearth-e2e:latest"),
        "docker load output: {loaded}"
    );

    let run = dockerd
        .docker(&["run", "--rm", "--network", "none", "hearth-e2e:latest"])
        .unwrap();
    assert!(
        run.status.success(),
        "docker run failed: {}\ndockerd log:\n{}",
        String::from_utf8_lossy(&run.stderr),
        dockerd.log()
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from a hearth build\nrun by docker\n"
    );

    // `--load` pipes the same archive into `docker load`, as buildx does.
    let loaded = env
        .hearth(
            &root,
            &[
                "build",
                "--progress",
                "plain",
                "--load",
                "-t",
                "hearth-e2e:loaded",
                ctx.to_str().unwrap(),
            ],
        )
        .env("DOCKER_HOST", dockerd.docker_host())
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "hearth build --load failed: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let run = dockerd
        .docker(&["run", "--rm", "--network", "none", "hearth-e2e:loaded"])
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from a hearth build\nrun by docker\n"
    );
}
