//! Bearer tokens against a real `docker-registry` in token mode: a token serves only the
//! credentials that obtained it (a daemon gives each build its own client), and a token
//! request has an overall deadline, however slowly its server answers.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use hearth_core::Platform;
use hearth_registry::{
    Client, ClientOptions, Credentials, ErrorKind, NoCredentials, RegistryConfig, RegistryError,
    Secret, StaticCredentials,
};
use support::{Layout, Registry};

fn amd64() -> Platform {
    Platform::parse("linux/amd64").unwrap()
}

// Multi-threaded: the token server runs on this runtime and must answer skopeo while
// the test thread blocks waiting for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_serves_only_the_credentials_that_obtained_it() {
    let server = support::token::start(support::token::Policy {
        users: [("alice".to_owned(), "open-sesame".to_owned())].into(),
        refresh_tokens: Default::default(),
        public: Vec::new(),
    })
    .await;
    let registry = Registry::start_with_token(&server);
    let host = registry.host();
    let layout = Layout::new();
    let image = layout.image("linux/amd64", "alice's only\n");
    layout.tag("v1", &image.manifest);
    layout.push_with(
        "v1",
        &format!("{host}/team/private:v1"),
        &["--preserve-digests", "--dest-creds", "alice:open-sesame"],
    );
    let private = format!("{host}/team/private:v1");

    // The daemon's engine client has no credentials; each build derives its own.
    let engine = Client::new(RegistryConfig::default(), Arc::new(NoCredentials)).unwrap();
    let alice = engine.with_credentials(Arc::new(StaticCredentials::new().with(
        host.clone(),
        Credentials::Basic {
            username: "alice".into(),
            password: Secret::new("open-sesame"),
        },
    )));
    let bob = engine.with_credentials(Arc::new(NoCredentials));

    server.reset_requests();
    let got = alice.resolve(&private, &amd64()).await.unwrap();
    assert_eq!(got.manifest_digest, image.manifest.digest);
    let alice_tokens = server.requests();
    assert!(alice_tokens >= 1, "alice fetched a token");

    // Alice's token is cached for the same scope, but not for bob (nor for the engine's
    // own client): each asks the token server itself and is refused.
    for (who, client) in [("bob", &bob), ("the engine", &engine)] {
        let err = client.resolve(&private, &amd64()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{who}: {err:?}");
        assert!(
            err.to_string()
                .contains(&format!("to log in, run `hearth login {host}`")),
            "{who}: {err}"
        );
    }
    assert!(
        server.requests() > alice_tokens,
        "bob and the engine asked for tokens of their own"
    );
    // Alice still pulls from her cache without asking again.
    let before = server.requests();
    alice.resolve(&private, &amd64()).await.unwrap();
    assert_eq!(server.requests(), before, "alice's token was reused");
}

/// A hostile token server: it answers a token request with headers promising a body,
/// then trickles one byte a second. Each byte resets the transport's read-stall timeout,
/// so only an overall deadline ends the request. (A peer written for the test on
/// purpose: no real token server misbehaves on demand.)
fn trickling_token_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                // Stops when the client hangs up, or after 999 s.
                for _ in 0..999 {
                    std::thread::sleep(Duration::from_secs(1));
                    if stream.write_all(b" ").is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_token_server_meets_the_overall_deadline() {
    // Only for its certificate: the registry trusts tokens it would sign, but sends
    // clients to the trickling realm.
    let issuer = support::token::start(support::token::Policy {
        users: Default::default(),
        refresh_tokens: Default::default(),
        public: Vec::new(),
    })
    .await;
    let realm = format!("http://127.0.0.1:{}/token", trickling_token_server());
    let registry = Registry::start_with(&issuer.registry_auth_with_realm(&realm));
    let client = Client::with_options(
        RegistryConfig::default(),
        Arc::new(NoCredentials),
        ClientOptions {
            token_deadline: Duration::from_secs(3),
        },
    )
    .unwrap();
    let reference = format!("{}/team/app:v1", registry.host());
    // A safety net only: without a deadline the request would run for 999 s.
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        client.resolve(&reference, &amd64()),
    )
    .await
    .expect("the token request has no overall deadline: it is still running after 120 s");
    let err = outcome.unwrap_err();
    match &err {
        RegistryError::Transport { message, .. } => assert_eq!(
            message,
            &format!(
                "token request to {realm} did not finish within 3s; the token server is stalled or too slow"
            )
        ),
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}
