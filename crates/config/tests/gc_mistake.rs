//! The seed-style `[worker.oci.gc]` table: the explaining error, its corrected TOML, and
//! that the corrected TOML means what the mistaken file meant.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use expect_test::expect;
use hearth_config::{DiskSpace, FindingKind, Severity, parse};

const SEED: &str = r#"root = "/var/lib/hearth"

[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  maxParallelism = 4

[worker.oci.gc]
  enabled = true
  policy = [
    { keepDuration = "48h", filters = ["type==source.local", "type==exec.cachemount"], keepBytes = "512MB" },
    { keepDuration = "1440h", keepBytes = "10GB" },
    { all = true, keepBytes = "20GB" },
  ]
"#;

#[test]
fn explains_the_mistake_with_the_corrected_toml() {
    let loaded = parse(SEED, "hearthd.toml");
    assert!(loaded.has_errors());
    expect![[r#"
        hearthd.toml:6: warning: unknown key `maxParallelism` in [worker.oci]; hearth ignores it
          = hint: did you mean `max-parallelism`?
        hearthd.toml:8: error: `[worker.oci.gc]` is not a table in buildkitd.toml; write `gc = true` under `[worker.oci]` and one `[[worker.oci.gcpolicy]]` table per policy
          = hint: BuildKit reads `gc` as a boolean and refuses to start with a table there; replace `[worker.oci]` and `[worker.oci.gc]` with the corrected TOML
          = corrected TOML:
            [worker.oci]
            enabled = true
            snapshotter = "overlayfs"
            max-parallelism = 4
            gc = true

            [[worker.oci.gcpolicy]]
            keepDuration = "48h"
            filters = ["type==source.local", "type==exec.cachemount"]
            reservedSpace = "512MB"

            [[worker.oci.gcpolicy]]
            keepDuration = "1440h"
            reservedSpace = "10GB"

            [[worker.oci.gcpolicy]]
            all = true
            reservedSpace = "20GB""#]]
    .assert_eq(&loaded.render());
    let error = loaded.findings.iter().find(|f| f.is_error()).unwrap();
    assert_eq!(error.kind, FindingKind::Mistake);
    assert_eq!(error.severity, Severity::Error);
    assert_eq!(error.key, "worker.oci.gc");
    assert_eq!(error.line, 8);
}

#[test]
fn corrected_toml_parses_cleanly_and_means_the_same() {
    let mistaken = parse(SEED, "hearthd.toml");
    let fix = mistaken
        .findings
        .iter()
        .find_map(|f| f.fix.clone())
        .expect("a corrected TOML");
    // The corrected sections, with the untouched top of the file.
    let corrected = format!("root = \"/var/lib/hearth\"\n\n{fix}");
    let fixed = parse(&corrected, "fixed.toml");
    assert_eq!(fixed.findings, [], "{}", fixed.render());

    let gc = &fixed.config.worker.oci.gc;
    assert_eq!(gc.enabled, Some(true));
    assert_eq!(gc.policies.len(), 3);
    assert_eq!(
        gc.policies[0].reserved_space,
        Some(DiskSpace::Bytes(512 << 20))
    );
    assert_eq!(
        gc.policies[1].keep_duration,
        Some(std::time::Duration::from_secs(1440 * 3600))
    );
    assert!(gc.policies[2].all);
    // The mistaken file was read the way its correction reads.
    assert_eq!(mistaken.config.worker.oci.gc, fixed.config.worker.oci.gc);
    assert_eq!(fixed.config.worker.oci.max_parallelism, Some(4));
}

#[test]
fn array_of_tables_form_and_worker_sizes() {
    let text = r#"[[worker.oci.gc.policy]]
keep_duration = "24h"
keepBytes = "1GB"
colour = "red"

[worker.oci.gc]
enabled = false
keepStorage = "5GB"
gckeepstorage = "6GB"
"#;
    let loaded = parse(text, "hearthd.toml");
    expect![[r#"
        hearthd.toml:2: warning: unknown key `keep_duration` in [worker.oci.gc.policy[0]]; hearth ignores it
          = hint: did you mean `keepDuration`?
        hearthd.toml:4: warning: unknown key `colour` in [worker.oci.gc.policy[0]]; hearth ignores it
        hearthd.toml:6: error: `[worker.oci.gc]` is not a table in buildkitd.toml; write `gc = true` under `[worker.oci]` and one `[[worker.oci.gcpolicy]]` table per policy
          = hint: BuildKit reads `gc` as a boolean and refuses to start with a table there; replace `[worker.oci]` and `[worker.oci.gc]` with the corrected TOML
          = corrected TOML:
            [worker.oci]
            gc = false
            # dropped `keepStorage`: not a worker setting
            reservedSpace = "6GB"

            [[worker.oci.gcpolicy]]
            keepDuration = "24h"
            reservedSpace = "1GB"
            # dropped `colour`: not a gcpolicy key"#]]
    .assert_eq(&loaded.render());
    let fix = loaded.findings.iter().find_map(|f| f.fix.clone()).unwrap();
    let fixed = parse(&fix, "fixed.toml");
    assert_eq!(fixed.findings, []);
    assert_eq!(fixed.config.worker.oci.gc.enabled, Some(false));
    assert_eq!(
        fixed.config.worker.oci.gc.reserved_space,
        Some(DiskSpace::Bytes(6 << 30))
    );
}
