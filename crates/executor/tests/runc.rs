//! Runs real steps with runc on a busybox root filesystem (needs root and runc, as the
//! engine does; fails with the reason otherwise).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use hearth_executor::runc::{RunError, Runc, Stream};
use hearth_executor::{MountSpec, Network, ProcessSpec, RunSpec, Security};

fn require_root_and_runc() -> PathBuf {
    assert!(
        rustix::process::geteuid().is_root(),
        "these tests run containers and need root"
    );
    let runc = PathBuf::from("/usr/sbin/runc");
    assert!(
        runc.exists(),
        "runc is not installed at /usr/sbin/runc (apt-get install runc)"
    );
    runc
}

/// A minimal rootfs: busybox-static and its applet links, /etc/passwd and /etc/group.
fn busybox_rootfs(dir: &Path) {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "busybox-static is not installed (apt-get install busybox-static)"
    );
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy(busybox, dir.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "echo", "cat", "id", "pwd", "ls", "hostname", "env", "sleep", "touch", "mkdir", "ip",
        "wc",
    ] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
}

struct Env {
    _tmp: tempfile::TempDir,
    runc: Runc,
    rootfs: PathBuf,
    state: PathBuf,
}

fn env() -> Env {
    let binary = require_root_and_runc();
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("rootfs");
    busybox_rootfs(&rootfs);
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("hosts"),
        hearth_executor::files::hosts_file("buildkitsandbox"),
    )
    .unwrap();
    std::fs::write(state.join("resolv.conf"), "nameserver 10.0.0.1\n").unwrap();
    let runc = Runc::new(
        binary,
        tmp.path().join("runc-state"),
        tmp.path().join("bundles"),
    );
    Env {
        _tmp: tmp,
        runc,
        rootfs,
        state,
    }
}

fn spec(env: &Env, id: &str, script: &str) -> RunSpec {
    RunSpec {
        id: id.into(),
        rootfs: env.rootfs.clone(),
        process: ProcessSpec {
            args: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec!["PATH=/bin".into(), "GREETING=hi".into()],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
        },
        mounts: vec![],
        network: Network::Host,
        security: Security::Sandbox,
        hostname: hearth_executor::DEFAULT_HOSTNAME.into(),
        resolv_conf: env.state.join("resolv.conf"),
        hosts: env.state.join("hosts"),
        cgroups_path: format!("/hearth-test/{id}"),
    }
}

async fn run(env: &Env, spec: &RunSpec) -> (Result<i32, RunError>, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut sink = |s: Stream, d: &[u8]| match s {
        Stream::Stdout => out.extend_from_slice(d),
        Stream::Stderr => err.extend_from_slice(d),
    };
    let result = env
        .runc
        .run(spec, &mut sink, std::future::pending())
        .await
        .map(|e| e.code);
    (
        result,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[tokio::test]
async fn a_step_sees_buildkits_environment() {
    let env = env();
    let s = spec(
        &env,
        "env1",
        "hostname; cat /etc/hosts; echo $GREETING; id; echo err >&2; touch /made",
    );
    let (code, out, err) = run(&env, &s).await;
    assert_eq!(code.unwrap(), 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "buildkitsandbox");
    assert_eq!(lines[1], "127.0.0.1\tlocalhost buildkitsandbox");
    assert_eq!(lines[3], "hi");
    assert_eq!(lines[4], "uid=0(root) gid=0(root) groups=0(root)");
    assert_eq!(err, "err\n");
    assert!(
        env.rootfs.join("made").exists(),
        "writes land in the rootfs"
    );
}

#[tokio::test]
async fn exit_codes_users_and_working_directories() {
    let env = env();
    let (code, _, _) = run(&env, &spec(&env, "exit3", "exit 3")).await;
    assert_eq!(code.unwrap(), 3);
    let mut s = spec(&env, "user", "id -u; id -g; id -G; pwd");
    s.process.uid = 1000;
    s.process.gid = 1000;
    s.process.additional_gids = vec![0];
    s.process.cwd = "/".into();
    let (code, out, err) = run(&env, &s).await;
    assert_eq!(code.unwrap(), 0, "{err}");
    assert_eq!(
        out, "1000\n1000\n1000 0\n/\n",
        "the primary group comes first among the groups"
    );
}

#[tokio::test]
async fn missing_executables_are_runtime_errors() {
    let env = env();
    let mut s = spec(&env, "nope", "");
    s.process.args = vec!["/bin/does-not-exist".into()];
    let (result, _, _) = run(&env, &s).await;
    match result {
        Err(RunError::Runtime { message }) => {
            assert!(message.contains("does-not-exist"), "{message}")
        }
        other => panic!("expected a runtime error, got {other:?}"),
    }
}

#[tokio::test]
async fn mounts_and_network_modes() {
    let env = env();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(cache.path().join("kept"), "from before\n").unwrap();
    let mut s = spec(
        &env,
        "mounts",
        "cat /cache/kept; echo new > /cache/added; echo t > /scratch/t; ls /sys/class/net",
    );
    s.mounts = vec![
        MountSpec::Bind {
            source: cache.path().to_path_buf(),
            destination: "/cache".into(),
            readonly: false,
        },
        MountSpec::Tmpfs {
            destination: "/scratch".into(),
            size: 1 << 20,
        },
    ];
    s.network = Network::None;
    let (code, out, err) = run(&env, &s).await;
    assert_eq!(code.unwrap(), 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from before");
    assert_eq!(
        lines[1..],
        ["lo"],
        "a new network namespace has only loopback"
    );
    assert_eq!(
        std::fs::read_to_string(cache.path().join("added")).unwrap(),
        "new\n"
    );
    assert!(
        !env.rootfs.join("scratch/t").exists(),
        "tmpfs writes do not reach the rootfs"
    );
}

#[tokio::test]
async fn cancelling_kills_the_container() {
    let env = env();
    let s = spec(&env, "sleeper", "sleep 30");
    let start = std::time::Instant::now();
    let mut sink = |_: Stream, _: &[u8]| {};
    let result = env
        .runc
        .run(
            &s,
            &mut sink,
            tokio::time::sleep(std::time::Duration::from_millis(500)),
        )
        .await;
    assert!(matches!(result, Err(RunError::Cancelled)), "{result:?}");
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert!(
        env.runc.remove_stale().await.is_empty(),
        "nothing is left behind"
    );
}
