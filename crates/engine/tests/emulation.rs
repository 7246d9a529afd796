//! RUN steps for a platform the host's CPU does not run, built by the embedded engine with
//! real runc and Debian's `qemu-user-static`, from a two-platform busybox (amd64 and
//! arm64 from Debian's `busybox-static` packages) in a real registry.
//!
//! Each test reads binfmt_misc registrations from an empty directory, so the step goes
//! through the emulator hearth binds into the container whatever the machine has
//! registered (Debian's qemu-user-static registers handlers where systemd runs).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use hearth_core::Platform;
use hearth_engine::{Export, ExportKind, ImageFormat};
use hearth_solver::Event;
use hearth_worker::emulation::EmulatorSearch;
use support::{Env, Report, build, request};

/// The second step is in exec form: its program is a bare name, which the emulator cannot
/// look up itself.
const DOCKERFILE: &str = "FROM --platform=linux/arm64 busybox\nRUN uname -m > /arch\nRUN [\"sh\", \"-c\", \"uname -m > /exec-form\"]\n";

/// An engine test environment whose `busybox` is the amd64 + arm64 index.
fn env_with_index() -> Env {
    let env = Env::new();
    let layout = env.work.path().join("busybox-index");
    hearth_testkit::write_busybox_index_layout(&layout, &hearth_testkit::BusyboxPlatform::ALL)
        .unwrap_or_else(|e| panic!("making the busybox index: {e}"));
    hearth_testkit::push_index_layout(
        &layout,
        &format!("{}/library/busybox:latest", env.registry.addr()),
    )
    .unwrap_or_else(|e| panic!("pushing the busybox index: {e}"));
    env
}

/// Emulators from `dirs` only, and no binfmt_misc handler.
fn search(dirs: Vec<PathBuf>, no_binfmt: &Path) -> EmulatorSearch {
    EmulatorSearch::in_dirs(dirs).with_binfmt_dir(no_binfmt.to_path_buf())
}

/// A linux/arm64 build of `DOCKERFILE` with a `type=local` output into `dest`.
async fn build_arm64(env: &Env, engine: &hearth_engine::Engine, dest: &Path) -> Report {
    let context = env.context("ctx", &[("Dockerfile", DOCKERFILE)]);
    let mut req = request(
        &context,
        vec![Export {
            kind: ExportKind::Local {
                dest: dest.to_path_buf(),
            },
            names: Vec::new(),
            format: ImageFormat::default(),
            push: false,
        }],
    );
    req.options.target_platform = Some(Platform::parse("linux/arm64").unwrap());
    build(engine, req).await
}

/// The status lines the build reported on the vertex named `RUN …`.
fn statuses_of_run(report: &Report) -> Vec<String> {
    let run = report.events.iter().find_map(|e| match e {
        Event::Started { vertex, name } if name.contains("RUN uname") => Some(*vertex),
        _ => None,
    });
    let Some(run) = run else {
        return Vec::new();
    };
    report
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Status { vertex, message } if *vertex == run => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_arm64_run_step_runs_under_qemu_and_stays_cached_without_it() {
    let env = env_with_index();
    let engine = env.engine().await;
    let none = tempfile::tempdir().unwrap();
    engine.host().set_emulator_search(search(
        vec![none.path().to_path_buf(), PathBuf::from("/usr/bin")],
        none.path(),
    ));

    let out = env.work.path().join("out");
    let report = build_arm64(&env, &engine, &out).await;
    report.expect_ok();
    assert_eq!(
        std::fs::read_to_string(out.join("arch")).unwrap(),
        "aarch64\n"
    );
    // The layer holds the arm64 busybox, not the host's.
    let busybox = std::fs::read(out.join("bin/busybox")).unwrap();
    assert_eq!(
        u16::from_le_bytes([busybox[18], busybox[19]]),
        183,
        "EM_AARCH64"
    );
    assert_eq!(
        statuses_of_run(&report),
        ["running linux/arm64 under emulation (qemu-aarch64-static)"]
    );
    assert_eq!(engine.host().exec_count(), 2);

    // How a step ran is not part of its key: with no emulator left, the same build is
    // answered from the cache and starts nothing.
    engine
        .host()
        .set_emulator_search(search(vec![none.path().to_path_buf()], none.path()));
    let again = env.work.path().join("again");
    let report = build_arm64(&env, &engine, &again).await;
    report.expect_ok();
    assert!(
        report.cached().iter().any(|n| n.contains("RUN uname")),
        "{:?}",
        report.cached()
    );
    assert_eq!(engine.host().exec_count(), 2);
    assert_eq!(
        std::fs::read_to_string(again.join("arch")).unwrap(),
        "aarch64\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_arm64_run_step_without_an_emulator_names_the_package_to_install() {
    let env = env_with_index();
    let engine = env.engine().await;
    let none = tempfile::tempdir().unwrap();
    engine
        .host()
        .set_emulator_search(search(vec![none.path().to_path_buf()], none.path()));

    let report = build_arm64(&env, &engine, &env.work.path().join("out")).await;
    let err = match &report.outcome {
        Ok(_) => panic!("an arm64 RUN step ran with no emulator"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("linux/arm64"), "{err}");
    assert!(err.contains("qemu-aarch64-static"), "{err}");
    assert!(err.contains("install Debian's qemu-user-static"), "{err}");
    assert_eq!(engine.host().exec_count(), 0, "no container was started");
}
