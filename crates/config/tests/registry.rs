//! `[registry."host"]` sections converted to the registry client's per-host settings.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use hearth_config::{RegistryHost, parse};

const REGISTRIES: &str = r#"
[registry."docker.io"]
mirrors = ["mirror.local:5000", "core.harbor.domain/proxy.docker.io"]
ca = ["/etc/config/myca.pem"]
[[registry."docker.io".keypair]]
key = "/etc/config/key.pem"
cert = "/etc/config/cert.pem"
[[registry."docker.io".keypair]]
key = "/etc/config/key2.pem"
cert = "/etc/config/cert2.pem"

[registry."mirror.local:5000"]
http = true

[registry."localhost:5000"]

[registry."self-signed.example"]
insecure = true
http = false
tlsconfigdir = ["/etc/hearth/certs.d/self-signed.example"]
"#;

#[test]
fn sections_become_registry_hosts() {
    let loaded = parse(REGISTRIES, "f");
    assert_eq!(loaded.findings, []);
    let hosts = loaded.config.registry_hosts();
    assert_eq!(
        hosts.keys().collect::<Vec<_>>(),
        [
            "docker.io",
            "localhost:5000",
            "mirror.local:5000",
            "self-signed.example"
        ]
    );
    assert_eq!(
        hosts["docker.io"],
        RegistryHost {
            mirrors: vec![
                "mirror.local:5000".into(),
                "core.harbor.domain/proxy.docker.io".into()
            ],
            http: None,
            insecure: false,
            ca: vec!["/etc/config/myca.pem".into()],
            // (cert, key), in file order.
            keypair: vec![
                ("/etc/config/cert.pem".into(), "/etc/config/key.pem".into()),
                (
                    "/etc/config/cert2.pem".into(),
                    "/etc/config/key2.pem".into()
                ),
            ],
            tls_config_dirs: Vec::new(),
        }
    );
    assert_eq!(hosts["mirror.local:5000"].http, Some(true));
    // No `http` key: the client's loopback rule decides.
    assert_eq!(hosts["localhost:5000"], RegistryHost::default());
    let self_signed = &hosts["self-signed.example"];
    assert_eq!(
        (self_signed.http, self_signed.insecure),
        (Some(false), true)
    );
    assert_eq!(
        self_signed.tls_config_dirs,
        [PathBuf::from("/etc/hearth/certs.d/self-signed.example")]
    );
}

#[test]
fn tls_config_dirs_are_read_like_buildkit() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["b.crt", "a.crt", "client.cert", "client.key", "notes.txt"] {
        std::fs::write(dir.path().join(name), "").unwrap();
    }
    let mut host = RegistryHost {
        ca: vec!["/etc/config/myca.pem".into()],
        tls_config_dirs: vec![dir.path().to_owned(), dir.path().join("missing")],
        ..RegistryHost::default()
    };
    host.read_tls_config_dirs().unwrap();
    assert_eq!(
        host.ca,
        [
            PathBuf::from("/etc/config/myca.pem"),
            dir.path().join("a.crt"),
            dir.path().join("b.crt"),
        ]
    );
    assert_eq!(
        host.keypair,
        [(
            dir.path().join("client.cert"),
            dir.path().join("client.key")
        )]
    );
    assert!(host.tls_config_dirs.is_empty());
}
