//! An image exported with `type=docker` loads into a real dockerd, and its CMD prints
//! what the Dockerfile says.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use support::Env;

/// A directory holding only runc, to be the whole `PATH` of a build: a `--load` that
/// still ran the docker CLI would fail to find it.
fn bin_without_docker(dir: &Path) -> PathBuf {
    let bin = dir.join("bin-without-docker");
    std::fs::create_dir_all(&bin).unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let runc = std::env::split_paths(&path)
        .map(|d| d.join("runc"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("the test needs runc on PATH"));
    std::os::unix::fs::symlink(runc, bin.join("runc")).unwrap();
    assert!(!bin.join("docker").exists());
    bin
}

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

    // `--load` sends the same archive to the daemon's API, as buildx does: no docker CLI
    // on PATH.
    let bin = bin_without_docker(env.work.path());
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
        .env("PATH", &bin)
        .output()
        .unwrap();
    let progress = String::from_utf8_lossy(&loaded.stderr);
    assert!(
        loaded.status.success(),
        "hearth build --load failed: {progress}\ndockerd log:\n{}",
        dockerd.log()
    );
    assert!(
        progress.contains("Loaded image: hearth-e2e:loaded"),
        "docker's answer is not shown: {progress}"
    );
    let run = dockerd
        .docker(&["run", "--rm", "--network", "none", "hearth-e2e:loaded"])
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from a hearth build\nrun by docker\n"
    );
}

#[test]
fn load_without_a_daemon_says_how_to_reach_one() {
    let env = Env::new();
    let ctx = env.dir("ctx", &[("Dockerfile", "FROM busybox\n")]);
    let root = env.work.path().join("root");
    let output = env
        .hearth(
            &root,
            &[
                "build",
                "--progress",
                "plain",
                "--load",
                "-t",
                "hearth-e2e:nowhere",
                ctx.to_str().unwrap(),
            ],
        )
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the build succeeded: {stderr}");
    assert!(
        stderr.contains(
            "cannot connect to the Docker daemon at unix:///nonexistent.sock: No such file or directory (os error 2) (is dockerd running? set DOCKER_HOST to its socket)"
        ),
        "{stderr}"
    );
}
