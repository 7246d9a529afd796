//! The complete example from BuildKit's `docs/buildkitd.toml.md` loads, with no finding but
//! the one for the section hearth does not implement, into the values the docs describe.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use expect_test::expect;
use hearth_config::{
    DiskSpace, FindingKind, GcPolicy, KeyPair, ListenAddress, LogFormat, NetworkMode, Registry,
    Snapshotter, load,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/buildkitd-docs.toml")
}

#[test]
fn only_unimplemented_sections_are_reported() {
    let loaded = load(&fixture()).unwrap();
    assert!(!loaded.has_errors());
    assert!(
        loaded
            .findings
            .iter()
            .all(|f| f.kind == FindingKind::Unsupported),
        "{}",
        loaded.render()
    );
    // `[cdi]` sets `disabled = true`, which is what hearth does anyway, so only the
    // containerd worker is reported.
    expect![[r#"
        buildkitd-docs.toml:111: warning: hearth has no containerd worker; it ignores [worker.containerd] and builds with its OCI worker
          = hint: configure the worker under [worker.oci]"#]]
    .assert_eq(&loaded.render().replace(&format!("{}/tests/fixtures/", env!("CARGO_MANIFEST_DIR")), ""));
}

#[test]
fn top_level_and_service_sections() {
    let config = load(&fixture()).unwrap().config;
    assert!(config.debug);
    assert!(config.trace);
    assert_eq!(config.root, Some(PathBuf::from("/var/lib/buildkit")));
    assert_eq!(
        config.insecure_entitlements,
        ["network.host", "security.insecure", "device"]
    );
    assert_eq!(config.log.format, Some(LogFormat::Text));
    let dns = config.dns.unwrap();
    assert_eq!(dns.nameservers, ["1.1.1.1", "8.8.8.8"]);
    assert_eq!(dns.options, ["edns0"]);
    assert_eq!(dns.search_domains, ["example.com"]);

    assert_eq!(
        config.grpc.address,
        [ListenAddress::Tcp("0.0.0.0:1234".into())]
    );
    assert_eq!(config.grpc.debug_address.as_deref(), Some("0.0.0.0:6060"));
    assert_eq!((config.grpc.uid, config.grpc.gid), (Some(0), Some(0)));
    assert_eq!(config.grpc.tls.cert, Some("/etc/buildkit/tls.crt".into()));
    assert_eq!(config.grpc.tls.key, Some("/etc/buildkit/tls.key".into()));
    assert_eq!(config.grpc.tls.ca, Some("/etc/buildkit/tlsca.crt".into()));
    assert_eq!(
        config.otel.socket_path,
        Some("/run/buildkit/otel-grpc.sock".into())
    );
    assert_eq!(config.cdi.disabled, Some(true));
    assert_eq!(config.cdi.spec_dirs.len(), 3);

    assert_eq!(config.history.max_age, Some(Duration::from_secs(172_800)));
    assert_eq!(config.history.max_entries, Some(50));
    assert_eq!(config.frontend.dockerfile.enabled, Some(true));
    assert_eq!(config.frontend.gateway.enabled, Some(true));
    assert!(config.frontend.gateway.allowed_repositories.is_empty());
    assert_eq!(
        config.system.platforms_cache_max_age,
        Some(Duration::from_secs(3600))
    );
}

#[test]
fn oci_worker() {
    let oci = load(&fixture()).unwrap().config.worker.oci;
    assert_eq!(oci.enabled, Some(true));
    assert_eq!(
        oci.platforms.as_deref(),
        Some(&["linux/amd64".to_owned(), "linux/arm64".to_owned()][..])
    );
    assert_eq!(oci.snapshotter, Snapshotter::Auto);
    assert!(!oci.rootless);
    assert!(!oci.no_process_sandbox);
    assert_eq!(oci.binary, None);
    assert_eq!(oci.apparmor_profile, None);
    assert_eq!(oci.max_parallelism, Some(4));
    assert_eq!(oci.network.cni_pool_size, Some(16));
    assert_eq!(oci.network.mode, NetworkMode::Auto);
    assert_eq!(oci.labels.get("foo").map(String::as_str), Some("bar"));

    assert_eq!(oci.gc.enabled, Some(true));
    assert_eq!(oci.gc.reserved_space, Some(DiskSpace::Percentage(30)));
    assert_eq!(oci.gc.max_used_space, Some(DiskSpace::Percentage(60)));
    // "20GB" is binary, as BuildKit's go-units RAMInBytes reads it.
    assert_eq!(oci.gc.min_free_space, Some(DiskSpace::Bytes(20 << 30)));
    assert_eq!(
        oci.gc.policies,
        [
            GcPolicy {
                all: false,
                keep_duration: Some(Duration::from_secs(48 * 3600)),
                filters: vec![
                    "type==source.local".into(),
                    "type==exec.cachemount".into(),
                    "type==source.git.checkout".into(),
                ],
                reserved_space: Some(DiskSpace::Bytes(512 << 20)),
                max_used_space: Some(DiskSpace::Bytes(1 << 30)),
                min_free_space: Some(DiskSpace::Bytes(10 << 30)),
            },
            GcPolicy {
                all: true,
                reserved_space: Some(DiskSpace::Bytes(1_024_000_000)),
                ..GcPolicy::default()
            },
        ]
    );
}

#[test]
fn containerd_worker_is_read_though_unused() {
    let containerd = load(&fixture()).unwrap().config.worker.containerd.unwrap();
    assert_eq!(
        containerd.address.as_deref(),
        Some("/run/containerd/containerd.sock")
    );
    assert_eq!(containerd.namespace.as_deref(), Some("buildkit"));
    assert_eq!(
        containerd.default_cgroup_parent.as_deref(),
        Some("buildkit")
    );
    assert_eq!(
        containerd.runtime.name.as_deref(),
        Some("io.containerd.runc.v2")
    );
    assert_eq!(
        containerd.runtime.options.get("BinaryName"),
        Some(&toml::Value::String("runc".into()))
    );
    assert_eq!(containerd.gc.policies.len(), 2);
    assert_eq!(
        containerd.gc.policies[0].keep_duration,
        Some(Duration::from_secs(172_800))
    );
    assert_eq!(
        containerd.gc.policies[0].reserved_space,
        Some(DiskSpace::Bytes(512_000_000))
    );
}

#[test]
fn registries() {
    let config = load(&fixture()).unwrap().config;
    assert_eq!(
        config.registry.keys().collect::<Vec<_>>(),
        ["docker.io", "yourmirror.local:5000"]
    );
    assert_eq!(
        config.registry["docker.io"],
        Registry {
            mirrors: vec![
                "yourmirror.local:5000".into(),
                "core.harbor.domain/proxy.docker.io".into()
            ],
            http: Some(true),
            insecure: Some(true),
            ca: vec!["/etc/config/myca.pem".into()],
            keypair: vec![KeyPair {
                key: "/etc/config/key.pem".into(),
                cert: "/etc/config/cert.pem".into(),
            }],
            tls_config_dir: Vec::new(),
            daemon_credentials: false,
        }
    );
    assert_eq!(config.registry["yourmirror.local:5000"].http, Some(true));
}
