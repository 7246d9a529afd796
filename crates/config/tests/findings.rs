//! Every kind of finding, with its exact rendered message and line number.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use expect_test::{Expect, expect};
use hearth_config::{FindingKind, Severity, parse};

/// Parses `text` and compares the rendered findings.
fn check(text: &str, want: Expect) {
    want.assert_eq(&parse(text, "hearthd.toml").render());
}

#[test]
fn clean_file_has_no_findings() {
    check(
        r#"
root = "/var/lib/hearth"
[grpc]
address = ["unix:///run/hearth/hearthd.sock", "tcp://0.0.0.0:1234"]
[worker.oci]
snapshotter = "overlayfs"
max-parallelism = 4
gc = true
reservedSpace = "10%"
[[worker.oci.gcpolicy]]
keepDuration = 172800
filters = ["type==source.local"]
maxUsedSpace = "512MB"
"#,
        expect![""],
    );
}

#[test]
fn unknown_key_with_near_miss() {
    check(
        "[worker.oci]\nmaxParallelism = 4\n",
        expect![[r#"
            hearthd.toml:2: warning: unknown key `maxParallelism` in [worker.oci]; hearth ignores it
              = hint: did you mean `max-parallelism`?"#]],
    );
}

#[test]
fn unknown_key_in_the_wrong_section() {
    check(
        "[worker.oci]\ndebug = true\n[[worker.oci.gcpolicy]]\ngc = true\n",
        expect![[r#"
            hearthd.toml:2: warning: unknown key `debug` in [worker.oci]; hearth ignores it
              = hint: `debug` is a top-level key; move it above the first section
            hearthd.toml:4: warning: unknown key `gc` in [worker.oci.gcpolicy[0]]; hearth ignores it
              = hint: `gc` belongs under [worker.oci]"#]],
    );
}

#[test]
fn unknown_key_without_suggestion() {
    check(
        "colour = \"blue\"\n[history]\nmaxAge = \"48h\"\nwhatever = 1\n",
        expect![[r#"
            hearthd.toml:1: warning: unknown key `colour`; hearth ignores it
            hearthd.toml:4: warning: unknown key `whatever` in [history]; hearth ignores it"#]],
    );
}

#[test]
fn spelling_buildkit_tolerates() {
    check(
        "[worker.oci]\nreservedspace = \"1GB\"\nNOPROCESSSANDBOX = true\n",
        expect![[r#"
            hearthd.toml:2: warning: `reservedspace` is read as `reservedSpace`
              = hint: write `reservedSpace`; BuildKit accepts this spelling, but it is not the documented one
            hearthd.toml:3: warning: `NOPROCESSSANDBOX` is read as `noProcessSandbox`
              = hint: write `noProcessSandbox`; BuildKit accepts this spelling, but it is not the documented one"#]],
    );
    let loaded = parse("[worker.oci]\nreservedspace = \"1GB\"\n", "f");
    assert_eq!(
        loaded.config.worker.oci.gc.reserved_space,
        Some(hearth_config::DiskSpace::Bytes(1 << 30))
    );
}

#[test]
fn unimplemented_sections() {
    check(
        r#"
[worker.containerd]
address = "/run/containerd/containerd.sock"

[cdi]
specDirs = ["/etc/cdi"]

[grpc]
securityDescriptor = "D:P(A;;GA;;;SY)"

[worker.oci]
stargzSnapshotter = { no_prometheus = true }
"#,
        expect![[r#"
            hearthd.toml:2: warning: hearth has no containerd worker; it ignores [worker.containerd] and builds with its OCI worker
              = hint: configure the worker under [worker.oci]
            hearthd.toml:5: warning: hearth does not support CDI devices; it ignores [cdi]
            hearthd.toml:9: warning: `securityDescriptor` applies to Windows named pipes; hearth ignores it
            hearthd.toml:12: warning: hearth does not support the stargz snapshotter; it ignores `stargzSnapshotter`"#]],
    );
}

#[test]
fn switched_off_sections_are_not_reported() {
    check(
        "[worker.containerd]\nenabled = false\n[cdi]\ndisabled = true\n",
        expect![""],
    );
}

#[test]
fn deprecated_keys() {
    check(
        r#"[worker.oci]
gckeepstorage = 9000000000
[[worker.oci.gcpolicy]]
all = true
[[worker.oci.gcpolicy]]
keepBytes = "512MB"
"#,
        expect![[r#"
            hearthd.toml:2: warning: `gckeepstorage` is deprecated; it is now called `reservedSpace`
              = hint: write `reservedSpace = 9000000000`; it is a floor the collector never prunes below, not a cap (use `maxUsedSpace` for a cap)
            hearthd.toml:6: warning: `keepBytes` is deprecated; it is now called `reservedSpace`
              = hint: write `reservedSpace = "512MB"`; it is a floor the collector never prunes below, not a cap (use `maxUsedSpace` for a cap)"#]],
    );
    let loaded = parse(
        "[worker.oci]\ngckeepstorage = 9000000000\n[[worker.oci.gcpolicy]]\nkeepBytes = \"512MB\"\n",
        "f",
    );
    assert!(!loaded.has_errors());
    assert!(
        loaded
            .findings
            .iter()
            .all(|f| f.kind == FindingKind::Deprecated && f.severity == Severity::Warning)
    );
    let key_paths: Vec<_> = loaded.findings.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        key_paths,
        [
            "worker.oci.gckeepstorage",
            "worker.oci.gcpolicy[0].keepBytes"
        ]
    );
    let gc = &loaded.config.worker.oci.gc;
    assert_eq!(
        gc.reserved_space,
        Some(hearth_config::DiskSpace::Bytes(9_000_000_000))
    );
    assert_eq!(
        gc.policies[0].reserved_space,
        Some(hearth_config::DiskSpace::Bytes(512 << 20))
    );
}

#[test]
fn deprecated_keys_shadowed_by_new_ones() {
    check(
        r#"[worker.oci]
gckeepstorage = "5GB"
maxUsedSpace = "50GB"
[[worker.oci.gcpolicy]]
keepBytes = "1GB"
reservedSpace = "2GB"
"#,
        expect![[r#"
            hearthd.toml:2: warning: `gckeepstorage` is deprecated; it is now called `reservedSpace`
              = hint: write `reservedSpace = "5GB"`; it is a floor the collector never prunes below, not a cap (use `maxUsedSpace` for a cap)
            hearthd.toml:2: warning: `gckeepstorage` is ignored because `reservedSpace`, `maxUsedSpace` or `minFreeSpace` is set
            hearthd.toml:5: warning: `keepBytes` is deprecated; it is now called `reservedSpace`
              = hint: write `reservedSpace = "1GB"`; it is a floor the collector never prunes below, not a cap (use `maxUsedSpace` for a cap)
            hearthd.toml:5: warning: `keepBytes` is ignored because `reservedSpace` is also set"#]],
    );
}

#[test]
fn key_paths_index_policies_from_zero() {
    let loaded = parse(
        "[[worker.oci.gcpolicy]]\nall = true\n[[worker.oci.gcpolicy]]\nkeepBytes = \"lots\"\n",
        "f",
    );
    let finding = loaded
        .findings
        .iter()
        .find(|f| f.is_error())
        .expect("an error");
    assert_eq!(finding.key, "worker.oci.gcpolicy[1].keepBytes");
    assert_eq!((finding.line, finding.column), (4, 13));
}

#[test]
fn gcpolicy_as_a_single_table() {
    check(
        r#"[worker.oci]
gc = true

[worker.oci.gcpolicy]
keepDuration = "48h"
maxUsedSpace = "10GB"
"#,
        expect![[r#"
            hearthd.toml:4: error: `gcpolicy` must be an array of tables: write `[[worker.oci.gcpolicy]]`, with double brackets, once per policy
              = hint: BuildKit refuses a single table here
              = corrected TOML:
                [[worker.oci.gcpolicy]]
                keepDuration = "48h"
                maxUsedSpace = "10GB""#]],
    );
}

#[test]
fn byte_sizes_that_do_not_parse() {
    check(
        r#"[worker.oci]
reservedSpace = "10XB"
maxUsedSpace = "150%"
minFreeSpace = true
[[worker.oci.gcpolicy]]
maxUsedSpace = "-1GB"
"#,
        expect![[r#"
            hearthd.toml:2: error: `worker.oci.reservedSpace`: invalid disk space 10XB
              = hint: write a number of bytes (512000000), a size with a unit ("512MB", "1.5GiB"; units are binary, so MB and MiB both mean 1024×1024 bytes) or a share of the disk ("10%")
            hearthd.toml:3: error: `worker.oci.maxUsedSpace`: invalid disk space 150%: a percentage must be between 0% and 100%
              = hint: write a number of bytes (512000000), a size with a unit ("512MB", "1.5GiB"; units are binary, so MB and MiB both mean 1024×1024 bytes) or a share of the disk ("10%")
            hearthd.toml:4: error: `worker.oci.minFreeSpace`: invalid disk space true
              = hint: write a number of bytes (512000000), a size with a unit ("512MB", "1.5GiB"; units are binary, so MB and MiB both mean 1024×1024 bytes) or a share of the disk ("10%")
            hearthd.toml:6: error: `worker.oci.gcpolicy[0].maxUsedSpace`: invalid disk space -1GB
              = hint: write a number of bytes (512000000), a size with a unit ("512MB", "1.5GiB"; units are binary, so MB and MiB both mean 1024×1024 bytes) or a share of the disk ("10%")"#]],
    );
}

#[test]
fn durations_that_do_not_parse() {
    check(
        r#"[history]
maxAge = "2d"
[[worker.oci.gcpolicy]]
keepDuration = "soon"
[system]
platformsCacheMaxAge = -60
"#,
        expect![[r#"
            hearthd.toml:2: error: `history.maxAge`: invalid duration 2d
              = hint: Go durations have no day unit; write "48h"
            hearthd.toml:4: error: `worker.oci.gcpolicy[0].keepDuration`: invalid duration soon
              = hint: write a number of seconds (172800) or a Go duration such as "48h" or "1h30m" (units: ns, us, ms, s, m, h)
            hearthd.toml:6: error: `system.platformsCacheMaxAge`: invalid duration -60: must not be negative
              = hint: write a number of seconds (172800) or a Go duration such as "48h" or "1h30m" (units: ns, us, ms, s, m, h)"#]],
    );
}

#[test]
fn grpc_addresses() {
    check(
        "[grpc]\naddress = \"unix:///run/hearth/hearthd.sock\"\n",
        expect![[r#"
            hearthd.toml:2: error: `grpc.address` must be a list of strings, not a string
              = hint: write `address = ["unix:///run/hearth/hearthd.sock"]`"#]],
    );
    check(
        r#"[grpc]
address = [
  "/run/hearth/hearthd.sock",
  "0.0.0.0:1234",
  "http://0.0.0.0:80",
  "fd://",
]
"#,
        expect![[r#"
            hearthd.toml:3: error: address /run/hearth/hearthd.sock does not contain proto, you meant unix:///run/hearth/hearthd.sock ?
              = hint: write "unix:///run/hearth/hearthd.sock"
            hearthd.toml:4: error: address 0.0.0.0:1234 does not contain proto, you meant unix://0.0.0.0:1234 ?
              = hint: write "unix://0.0.0.0:1234" for a socket or "tcp://0.0.0.0:1234" for a TCP port
            hearthd.toml:5: error: addr http://0.0.0.0:80 not supported
              = hint: write unix:///path/to/socket or tcp://host:port
            hearthd.toml:6: warning: hearth does not support systemd socket activation (fd://); it ignores fd://
              = hint: hearth listens on unix:// and tcp:// addresses"#]],
    );
    // The lone string is still read, so the rest of the configuration makes sense.
    let loaded = parse("[grpc]\naddress = \"tcp://127.0.0.1:1234\"\n", "f");
    assert_eq!(
        loaded.config.grpc.address,
        [hearth_config::ListenAddress::Tcp("127.0.0.1:1234".into())]
    );
}

#[test]
fn snapshotters() {
    check(
        "[worker.oci]\nsnapshotter = \"overlay2\"\n",
        expect![[r#"
            hearthd.toml:2: error: unknown snapshotter name: "overlay2"
              = hint: did you mean "overlayfs"?"#]],
    );
    check(
        "[worker.oci]\nsnapshotter = \"zfs\"\n",
        expect![[r#"
            hearthd.toml:2: error: unknown snapshotter name: "zfs"
              = hint: write "auto", "overlayfs" or "native""#]],
    );
    check(
        "[worker.oci]\nsnapshotter = \"fuse-overlayfs\"\n",
        expect![[r#"
            hearthd.toml:2: warning: snapshotter "fuse-overlayfs" is not supported by hearth; it uses "auto" instead
              = hint: hearth has "overlayfs" and "native"; "auto" picks overlayfs where the filesystem allows it"#]],
    );
}

#[test]
fn wrong_types() {
    check(
        r#"debug = "true"
root = 5
[worker.oci]
max-parallelism = "4"
platforms = "linux/amd64"
labels = ["a"]
gcpolicy = 3
"#,
        expect![[r#"
            hearthd.toml:1: error: `debug` must be a boolean, not a string
              = hint: write `debug = true`, without quotes
            hearthd.toml:2: error: `root` must be a string, not an integer
              = hint: write `root = "5"`
            hearthd.toml:4: error: `worker.oci.max-parallelism` must be a whole number, not a string
              = hint: write `max-parallelism = 4`, without quotes
            hearthd.toml:5: error: `worker.oci.platforms` must be a list of strings, not a string
              = hint: write `platforms = ["linux/amd64"]`
            hearthd.toml:6: error: `worker.oci.labels` must be a table, not a list
            hearthd.toml:7: error: `worker.oci.gcpolicy` must be an array of tables, not an integer"#]],
    );
}

#[test]
fn invalid_choices_and_numbers() {
    check(
        r#"insecure-entitlements = ["network-host"]
[log]
format = "xml"
[grpc]
uid = -1
[worker.oci]
networkMode = "hots"
"#,
        expect![[r#"
            hearthd.toml:1: warning: unknown entitlement network-host; no build can ask for it
              = hint: did you mean "network.host"?
            hearthd.toml:3: error: unsupported log type "xml"
              = hint: write "text" or "json"
            hearthd.toml:5: error: `grpc.uid` must not be negative, got -1
            hearthd.toml:7: error: invalid network mode: "hots"
              = hint: did you mean "host"?"#]],
    );
}

#[test]
fn registry_mistakes() {
    check(
        r#"[registry.docker.io]
mirrors = ["http://mirror.local:5000"]

[registry."ghcr.io"]
mirrors = ["http://mirror.local:5000/ghcr"]
ca = "/etc/ca.pem"

[registry."ghcr.io".keypair]
key = "/etc/key.pem"
cert = "/etc/cert.pem"

[registry."quay.io"]
[[registry."quay.io".keypair]]
key = "/etc/key.pem"
"#,
        expect![[r#"
            hearthd.toml:1: warning: `[registry.docker.io]` is read as nested tables, not as host "docker.io"; hearth ignores it, as BuildKit does
              = hint: quote the host name: [registry."docker.io"]
            hearthd.toml:5: warning: the scheme of mirror "http://mirror.local:5000/ghcr" is ignored; it is contacted over HTTPS
              = hint: for plain HTTP, add a [registry."mirror.local:5000"] section with `http = true`
            hearthd.toml:6: error: `registry."ghcr.io".ca` must be a list of strings, not a string
              = hint: write `ca = ["/etc/ca.pem"]`
            hearthd.toml:8: error: `keypair` must be an array of tables: write `[[registry."ghcr.io".keypair]]`, with double brackets, once per key pair
              = corrected TOML:
                [[registry."ghcr.io".keypair]]
                key = "/etc/key.pem"
                cert = "/etc/cert.pem"
            hearthd.toml:13: error: `registry."quay.io".keypair[0]` needs both `key` and `cert`; `cert` is missing"#]],
    );
}

#[test]
fn unquoted_frontend_names() {
    check(
        "[frontend.dockerfile.v0]\nenabled = false\n[frontend.gateway]\nenabled = false\n",
        expect![[r#"
            hearthd.toml:1: warning: `[frontend.dockerfile.v0]` is read as nested tables, not as frontend "dockerfile.v0"; hearth ignores it, as BuildKit does
              = hint: quote the name: [frontend."dockerfile.v0"]
            hearthd.toml:3: warning: unknown key `gateway` in [frontend]; hearth ignores it
              = hint: did you mean `[frontend."gateway.v0"]`?"#]],
    );
}

#[test]
fn toml_syntax_errors() {
    check(
        "debug = true\n[worker.oci]\n  reservedSpace = 10GB\n",
        expect![[r#"
            hearthd.toml:3: error: invalid TOML (column 19): string values must be quoted, expected literal string
              = hint: quote the value: reservedSpace = "10GB""#]],
    );
    check(
        "[registry.localhost:5000]\nhttp = true\n",
        expect![[r#"
            hearthd.toml:1: error: invalid TOML (column 20): invalid unquoted key, expected letters, numbers, `-`, `_`
              = hint: quote the host name: [registry."localhost:5000"]"#]],
    );
    check(
        "debug = true\ndebug = false\n",
        expect!["hearthd.toml:2: error: invalid TOML (column 1): duplicate key"],
    );
    let loaded = parse("[worker.oci\n", "f");
    assert!(loaded.has_errors());
    assert_eq!(loaded.findings[0].kind, FindingKind::Syntax);
    assert_eq!(
        (loaded.findings[0].line, loaded.findings[0].column),
        (1, 12)
    );
}

#[test]
fn entitlements_and_daemon_credentials_are_read_without_findings() {
    let text = r#"insecure-entitlements = ["network.host", "security.insecure"]
[registry."registry.example.com:5000"]
daemon-credentials = true
[registry."docker.io"]
mirrors = ["mirror.example.com"]
"#;
    let loaded = parse(text, "hearthd.toml");
    assert_eq!(loaded.render(), "");
    assert_eq!(
        loaded.config.insecure_entitlements,
        ["network.host", "security.insecure"]
    );
    assert_eq!(
        loaded.config.daemon_credential_hosts(),
        ["registry.example.com:5000"]
    );
    // A value of the wrong type is an error, as for BuildKit's own booleans.
    let wrong = parse(
        "[registry.\"r.example\"]\ndaemon-credentials = \"yes\"\n",
        "hearthd.toml",
    );
    assert!(wrong.has_errors(), "{}", wrong.render());
    assert!(wrong.config.daemon_credential_hosts().is_empty());
}
