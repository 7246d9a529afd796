//! `hearthd --validate-config` on the files teams have: the seed-style `[worker.oci.gc]`
//! table gets the explaining error and a non-zero exit, a real buildkitd.toml with
//! gcpolicy tables loads without a warning, and hearthd refuses to start on a broken file.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;

const SEED: &str = r#"root = "/var/lib/hearth"

[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  max-parallelism = 4

[worker.oci.gc]
  enabled = true
  policy = [
    { keepDuration = "48h", filters = ["type==source.local"], keepBytes = "512MB" },
    { all = true, keepBytes = "20GB" },
  ]
"#;

const BUILDKITD: &str = r#"debug = true
root = "/var/lib/hearth"

[grpc]
  address = ["unix:///run/hearth/hearthd.sock"]

[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  max-parallelism = 4
  gc = true
  reservedSpace = "10%"

  [[worker.oci.gcpolicy]]
    keepDuration = "48h"
    filters = ["type==source.local", "type==exec.cachemount", "type==source.git.checkout"]
  [[worker.oci.gcpolicy]]
    all = true
    reservedSpace = "10GB"
    maxUsedSpace = "80%"
    minFreeSpace = "20GB"

[registry."docker.io"]
  mirrors = ["127.0.0.1:5000"]

[registry."127.0.0.1:5000"]
  http = true
"#;

fn validate(text: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearthd.toml");
    std::fs::write(&path, text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_hearthd"))
        .arg("--validate-config")
        .arg(&path)
        .output()
        .unwrap()
}

#[test]
fn the_seed_gc_table_is_explained_with_the_right_form() {
    let out = validate(SEED);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("error: `[worker.oci.gc]` is not a table"),
        "{said}"
    );
    assert!(said.contains("gc = true"), "{said}");
    assert!(said.contains("[[worker.oci.gcpolicy]]"), "{said}");
    assert!(said.contains("hearthd.toml:8"), "{said}");
}

#[test]
fn a_real_buildkitd_toml_loads_without_warnings() {
    let out = validate(BUILDKITD);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.trim_end().ends_with(": ok"), "{said}");
}

#[test]
fn hearthd_refuses_to_start_on_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearthd.toml");
    std::fs::write(&path, SEED).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hearthd"))
        .arg("--config")
        .arg(&path)
        .arg(format!("--root={}", dir.path().join("root").display()))
        .arg(format!(
            "--addr=unix://{}",
            dir.path().join("d.sock").display()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("has errors"), "{said}");
    assert!(said.contains("--validate-config"), "{said}");
    assert!(!dir.path().join("d.sock").exists(), "it never listened");
}
