//! Where registry credentials come from.
//!
//! The client asks a [`CredentialSource`] only after a registry has challenged it, so an
//! anonymous pull never touches the user's credential store. Reading
//! `~/.docker/config.json` and credential helpers belongs to the caller (the CLI, or a
//! daemon session forwarding the client's credentials); this crate only consumes them.

use std::collections::BTreeMap;

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

/// A provider of credentials, keyed by registry host.
///
/// `host` is the `host[:port]` of the endpoint that challenged (a mirror asks for the
/// mirror's credentials, as BuildKit does), except that Docker Hub's API host
/// `registry-1.docker.io` is asked for as `docker.io`, the name users log in to.
pub trait CredentialSource: Send + Sync {
    /// The credentials for `host`, or `None` to stay anonymous.
    fn credentials(&self, host: &str) -> Option<Credentials>;
}

/// A [`CredentialSource`] that never has credentials: every pull is anonymous.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCredentials;

impl CredentialSource for NoCredentials {
    fn credentials(&self, _host: &str) -> Option<Credentials> {
        None
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
}

impl CredentialSource for StaticCredentials {
    fn credentials(&self, host: &str) -> Option<Credentials> {
        self.by_host.get(host).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(table.credentials("example.com"), Some(creds));
        assert_eq!(table.credentials("other.com"), None);
        assert_eq!(NoCredentials.credentials("example.com"), None);
    }
}
