//! Pushing to a real Distribution registry (`docker-registry`): what skopeo and hearth's
//! own puller read back, how many blobs cross the wire (counted in the registry's access
//! log), cross-repository mounts, chunked uploads, authentication, and a registry that
//! dies in the middle of a push.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hearth_core::Platform;
use hearth_registry::{
    BlobOutcome, BlobSource, Client, Credentials, Descriptor, ErrorKind, NoCredentials, PushBlob,
    PushEvent, PushImage, PushOptions, RegistryConfig, Secret, StaticCredentials,
};
use support::{Layout, Registry};

fn client() -> Client {
    Client::new(RegistryConfig::default(), Arc::new(NoCredentials)).unwrap()
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

/// The layout's image as a push: the layer streamed from its file, the config in memory.
fn push_image(layout: &Layout, image: &support::Image) -> PushImage {
    PushImage {
        manifest: Bytes::from(image.manifest.bytes.clone()),
        media_type: image.manifest.media_type.clone(),
        blobs: vec![
            PushBlob {
                descriptor: descriptor(&image.config),
                source: BlobSource::Bytes(Bytes::from(image.config.bytes.clone())),
                mount_from: Vec::new(),
            },
            PushBlob {
                descriptor: descriptor(&image.layer),
                source: BlobSource::File(
                    layout
                        .dir
                        .join("blobs/sha256")
                        .join(image.layer.digest.hex()),
                ),
                mount_from: Vec::new(),
            },
        ],
    }
}

fn ignore(_: PushEvent) {}

/// Requests whose method and path match, from the registry's access log.
fn count(registry: &Registry, method: &str, path_part: &str) -> usize {
    registry
        .requests()
        .iter()
        .filter(|(m, p, _)| m == method && p.contains(path_part))
        .count()
}

fn skopeo_inspect(reference: &str) -> serde_json::Value {
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--config"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn pushed_image_reads_back_through_skopeo_and_the_puller() {
    let registry = Registry::start();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "pushed by hearth\n");
    let reference = format!("{}/team/app:v1", registry.host());
    let events = Mutex::new(Vec::new());
    let reports = client()
        .push(
            std::slice::from_ref(&reference),
            &push_image(&layout, &image),
            &PushOptions::default(),
            &|e| events.lock().unwrap().push(e),
        )
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].digest, image.manifest.digest);
    assert_eq!(reports[0].uploaded(), 2);
    assert_eq!(
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, PushEvent::Manifest { .. }))
            .count(),
        1
    );

    let config = skopeo_inspect(&reference);
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["cat", "/hello.txt"])
    );
    assert_eq!(config["architecture"], "amd64");

    let resolved = client()
        .resolve(&reference, &Platform::new("linux", "amd64", ""))
        .await
        .unwrap();
    assert_eq!(resolved.manifest_digest, image.manifest.digest);
    assert_eq!(resolved.manifest_bytes, image.manifest.bytes);
    let mut layer = Vec::new();
    client()
        .fetch_blob(
            &resolved.repository,
            &resolved.manifest.layers[0],
            &mut layer,
        )
        .await
        .unwrap();
    assert_eq!(layer, image.layer.bytes);
}

#[tokio::test]
async fn pushing_again_uploads_nothing_and_a_second_repository_mounts() {
    let registry = Registry::start();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "twice\n");
    let push = push_image(&layout, &image);
    let first = format!("{}/one:latest", registry.host());
    let client = client();
    client
        .push(
            std::slice::from_ref(&first),
            &push,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    let uploads_after_first = count(&registry, "PUT", "/blobs/uploads/");
    assert_eq!(uploads_after_first, 2, "{:?}", registry.requests());

    // A new client knows nothing: the registry's HEAD answers say everything is there.
    let again = self::client()
        .push(
            std::slice::from_ref(&first),
            &push,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(again[0].existed(), 2);
    assert_eq!(again[0].uploaded(), 0);
    assert_eq!(
        count(&registry, "PUT", "/blobs/uploads/"),
        uploads_after_first
    );
    assert_eq!(count(&registry, "PATCH", "/blobs/uploads/"), 0);

    // The same client pushed to `one`, so it mounts into `two` instead of uploading.
    let second = format!("{}/two:latest", registry.host());
    let mounted = client
        .push(
            std::slice::from_ref(&second),
            &push,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(mounted[0].mounted(), 2, "{:?}", mounted[0]);
    assert!(mounted[0].blobs.iter().all(|(_, o)| *o
        == BlobOutcome::Mounted {
            from: "one".to_owned()
        }));
    assert_eq!(
        count(&registry, "PUT", "/blobs/uploads/"),
        uploads_after_first
    );
    let mounts: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|(m, p, _)| m == "POST" && p.contains("mount="))
        .collect();
    assert_eq!(mounts.len(), 2);
    assert!(
        mounts.iter().all(|(_, _, status)| *status == 201),
        "{mounts:?}"
    );
    assert_eq!(skopeo_inspect(&second)["os"], "linux");
}

#[tokio::test]
async fn a_caller_hint_mounts_across_processes() {
    let registry = Registry::start();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "hinted\n");
    let base = format!("{}/base:1", registry.host());
    client()
        .push(
            std::slice::from_ref(&base),
            &push_image(&layout, &image),
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    let mut push = push_image(&layout, &image);
    for blob in &mut push.blobs {
        blob.mount_from = vec![format!("{}/base", registry.host())];
    }
    let reports = client()
        .push(
            &[format!("{}/derived:1", registry.host())],
            &push,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(reports[0].mounted(), 2);
}

#[tokio::test]
async fn chunked_uploads_and_several_tags_of_one_repository() {
    let registry = Registry::start();
    let layout = Layout::new();
    let image = layout.image("linux/arm64/v8", &"x".repeat(300_000));
    let tags = vec![
        format!("{}/chunky:a", registry.host()),
        format!("{}/chunky:b", registry.host()),
    ];
    let reports = client()
        .push(
            &tags,
            &push_image(&layout, &image),
            &PushOptions {
                concurrency: 2,
                chunk_size: Some(64 << 10),
            },
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].uploaded(), 2);
    assert!(
        reports[1].blobs.is_empty(),
        "the second tag pushes no blobs"
    );
    let layer_size = image.layer.bytes.len();
    assert!(layer_size > 4 * (64 << 10), "layer of {layer_size} bytes");
    let patches = count(&registry, "PATCH", "/blobs/uploads/");
    assert_eq!(
        patches,
        layer_size.div_ceil(64 << 10),
        "{:?}",
        registry.requests()
    );
    for tag in &tags {
        let resolved = client()
            .resolve(tag, &Platform::new("linux", "arm64", "v8"))
            .await
            .unwrap();
        let mut layer = Vec::new();
        client()
            .fetch_blob(
                &resolved.repository,
                &resolved.manifest.layers[0],
                &mut layer,
            )
            .await
            .unwrap();
        assert_eq!(layer, image.layer.bytes);
    }
}

#[tokio::test]
async fn a_wrong_password_names_the_registry_and_the_login_command_without_the_secret() {
    let registry = Registry::start_with_basic_auth("ci", "right-password");
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "auth\n");
    let reference = format!("{}/private:1", registry.host());
    let with = |password: &str| {
        Client::new(
            RegistryConfig::default(),
            Arc::new(StaticCredentials::new().with(
                registry.host(),
                Credentials::Basic {
                    username: "ci".into(),
                    password: Secret::new(password),
                },
            )),
        )
        .unwrap()
    };
    let err = with("wrong-password-123")
        .push(
            std::slice::from_ref(&reference),
            &push_image(&layout, &image),
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    let message = err.to_string();
    assert!(message.contains("push access denied"), "{message}");
    assert!(message.contains(&registry.host()), "{message}");
    assert!(
        message.contains(&format!("hearth login {}", registry.host())),
        "{message}"
    );
    assert!(message.contains("no tag was written"), "{message}");
    assert!(!message.contains("wrong-password-123"), "{message}");
    assert!(!format!("{err:?}").contains("wrong-password-123"));

    let anonymous = client()
        .push(
            std::slice::from_ref(&reference),
            &push_image(&layout, &image),
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        anonymous.contains(&format!(
            "to log in, run `hearth login {}`",
            registry.host()
        )),
        "{anonymous}"
    );

    let reports = with("right-password")
        .push(
            std::slice::from_ref(&reference),
            &push_image(&layout, &image),
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(reports[0].uploaded(), 2);
}

#[tokio::test]
async fn a_registry_killed_mid_push_leaves_no_tag_and_a_retry_succeeds() {
    let mut registry = Registry::start();
    let layout = Layout::new();
    // Big enough that the upload is still running when the registry dies.
    let noise: String = (0..40_000_000u32)
        .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
        .collect();
    let image = layout.image("linux/amd64", &noise);
    let reference = format!("{}/crashy:1", registry.host());
    let push = push_image(&layout, &image);

    let killed = Arc::new(Mutex::new(false));
    let err = {
        let client = client();
        let upload = client.push(
            std::slice::from_ref(&reference),
            &push,
            &PushOptions {
                concurrency: 1,
                chunk_size: Some(1 << 20),
            },
            &ignore,
        );
        tokio::pin!(upload);
        // Kill the registry once some chunks have arrived.
        loop {
            tokio::select! {
                result = &mut upload => break result,
                () = tokio::time::sleep(std::time::Duration::from_millis(20)) => {
                    let mut k = killed.lock().unwrap();
                    if !*k && count(&registry, "PATCH", "/blobs/uploads/") >= 3 {
                        registry.kill();
                        *k = true;
                    }
                }
            }
        }
    };
    assert!(*killed.lock().unwrap(), "the push finished before the kill");
    let err = err.unwrap_err();
    let message = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{message}");
    assert!(message.contains(&registry.host()), "{message}");
    assert!(message.contains("connection refused"), "{message}");
    assert!(message.contains("no tag was written"), "{message}");

    registry.restart();
    let missing = client()
        .resolve(&reference, &Platform::new("linux", "amd64", ""))
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");

    let reports = client()
        .push(
            std::slice::from_ref(&reference),
            &push,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(reports[0].digest, image.manifest.digest);
    let resolved = client()
        .resolve(&reference, &Platform::new("linux", "amd64", ""))
        .await
        .unwrap();
    let mut layer = Vec::new();
    client()
        .fetch_blob(
            &resolved.repository,
            &resolved.manifest.layers[0],
            &mut layer,
        )
        .await
        .unwrap();
    assert_eq!(layer.len(), image.layer.bytes.len());
    assert!(layer == image.layer.bytes);
}

#[tokio::test]
async fn pushes_over_tls_with_the_configured_ca_and_client_certificate() {
    let tls = support::tls_files();
    let registry = Registry::start_tls(&tls);
    let host = registry.host();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "pushed over tls\n");
    let reference = format!("{host}/secure/app:1");
    let section = |ca: Vec<std::path::PathBuf>| hearth_registry::HostConfig {
        // Loopback defaults to plain HTTP (as in BuildKit), so HTTPS is asked for.
        http: Some(false),
        ca,
        keypair: vec![(tls.client_cert.clone(), tls.client_key.clone())],
        ..hearth_registry::HostConfig::default()
    };
    let client_with = |ca| {
        let mut config = RegistryConfig::default();
        config.hosts.insert(host.clone(), section(ca));
        Client::new(config, Arc::new(NoCredentials)).unwrap()
    };

    // Without the CA the certificate does not verify, and the error says what to set.
    let err = client_with(Vec::new())
        .push(
            std::slice::from_ref(&reference),
            &push_image(&layout, &image),
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ca = [...]"), "{err}");

    let trusted = client_with(vec![tls.ca_cert.clone()]);
    let reports = trusted
        .push(
            std::slice::from_ref(&reference),
            &push_image(&layout, &image),
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(reports[0].uploaded(), 2);
    let resolved = trusted
        .resolve(&reference, &Platform::new("linux", "amd64", ""))
        .await
        .unwrap();
    assert_eq!(resolved.manifest_bytes, image.manifest.bytes);
}

#[tokio::test]
async fn pushes_with_bearer_tokens_including_a_mount_that_needs_two_scopes() {
    let server = support::token::start(support::token::Policy {
        users: [("alice".to_owned(), "open-sesame".to_owned())].into(),
        refresh_tokens: [("refresh-abc".to_owned(), "alice".to_owned())].into(),
        public: Vec::new(),
    })
    .await;
    let registry = Registry::start_with_token(&server);
    let host = registry.host();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "token push\n");
    let push = push_image(&layout, &image);
    // An identity token: the OAuth2 refresh grant (POST, scopes space-separated).
    let client = Client::new(
        RegistryConfig::default(),
        Arc::new(StaticCredentials::new().with(
            host.clone(),
            Credentials::IdentityToken(Secret::new("refresh-abc")),
        )),
    )
    .unwrap();
    let first = client
        .push(
            &[format!("{host}/team/one:1")],
            &push,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(first[0].uploaded(), 2);
    // The mount's token must grant push on `two` and pull on `one`.
    let second = client
        .push(
            &[format!("{host}/team/two:1")],
            &push,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(second[0].mounted(), 2, "{:?}", second[0]);

    let anonymous = client_with_token_refused(&host)
        .push(
            &[format!("{host}/team/three:1")],
            &push,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap_err();
    assert_eq!(anonymous.kind(), ErrorKind::PermissionDenied, "{anonymous}");
    assert!(
        anonymous.to_string().contains("push access denied"),
        "{anonymous}"
    );
}

/// A client whose identity token the token server does not know.
fn client_with_token_refused(host: &str) -> Client {
    Client::new(
        RegistryConfig::default(),
        Arc::new(StaticCredentials::new().with(
            host.to_owned(),
            Credentials::IdentityToken(Secret::new("unknown-refresh-token")),
        )),
    )
    .unwrap()
}
