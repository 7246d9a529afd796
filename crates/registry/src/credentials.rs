//! Where registry credentials come from.
//!
//! The client asks a [`CredentialSource`] only after a registry has challenged it, so an
//! anonymous pull never touches the user's credential store. Reading
//! `~/.docker/config.json` and credential helpers belongs to the caller (the CLI, or a
//! daemon asking its client over the build stream); this crate only consumes them.
//!
//! The lookup is asynchronous because the answer may be a round trip away: hearthd asks
//! the build's client, which answers from its own docker config. A source that answers
//! locally returns a ready future.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::secret::Secret;

/// Credentials for one registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or a personal access token used as a password).
    Basic {
        /// The user name.
        username: String,
        /// The password; never printed.
        password: Secret,
    },
    /// An identity (refresh) token, as `docker login` stores for some registries; it is
    /// exchanged for a bearer token with an OAuth2 `refresh_token` grant.
    IdentityToken(Secret),
}

/// Why a source could not say whether it has credentials (the daemon's client went away
/// or did not answer in time). Distinct from "no credentials", which is `Ok(None)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

/// What a [`CredentialSource`] returns.
pub type CredentialsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Credentials>, CredentialError>> + Send + 'a>>;

/// A provider of credentials, keyed by registry host.
///
/// `host` is the `host[:port]` of the endpoint that challenged (a mirror asks for the
/// mirror's credentials, as BuildKit does), except that Docker Hub's API host
/// `registry-1.docker.io` is asked for as `docker.io`, the name users log in to.
///
/// `Debug` is required so requests carrying a source can be printed; implementations
/// must never print a credential.
pub trait CredentialSource: Send + Sync + fmt::Debug {
    /// The credentials for `host`, `Ok(None)` to stay anonymous.
    fn credentials<'a>(&'a self, host: &'a str) -> CredentialsFuture<'a>;
}

/// A [`CredentialSource`] that never has credentials: every pull is anonymous.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCredentials;

impl CredentialSource for NoCredentials {
    fn credentials<'a>(&'a self, _host: &'a str) -> CredentialsFuture<'a> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// A fixed table of credentials by host, for callers that resolved them up front.
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials {
    by_host: BTreeMap<String, Credentials>,
}

impl StaticCredentials {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the credentials for `host`.
    pub fn with(mut self, host: impl Into<String>, credentials: Credentials) -> Self {
        self.by_host.insert(host.into(), credentials);
        self
    }

    /// The credentials for `host`, if the table has them.
    pub fn get(&self, host: &str) -> Option<&Credentials> {
        self.by_host.get(host)
    }
}

impl CredentialSource for StaticCredentials {
    fn credentials<'a>(&'a self, host: &'a str) -> CredentialsFuture<'a> {
        Box::pin(std::future::ready(Ok(self.by_host.get(host).cloned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(future))
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    #[test]
    fn debug_output_never_contains_the_password() {
        let creds = Credentials::Basic {
            username: "alice".into(),
            password: Secret::new("s3cret-pw"),
        };
        let table = StaticCredentials::new().with("example.com", creds.clone());
        let dumped = format!("{creds:?} {table:?}");
        assert!(!dumped.contains("s3cret-pw"), "{dumped}");
        assert!(dumped.contains("alice"));
        assert_eq!(now(table.credentials("example.com")), Ok(Some(creds)));
        assert_eq!(now(table.credentials("other.com")), Ok(None));
        assert_eq!(now(NoCredentials.credentials("example.com")), Ok(None));
    }
}
