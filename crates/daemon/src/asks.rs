//! What the daemon asks its client for while a build runs, besides files: secret values
//! when a step mounts one, and registry credentials when a registry challenges. Both
//! stay in memory for the one build that asked; both are bounded in size, and a
//! credential request also in time (the client may be running a credential helper that
//! waits for its user).

use std::sync::Arc;
use std::time::Duration;

use hearth_api::v1::build_server_message::Message as ServerMessage;
use hearth_api::v1::{CredentialsRequest, CredentialsResponse, SecretRequest, SecretValue};
use hearth_registry::{CredentialError, CredentialSource, Credentials, CredentialsFuture, Secret};
use hearth_worker::{SecretFuture, SecretProvider};
use tokio::sync::oneshot;

use crate::session::{Shared, message};

/// The largest secret value accepted (BuildKit's `MaxSecretSize`).
pub(crate) const MAX_SECRET_SIZE: usize = 500 << 10;
/// The largest credentials accepted: user name, password and identity token together.
/// Real tokens are a few KiB.
pub(crate) const MAX_CREDENTIALS_SIZE: usize = 64 << 10;
/// How long the client may take to answer a credential request.
pub(crate) const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(120);

/// A secret value as the client sent it, checked.
pub(crate) fn secret_of(value: SecretValue) -> Result<Option<Vec<u8>>, String> {
    if !value.found {
        return Ok(None);
    }
    if value.value.len() > MAX_SECRET_SIZE {
        return Err(format!(
            "secret {} is {} bytes, more than the {} KiB a secret may have",
            value.id,
            value.value.len(),
            MAX_SECRET_SIZE >> 10
        ));
    }
    Ok(Some(value.value))
}

/// Credentials as the client sent them, checked.
pub(crate) fn credentials_of(
    response: CredentialsResponse,
) -> Result<Option<Credentials>, CredentialError> {
    if !response.found {
        return Ok(None);
    }
    let size = response.username.len() + response.secret.len() + response.identity_token.len();
    if size > MAX_CREDENTIALS_SIZE {
        return Err(CredentialError(format!(
            "the client's credentials for {} are {size} bytes, more than the {} KiB hearthd accepts",
            response.host,
            MAX_CREDENTIALS_SIZE >> 10
        )));
    }
    Ok(if !response.identity_token.is_empty() {
        Some(Credentials::IdentityToken(Secret::new(
            response.identity_token,
        )))
    } else if response.username.is_empty() && response.secret.is_empty() {
        None
    } else {
        Some(Credentials::Basic {
            username: response.username,
            password: Secret::new(response.secret),
        })
    })
}

/// Asks the client for secrets.
pub(crate) struct Secrets(pub(crate) Arc<Shared>);

impl SecretProvider for Secrets {
    fn secret<'a>(&'a self, id: &'a str) -> SecretFuture<'a> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            {
                let mut pending = self.0.pending();
                if let Some(why) = &pending.closed {
                    return Err(why.clone());
                }
                pending.secrets.entry(id.to_owned()).or_default().push(tx);
            }
            self.0
                .out
                .send(message(ServerMessage::SecretRequest(SecretRequest {
                    id: id.to_owned(),
                })))
                .await
                .map_err(|_| "the client went away".to_owned())?;
            rx.await
                .map_err(|_| "the client went away before sending the secret".to_owned())?
        })
    }
}

/// Asks the client for its registry credentials, as buildx's auth session answers
/// BuildKit.
pub(crate) struct ClientCredentials(pub(crate) Arc<Shared>);

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientCredentials")
    }
}

impl CredentialSource for ClientCredentials {
    fn credentials<'a>(&'a self, host: &'a str) -> CredentialsFuture<'a> {
        Box::pin(async move {
            let gone = || CredentialError("the client went away".into());
            let (tx, rx) = oneshot::channel();
            {
                let mut pending = self.0.pending();
                if let Some(why) = &pending.closed {
                    return Err(CredentialError(why.clone()));
                }
                pending
                    .credentials
                    .entry(host.to_owned())
                    .or_default()
                    .push(tx);
            }
            self.0
                .out
                .send(message(ServerMessage::CredentialsRequest(
                    CredentialsRequest {
                        host: host.to_owned(),
                    },
                )))
                .await
                .map_err(|_| gone())?;
            match tokio::time::timeout(CREDENTIALS_TIMEOUT, rx).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(gone()),
                Err(_) => Err(CredentialError(format!(
                    "the client did not answer within {}s",
                    CREDENTIALS_TIMEOUT.as_secs()
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn answers_become_credentials_within_bounds() {
        let response = |username: &str, secret: &str, token: &str| CredentialsResponse {
            host: "r.example".into(),
            username: username.into(),
            secret: secret.into(),
            identity_token: token.into(),
            found: true,
        };
        assert_eq!(
            credentials_of(response("alice", "pw", "")),
            Ok(Some(Credentials::Basic {
                username: "alice".into(),
                password: Secret::new("pw")
            }))
        );
        assert_eq!(
            credentials_of(response("<token>", "", "refresh")),
            Ok(Some(Credentials::IdentityToken(Secret::new("refresh"))))
        );
        assert_eq!(credentials_of(response("", "", "")), Ok(None));
        assert_eq!(
            credentials_of(CredentialsResponse {
                found: false,
                ..response("alice", "pw", "")
            }),
            Ok(None)
        );
        let huge = "x".repeat(MAX_CREDENTIALS_SIZE);
        let err = credentials_of(response("alice", &huge, "")).unwrap_err();
        assert!(err.0.contains("more than the 64 KiB"), "{err}");
        assert!(!err.0.contains("xxxx"), "{err}");
    }

    #[test]
    fn secrets_are_bounded() {
        let value = |bytes: usize| SecretValue {
            id: "tok".into(),
            value: vec![b'x'; bytes],
            found: true,
        };
        assert_eq!(secret_of(value(3)), Ok(Some(b"xxx".to_vec())));
        let err = secret_of(value(MAX_SECRET_SIZE + 1)).unwrap_err();
        assert!(err.contains("more than the 500 KiB"), "{err}");
        assert_eq!(
            secret_of(SecretValue {
                found: false,
                ..value(1)
            }),
            Ok(None)
        );
    }
}
