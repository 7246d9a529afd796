//! The systemd units in deploy/systemd pass `systemd-analyze verify` (with ExecStart
//! pointed at the hearthd this build made, since verify checks that the binary exists).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn verify(unit: &str, instance_name: &str) {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    assert!(
        analyze.exists(),
        "systemd-analyze is missing: apt-get install systemd (scripts/test does this)"
    );
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/systemd")
        .join(unit);
    let text = std::fs::read_to_string(&source).unwrap();
    assert!(
        text.contains("/usr/local/bin/hearthd"),
        "{unit} runs the installed hearthd"
    );
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join(instance_name);
    std::fs::write(
        &local,
        text.replace("/usr/local/bin/hearthd", env!("CARGO_BIN_EXE_hearthd")),
    )
    .unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&local)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify {unit}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_service_unit_verifies() {
    verify("hearthd.service", "hearthd.service");
}

#[test]
fn the_template_unit_verifies_for_a_named_builder() {
    verify("hearthd@.service", "hearthd@prod.service");
}
