//! Whose registry credentials a build through hearthd uses.
//!
//! The client's: the daemon asks it over the build stream for the hosts that challenge
//! (see `session`), as buildx's auth session does, so a build can reach exactly what its
//! user could. The daemon's own docker login (root's `config.json`) is used only for the
//! hosts whose `[registry."host"]` section says `daemon-credentials = true`; for those
//! the daemon's answer comes first and the client is asked only if the daemon has none.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use hearth_auth::DockerConfigCredentials;
use hearth_registry::{CredentialError, CredentialSource, CredentialsFuture};

/// The daemon's own credentials, for the hosts its configuration opts in and no other.
pub struct OwnCredentials {
    hosts: BTreeSet<String>,
    source: Arc<DockerConfigCredentials>,
}

impl OwnCredentials {
    /// `source` (the daemon's docker config) for `hosts` only.
    pub fn new(hosts: impl IntoIterator<Item = String>, source: DockerConfigCredentials) -> Self {
        Self {
            hosts: hosts.into_iter().collect(),
            source: Arc::new(source),
        }
    }

    /// The hosts builds may use the daemon's credentials for.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(String::as_str)
    }
}

impl fmt::Debug for OwnCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnCredentials")
            .field("hosts", &self.hosts)
            .field("source", &self.source)
            .finish()
    }
}

impl CredentialSource for OwnCredentials {
    fn credentials<'a>(&'a self, host: &'a str) -> CredentialsFuture<'a> {
        Box::pin(async move {
            if !self.hosts.contains(host) {
                return Ok(None);
            }
            // A credential helper may take its time; keep it off the async workers.
            let source = Arc::clone(&self.source);
            let host = host.to_owned();
            tokio::task::spawn_blocking(move || source.lookup(&host))
                .await
                .map_err(|e| CredentialError(format!("the daemon's credential lookup failed: {e}")))
        })
    }
}

/// One build's credentials: the daemon's own where opted in, else the client's.
#[derive(Debug)]
pub(crate) struct BuildCredentials {
    pub(crate) own: Arc<OwnCredentials>,
    /// The client's, when it answers credential requests (older clients do not).
    pub(crate) client: Option<Arc<dyn CredentialSource>>,
}

impl CredentialSource for BuildCredentials {
    fn credentials<'a>(&'a self, host: &'a str) -> CredentialsFuture<'a> {
        Box::pin(async move {
            if let Some(own) = self.own.credentials(host).await? {
                tracing::debug!(
                    host,
                    "using the daemon's own credentials (daemon-credentials)"
                );
                return Ok(Some(own));
            }
            match &self.client {
                Some(client) => client.credentials(host).await,
                None => Ok(None),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use hearth_registry::{Credentials, Secret, StaticCredentials};

    fn basic(user: &str) -> Credentials {
        Credentials::Basic {
            username: user.into(),
            password: Secret::new("pw"),
        }
    }

    #[tokio::test]
    async fn the_daemon_answers_only_for_hosts_its_configuration_names() {
        let dir = tempfile::tempdir().unwrap();
        // root's docker config knows both hosts; only one is opted in.
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"opted.example":{"auth":"cm9vdDpwdw=="},"private.example":{"auth":"cm9vdDpwdw=="}}}"#,
        )
        .unwrap();
        let own = Arc::new(OwnCredentials::new(
            ["opted.example".to_owned()],
            DockerConfigCredentials::from_dir(dir.path()),
        ));
        let client: Arc<dyn CredentialSource> = Arc::new(
            StaticCredentials::new()
                .with("private.example", basic("alice"))
                .with("opted.example", basic("alice")),
        );
        let build = BuildCredentials {
            own: Arc::clone(&own),
            client: Some(client),
        };
        assert_eq!(
            build.credentials("opted.example").await,
            Ok(Some(basic("root")))
        );
        assert_eq!(
            build.credentials("private.example").await,
            Ok(Some(basic("alice")))
        );
        let old_client = BuildCredentials { own, client: None };
        assert_eq!(old_client.credentials("private.example").await, Ok(None));
        assert_eq!(
            old_client.credentials("opted.example").await,
            Ok(Some(basic("root")))
        );
    }
}
