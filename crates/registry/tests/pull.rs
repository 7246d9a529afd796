//! Pulling from a real Distribution registry (`docker-registry`), with images pushed by
//! `skopeo` from OCI layouts built in each test: resolution by tag and digest, platform
//! selection, mirrors, authentication, TLS and the errors users see.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use hearth_core::{Digest, Platform};
use hearth_registry::{
    Client, Credentials, Descriptor, ErrorKind, HostConfig, NoCredentials, RegistryConfig,
    RegistryError, Secret, StaticCredentials, media_type,
};
use support::{Layout, Registry, first_file};

fn platform(spec: &str) -> Platform {
    Platform::parse(spec).unwrap()
}

fn anonymous(config: RegistryConfig) -> Client {
    Client::new(config, Arc::new(NoCredentials)).unwrap()
}

fn config(sections: Vec<(String, HostConfig)>) -> RegistryConfig {
    RegistryConfig {
        hosts: sections.into_iter().collect(),
    }
}

fn http_section() -> HostConfig {
    HostConfig {
        http: Some(true),
        ..HostConfig::default()
    }
}

fn descriptor(blob: &support::Blob) -> Descriptor {
    Descriptor {
        media_type: blob.media_type.clone(),
        digest: blob.digest,
        size: blob.bytes.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
        urls: Vec::new(),
    }
}

/// A registry holding `repo:tag`, a single linux/amd64 image.
fn single_image(repo_tag: &str) -> (Registry, support::Image) {
    let registry = Registry::start();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "hello from amd64\n");
    layout.tag("v1", &image.manifest);
    layout.push("v1", &format!("{}/{repo_tag}", registry.host()));
    (registry, image)
}

#[tokio::test]
async fn resolve_by_tag_and_digest_returns_verified_manifest_and_config() {
    let (registry, image) = single_image("test/single:v1");
    let client = anonymous(RegistryConfig::default());
    let host = registry.host();

    let by_tag = client
        .resolve(&format!("{host}/test/single:v1"), &platform("linux/amd64"))
        .await
        .unwrap();
    assert_eq!(by_tag.reference, format!("{host}/test/single:v1"));
    assert_eq!(by_tag.repository, format!("{host}/test/single"));
    assert_eq!(by_tag.index_digest, None);
    assert_eq!(by_tag.manifest_digest, image.manifest.digest);
    assert_eq!(by_tag.manifest_bytes, image.manifest.bytes);
    assert_eq!(by_tag.manifest.media_type, media_type::OCI_MANIFEST);
    assert_eq!(by_tag.manifest.config.digest, image.config.digest);
    assert_eq!(by_tag.config_bytes, image.config.bytes);
    assert_eq!(Digest::of(&by_tag.config_bytes), image.config.digest);
    assert_eq!(by_tag.manifest.layers.len(), 1);
    assert_eq!(by_tag.manifest.layers[0].digest, image.layer.digest);
    assert_eq!(by_tag.platform.format(), "linux/amd64");

    let by_digest = client
        .resolve(
            &format!("{host}/test/single@{}", image.manifest.digest),
            &platform("linux/amd64"),
        )
        .await
        .unwrap();
    assert_eq!(
        by_digest.reference,
        format!("{host}/test/single@{}", image.manifest.digest)
    );
    assert_eq!(by_digest.manifest_digest, by_tag.manifest_digest);
    assert_eq!(by_digest.config_bytes, by_tag.config_bytes);

    let mut layer = Vec::new();
    let written = client
        .fetch_blob(&by_tag.repository, &by_tag.manifest.layers[0], &mut layer)
        .await
        .unwrap();
    assert_eq!(written, image.layer.bytes.len() as u64);
    assert_eq!(layer, image.layer.bytes);
    assert_eq!(
        first_file(&layer),
        ("hello.txt".to_owned(), b"hello from amd64\n".to_vec())
    );
}

#[tokio::test]
async fn insecure_http_host_tries_https_then_falls_back_to_http() {
    let (registry, image) = single_image("test/fallback:v1");
    // BuildKit's `insecure = true` + `http = true`: HTTPS without verification first,
    // plain HTTP when the host does not speak TLS (this registry does not).
    let client = anonymous(config(vec![(
        registry.host(),
        HostConfig {
            http: Some(true),
            insecure: true,
            ..HostConfig::default()
        },
    )]));
    for _ in 0..2 {
        let got = client
            .resolve(
                &format!("{}/test/fallback:v1", registry.host()),
                &platform("linux/amd64"),
            )
            .await
            .unwrap();
        assert_eq!(got.manifest_digest, image.manifest.digest);
    }
    // Plain `http = false` on the same host fails: it only speaks HTTP.
    let client = anonymous(config(vec![(
        registry.host(),
        HostConfig {
            http: Some(false),
            ..HostConfig::default()
        },
    )]));
    let err = client
        .resolve(
            &format!("{}/test/fallback:v1", registry.host()),
            &platform("linux/amd64"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Transport { host, message }
            if host == &registry.host() && message.contains("set `http = true`")),
        "{err:?}"
    );
}

#[tokio::test]
async fn corrupted_blob_is_a_digest_mismatch_and_wrong_size_a_size_mismatch() {
    let (registry, image) = single_image("test/corrupt:v1");
    let client = anonymous(RegistryConfig::default());
    let repository = format!("{}/test/corrupt", registry.host());

    // A wrong size in the descriptor is caught from Content-Length, before any byte
    // reaches the sink.
    let mut wrong_size = descriptor(&image.layer);
    wrong_size.size += 1;
    let mut sink = Vec::new();
    let err = client
        .fetch_blob(&repository, &wrong_size, &mut sink)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::SizeMismatch { digest, expected, actual }
            if digest == image.layer.digest && expected == wrong_size.size && actual == wrong_size.size - 1),
        "{err:?}"
    );
    assert!(sink.is_empty());

    // Corrupt the registry's stored copy (same size, one byte flipped): the registry
    // serves it under the original digest, as a broken or malicious one would.
    let hex = image.layer.digest.hex();
    let data = registry
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(&hex)
        .join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    let mut sink = Vec::new();
    let err = client
        .fetch_blob(&repository, &descriptor(&image.layer), &mut sink)
        .await
        .unwrap_err();
    match &err {
        RegistryError::DigestMismatch { expected, actual } => {
            assert_eq!(*expected, image.layer.digest);
            assert_eq!(*actual, Digest::of(&bytes));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::DataLoss);
    assert_eq!(
        err.to_string(),
        format!(
            "digest mismatch: expected {}, got {}",
            image.layer.digest,
            Digest::of(&bytes)
        )
    );
}

#[tokio::test]
async fn index_resolves_to_the_wanted_platform() {
    let registry = Registry::start();
    let layout = Layout::new();
    let amd64 = layout.image("linux/amd64", "amd64\n");
    let arm64 = layout.image("linux/arm64", "arm64\n");
    let index = layout.index(&[amd64.clone(), arm64.clone()]);
    layout.tag("v1", &index);
    layout.push("v1", &format!("{}/test/multi:v1", registry.host()));
    let client = anonymous(RegistryConfig::default());
    let reference = format!("{}/test/multi:v1", registry.host());

    let got = client
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap();
    assert_eq!(got.index_digest, Some(index.digest));
    assert_eq!(got.manifest_digest, amd64.manifest.digest);
    assert_eq!(got.config_bytes, amd64.config.bytes);
    assert_eq!(got.platform.format(), "linux/amd64");

    // arm64 "v8" matches the entry that declares no variant.
    let got = client
        .resolve(&reference, &platform("linux/arm64/v8"))
        .await
        .unwrap();
    assert_eq!(got.index_digest, Some(index.digest));
    assert_eq!(got.manifest_digest, arm64.manifest.digest);
    assert_eq!(got.manifest_bytes, arm64.manifest.bytes);
    assert_eq!(got.config_bytes, arm64.config.bytes);
    assert_eq!(got.platform.format(), "linux/arm64");
    let mut layer = Vec::new();
    client
        .fetch_blob(&got.repository, &got.manifest.layers[0], &mut layer)
        .await
        .unwrap();
    assert_eq!(first_file(&layer).1, b"arm64\n");

    // By the index's digest too.
    let got = client
        .resolve(
            &format!("{}/test/multi@{}", registry.host(), index.digest),
            &platform("linux/arm64"),
        )
        .await
        .unwrap();
    assert_eq!(got.manifest_digest, arm64.manifest.digest);

    let err = client
        .resolve(&reference, &platform("linux/s390x"))
        .await
        .unwrap_err();
    match &err {
        RegistryError::PlatformNotFound {
            reference: r,
            wanted,
            available,
        } => {
            assert_eq!(r, &reference);
            assert_eq!(wanted, "linux/s390x");
            assert_eq!(
                available,
                &vec!["linux/amd64".to_owned(), "linux/arm64".to_owned()]
            );
        }
        other => panic!("expected PlatformNotFound, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "{reference}: no match for platform linux/s390x in manifest: the image has linux/amd64, linux/arm64"
        )
    );
}

#[tokio::test]
async fn docker_format_images_resolve_with_docker_media_types() {
    let registry = Registry::start();
    let layout = Layout::new();
    let image = layout.image("linux/arm/v7", "docker format\n");
    layout.tag("v1", &image.manifest);
    // Converting to Docker schema 2 rewrites the manifest (and config media type).
    layout.push_with(
        "v1",
        &format!("{}/test/docker:v1", registry.host()),
        &["--format", "v2s2"],
    );
    let client = anonymous(RegistryConfig::default());

    let got = client
        .resolve(
            &format!("{}/test/docker:v1", registry.host()),
            &platform("linux/arm/v7"),
        )
        .await
        .unwrap();
    assert_eq!(got.manifest.media_type, media_type::DOCKER_MANIFEST);
    assert_eq!(got.manifest.config.media_type, media_type::DOCKER_CONFIG);
    assert_eq!(got.manifest_digest, Digest::of(&got.manifest_bytes));
    assert_eq!(got.config_bytes, image.config.bytes);
    // A single-platform image declares its platform in the configuration.
    assert_eq!(got.platform.format(), "linux/arm/v7");
}

#[tokio::test]
async fn schema1_manifests_are_refused_with_what_to_do() {
    let registry = Registry::start_with_schema1();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "old format\n");
    layout.tag("v1", &image.manifest);
    layout.push_with(
        "v1",
        &format!("{}/test/old:v1", registry.host()),
        &["--format", "v2s1"],
    );
    let reference = format!("{}/test/old:v1", registry.host());

    let err = anonymous(RegistryConfig::default())
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert_eq!(
        err.to_string(),
        format!(
            "{reference}: media type \"application/vnd.docker.distribution.manifest.v1+prettyjws\" is no longer supported since containerd v2.0, please rebuild the image as \"application/vnd.docker.distribution.manifest.v2+json\" or \"application/vnd.oci.image.manifest.v1+json\""
        )
    );
}

#[tokio::test]
async fn docker_io_is_pulled_from_a_configured_mirror() {
    let registry = Registry::start();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "from the mirror\n");
    layout.tag("latest", &image.manifest);
    layout.push(
        "latest",
        &format!("{}/library/mirrored:latest", registry.host()),
    );
    let client = anonymous(config(vec![
        (
            "docker.io".to_owned(),
            HostConfig {
                mirrors: vec![registry.host()],
                ..HostConfig::default()
            },
        ),
        (registry.host(), http_section()),
    ]));

    // The mirror has the image, so Docker Hub itself is never contacted.
    for reference in ["docker.io/library/mirrored:latest", "mirrored"] {
        let got = client
            .resolve(reference, &platform("linux/amd64"))
            .await
            .unwrap();
        assert_eq!(got.reference, "docker.io/library/mirrored:latest");
        assert_eq!(got.repository, "docker.io/library/mirrored");
        assert_eq!(got.manifest_digest, image.manifest.digest);
        assert_eq!(got.config_bytes, image.config.bytes);
    }
    let mut layer = Vec::new();
    client
        .fetch_blob(
            "docker.io/library/mirrored",
            &descriptor(&image.layer),
            &mut layer,
        )
        .await
        .unwrap();
    assert_eq!(layer, image.layer.bytes);
}

#[tokio::test]
async fn mirror_with_a_path_prefix_serves_the_prefixed_repository() {
    let registry = Registry::start();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "prefixed\n");
    layout.tag("1", &image.manifest);
    layout.push("1", &format!("{}/hub/team/app:1", registry.host()));
    // The upstream is a loopback port nothing listens on, so only the mirror can answer.
    let upstream = format!("127.0.0.1:{}", support::free_port());
    let client = anonymous(config(vec![(
        upstream.clone(),
        HostConfig {
            mirrors: vec![format!("{}/hub", registry.host())],
            ..HostConfig::default()
        },
    )]));

    let got = client
        .resolve(&format!("{upstream}/team/app:1"), &platform("linux/amd64"))
        .await
        .unwrap();
    assert_eq!(got.repository, format!("{upstream}/team/app"));
    assert_eq!(got.manifest_digest, image.manifest.digest);
    let mut layer = Vec::new();
    client
        .fetch_blob(&got.repository, &got.manifest.layers[0], &mut layer)
        .await
        .unwrap();
    assert_eq!(layer, image.layer.bytes);
}

#[tokio::test]
async fn mirror_without_the_image_falls_back_and_the_error_lists_every_endpoint() {
    let registry = Registry::start();
    let upstream = format!("127.0.0.1:{}", support::free_port());
    let client = anonymous(config(vec![
        (
            upstream.clone(),
            HostConfig {
                mirrors: vec![registry.host()],
                ..HostConfig::default()
            },
        ),
        (registry.host(), http_section()),
    ]));

    let reference = format!("{upstream}/library/absent:latest");
    let err = client
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{reference}: not found: tried {} (404 manifest unknown), {upstream} (connection refused)",
            registry.host()
        )
    );
}

#[tokio::test]
async fn missing_tag_is_not_found_naming_the_reference() {
    let (registry, _) = single_image("test/single:v1");
    let client = anonymous(RegistryConfig::default());
    let reference = format!("{}/test/single:nope", registry.host());

    let err = client
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!(
            "{reference}: not found: tried {} (404 manifest unknown)",
            registry.host()
        )
    );
    // An unknown repository too.
    let reference = format!("{}/test/other:v1", registry.host());
    let err = client
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{reference}: not found: tried {} (404 manifest unknown)",
            registry.host()
        )
    );
}

#[tokio::test]
async fn html_answer_is_reported_as_an_html_page() {
    let port = support::start_html_server().await;
    let host = format!("127.0.0.1:{port}");
    let client = anonymous(RegistryConfig::default());

    let err = client
        .resolve(
            &format!("{host}/library/busybox:latest"),
            &platform("linux/amd64"),
        )
        .await
        .unwrap_err();
    match &err {
        RegistryError::Html { host: h, url } => {
            assert_eq!(h, &host);
            assert_eq!(
                url,
                &format!("http://{host}/v2/library/busybox/manifests/latest")
            );
        }
        other => panic!("expected Html, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("answered with an html page instead of a registry response"),
        "{err}"
    );
}

#[tokio::test]
async fn basic_auth_uses_credentials_and_refusals_never_show_the_password() {
    let registry = Registry::start_with_basic_auth("alice", "correct-horse");
    let host = registry.host();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "private\n");
    layout.tag("v1", &image.manifest);
    layout.push_with(
        "v1",
        &format!("{host}/team/private:v1"),
        &["--preserve-digests", "--dest-creds", "alice:correct-horse"],
    );
    let reference = format!("{host}/team/private:v1");
    let with = |password: &str| {
        Client::new(
            RegistryConfig::default(),
            Arc::new(StaticCredentials::new().with(
                host.clone(),
                Credentials::Basic {
                    username: "alice".into(),
                    password: Secret::new(password),
                },
            )),
        )
        .unwrap()
    };

    let client = with("correct-horse");
    let got = client
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap();
    assert_eq!(got.manifest_digest, image.manifest.digest);
    let mut layer = Vec::new();
    client
        .fetch_blob(&got.repository, &got.manifest.layers[0], &mut layer)
        .await
        .unwrap();
    assert_eq!(layer, image.layer.bytes);

    let err = with("wrong-password-123")
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap_err();
    match &err {
        RegistryError::Unauthorized { host: h, hint, .. } => {
            assert_eq!(h, &host);
            assert_eq!(
                hint,
                &format!(
                    "the credentials for {host} were refused; update them with `hearth login {host}`"
                )
            );
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    let shown = format!("{err} {err:?} {:?}", with("wrong-password-123"));
    assert!(!shown.contains("wrong-password-123"), "{shown}");
    assert!(!shown.contains("correct-horse"), "{shown}");

    let err = anonymous(RegistryConfig::default())
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{host}: pull access denied, repository does not exist or may require authorization: authentication required; to log in, run `hearth login {host}`"
        )
    );
}

// Multi-threaded: the token server runs on this runtime and must answer skopeo while
// the test thread blocks waiting for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_fetched_once_per_scope_and_reused() {
    let server = support::token::start(support::token::Policy {
        users: [("alice".to_owned(), "open-sesame".to_owned())].into(),
        refresh_tokens: [("refresh-abc".to_owned(), "alice".to_owned())].into(),
        public: vec!["test/public".to_owned()],
    })
    .await;
    let registry = Registry::start_with_token(&server);
    let host = registry.host();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "behind a token\n");
    layout.tag("v1", &image.manifest);
    for repo in ["test/public", "test/private"] {
        layout.push_with(
            "v1",
            &format!("{host}/{repo}:v1"),
            &["--preserve-digests", "--dest-creds", "alice:open-sesame"],
        );
    }
    let amd64 = platform("linux/amd64");

    // Anonymous pull of a public repository: one token serves the manifest, the config
    // and the layer.
    server.reset_requests();
    let client = anonymous(RegistryConfig::default());
    let got = client
        .resolve(&format!("{host}/test/public:v1"), &amd64)
        .await
        .unwrap();
    assert_eq!(got.manifest_digest, image.manifest.digest);
    let mut layer = Vec::new();
    client
        .fetch_blob(&got.repository, &got.manifest.layers[0], &mut layer)
        .await
        .unwrap();
    assert_eq!(layer, image.layer.bytes);
    assert_eq!(server.requests(), 1);

    // A private repository refuses the anonymous token.
    let private = format!("{host}/test/private:v1");
    let err = client.resolve(&private, &amd64).await.unwrap_err();
    assert!(
        matches!(&err, RegistryError::Unauthorized { host: h, hint, .. }
            if h == &host && hint == &format!("to log in, run `hearth login {host}`")),
        "{err:?}"
    );

    // A password (GET with basic auth) and an identity token (OAuth2 refresh grant, POST)
    // both get tokens that work.
    let with = |credentials: Credentials| {
        Client::new(
            RegistryConfig::default(),
            Arc::new(StaticCredentials::new().with(host.clone(), credentials)),
        )
        .unwrap()
    };
    for credentials in [
        Credentials::Basic {
            username: "alice".into(),
            password: Secret::new("open-sesame"),
        },
        Credentials::IdentityToken(Secret::new("refresh-abc")),
    ] {
        let got = with(credentials).resolve(&private, &amd64).await.unwrap();
        assert_eq!(got.config_bytes, image.config.bytes);
    }

    for credentials in [
        Credentials::Basic {
            username: "alice".into(),
            password: Secret::new("not-the-password"),
        },
        Credentials::IdentityToken(Secret::new("not-the-token")),
    ] {
        let err = with(credentials)
            .resolve(&private, &amd64)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(&format!("hearth login {host}")), "{shown}");
        assert!(!shown.contains("not-the-"), "{shown}");
    }
}

#[tokio::test]
async fn tls_uses_configured_ca_client_certificate_and_insecure() {
    let tls = support::tls_files();
    let registry = Registry::start_tls(&tls);
    let host = registry.host();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "over tls\n");
    layout.tag("v1", &image.manifest);
    let cert_dir = format!("--dest-cert-dir={}", tls.skopeo_cert_dir.display());
    layout.push_with(
        "v1",
        &format!("{host}/test/tls:v1"),
        &["--preserve-digests", &cert_dir],
    );
    let reference = format!("{host}/test/tls:v1");
    let keypair = vec![(tls.client_cert.clone(), tls.client_key.clone())];
    let client_for = |section: HostConfig| anonymous(config(vec![(host.clone(), section)]));

    // Loopback defaults to plain HTTP (as in BuildKit), so HTTPS is asked for explicitly.
    let trusted = client_for(HostConfig {
        http: Some(false),
        ca: vec![tls.ca_cert.clone()],
        keypair: keypair.clone(),
        ..HostConfig::default()
    });
    let got = trusted
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap();
    assert_eq!(got.manifest_digest, image.manifest.digest);
    let mut layer = Vec::new();
    trusted
        .fetch_blob(&got.repository, &got.manifest.layers[0], &mut layer)
        .await
        .unwrap();
    assert_eq!(layer, image.layer.bytes);

    let insecure = client_for(HostConfig {
        http: Some(false),
        insecure: true,
        keypair: keypair.clone(),
        ..HostConfig::default()
    });
    let got = insecure
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap();
    assert_eq!(got.manifest_digest, image.manifest.digest);

    let untrusted = client_for(HostConfig {
        http: Some(false),
        keypair: keypair.clone(),
        ..HostConfig::default()
    });
    let err = untrusted
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Transport { host: h, message }
            if h == &host && message.contains("invalid peer certificate: UnknownIssuer")
                && message.contains("`ca = [...]`")),
        "{err:?}"
    );

    let no_client_cert = client_for(HostConfig {
        http: Some(false),
        ca: vec![tls.ca_cert.clone()],
        ..HostConfig::default()
    });
    let err = no_client_cert
        .resolve(&reference, &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.to_string().contains("add a `keypair`"), "{err}");

    let err = Client::new(
        config(vec![(
            host.clone(),
            HostConfig {
                ca: vec![tls.ca_cert.with_extension("missing")],
                ..HostConfig::default()
            },
        )]),
        Arc::new(NoCredentials),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "registry configuration for {host}: failed to read ca "
        )),
        "{err}"
    );
}

#[tokio::test]
async fn inspect_lists_an_index_platforms_and_sizes_and_a_pinned_image() {
    let registry = Registry::start();
    let layout = Layout::new();
    let amd64 = layout.image("linux/amd64", "amd64 inspect\n");
    let arm64 = layout.image("linux/arm64/v8", "arm64 inspect, a little longer\n");
    let index = layout.index(&[amd64.clone(), arm64.clone()]);
    layout.tag("v1", &index);
    layout.push("v1", &format!("{}/test/inspect:v1", registry.host()));
    let client = anonymous(RegistryConfig::default());

    let got = client
        .inspect(&format!("{}/test/inspect:v1", registry.host()))
        .await
        .unwrap();
    assert_eq!(got.digest, index.digest);
    assert_eq!(got.raw, index.bytes);
    assert_eq!(got.media_type, media_type::OCI_INDEX);
    let hearth_registry::Inspected::Index(entries) = &got.content else {
        panic!("expected an index: {got:?}");
    };
    let summary: Vec<(String, Digest, u64)> = entries
        .iter()
        .map(|(_, image)| {
            let image = image.as_ref().unwrap();
            (
                image.platform.as_ref().unwrap().format(),
                image.digest,
                image.size(),
            )
        })
        .collect();
    let size = |i: &support::Image| (i.config.bytes.len() + i.layer.bytes.len()) as u64;
    assert_eq!(
        summary,
        vec![
            (
                "linux/amd64".to_owned(),
                amd64.manifest.digest,
                size(&amd64)
            ),
            (
                "linux/arm64/v8".to_owned(),
                arm64.manifest.digest,
                size(&arm64)
            ),
        ]
    );

    // Pinned to one image's digest: that manifest, with the platform from its config.
    let pinned = client
        .inspect(&format!(
            "{}/test/inspect@{}",
            registry.host(),
            arm64.manifest.digest
        ))
        .await
        .unwrap();
    let hearth_registry::Inspected::Image(image) = &pinned.content else {
        panic!("expected an image: {pinned:?}");
    };
    assert_eq!(image.platform.as_ref().unwrap().format(), "linux/arm64/v8");
    assert_eq!(image.layers[0].digest, arm64.layer.digest);
    assert_eq!(pinned.raw, arm64.manifest.bytes);

    let missing = client
        .inspect(&format!("{}/test/inspect:nope", registry.host()))
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");
}
