//! Registry authentication: `WWW-Authenticate` challenges, the Docker token protocol and
//! a token cache.
//!
//! Requests go out anonymously first; only a 401 makes the client look up credentials,
//! so public images never touch the user's credential store. A `Bearer` challenge is
//! answered by fetching a token from its realm (GET with basic auth, or an OAuth2
//! `refresh_token` POST for identity tokens, per the distribution token spec) and caching
//! it per (host, scope) until it expires; a `Basic` challenge by sending the credentials,
//! remembered per host. Tokens and passwords only ever live in [`Secret`]s.
//!
//! One [`Auth`] belongs to one credential source: a daemon gives every build its own
//! (`Client::with_credentials`), so a token fetched with one client's credentials can
//! never authorize another client's request. A token request must finish within an
//! overall deadline: a token server that trickles bytes never trips the transport's
//! read-stall timeout, and a build would otherwise wait on it for ever.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::credentials::{CredentialSource, Credentials};
use crate::endpoint::Endpoint;
use crate::error::RegistryError;
use crate::manifest::essence;
use crate::secret::Secret;

/// Tokens without `expires_in` live this long (the token spec's default and minimum).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Tokens are dropped this long before they expire, so one does not lapse in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);
/// The OAuth2 `client_id` sent with refresh-token grants.
const CLIENT_ID: &str = "hearth";
/// Token responses are small JSON documents; anything bigger is not one.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;
/// The longest a token request may take, from connecting to the last byte of the answer.
/// Real token servers answer in well under a second; this only stops a stalled or
/// trickling one from holding a build.
pub const TOKEN_DEADLINE: Duration = Duration::from_secs(60);

/// One challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The scheme, lowercased: `bearer`, `basic`, …
    pub(crate) scheme: String,
    /// The parameters, names lowercased, values unquoted.
    pub(crate) params: BTreeMap<String, String>,
}

/// Parses a `WWW-Authenticate` value into its challenges (RFC 7235): a scheme followed by
/// comma-separated `name=value` or `name="quoted, \"value\""` parameters; several
/// challenges may share one header.
pub(crate) fn parse_www_authenticate(header: &str) -> Vec<Challenge> {
    let bytes = header.as_bytes();
    let mut challenges: Vec<Challenge> = Vec::new();
    let mut i = 0;
    let skip = |i: &mut usize, pred: &dyn Fn(u8) -> bool| {
        while *i < bytes.len() && pred(bytes[*i]) {
            *i += 1;
        }
    };
    loop {
        skip(&mut i, &|b| b == b' ' || b == b'\t' || b == b',');
        if i >= bytes.len() {
            break;
        }
        let start = i;
        skip(&mut i, &|b| !matches!(b, b' ' | b'\t' | b',' | b'='));
        let token = &header[start..i];
        let mut after = i;
        skip(&mut after, &|b| b == b' ' || b == b'\t');
        let is_param = after < bytes.len() && bytes[after] == b'=';
        if !is_param {
            challenges.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
            continue;
        }
        i = after + 1;
        skip(&mut i, &|b| b == b' ' || b == b'\t');
        let value = if i < bytes.len() && bytes[i] == b'"' {
            i += 1;
            let mut value = String::new();
            let mut chars = header[i..].char_indices();
            let mut end = header.len();
            while let Some((offset, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + offset + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            i = end;
            value
        } else {
            let start = i;
            skip(&mut i, &|b| b != b',' && b != b' ' && b != b'\t');
            header[start..i].to_owned()
        };
        // A parameter before any scheme is malformed; drop it rather than guess.
        if let Some(current) = challenges.last_mut() {
            current.params.insert(token.to_ascii_lowercase(), value);
        }
    }
    challenges
}

/// The `Authorization` to send.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum AuthHeader {
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

impl AuthHeader {
    pub(crate) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            AuthHeader::Bearer(token) => request.bearer_auth(token.expose()),
            AuthHeader::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
        }
    }
}

#[derive(Clone)]
enum Cached {
    Bearer { token: Secret, expires: Instant },
    Basic { username: String, password: Secret },
}

/// Basic credentials apply to every scope of a host, so they are cached under this scope.
const ANY_SCOPE: &str = "";

/// One credential source's lookups and token cache, shared by the clones of a client
/// made with that source.
pub(crate) struct Auth {
    credentials: Arc<dyn CredentialSource>,
    /// The source's answer per host, asked once (the source may be a round trip to a
    /// daemon's client). Guards only the map; the cells are awaited outside it.
    answers: Mutex<HashMap<String, Arc<OnceCell<Option<Credentials>>>>>,
    /// Guards the cached tokens and basic credentials by (host, scope). Held only for
    /// map operations, never across a request.
    cache: Mutex<HashMap<(String, String), Cached>>,
    /// See [`TOKEN_DEADLINE`].
    token_deadline: Duration,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// What a refused request should tell the user.
pub(crate) fn unauthorized(host: &str, had_credentials: bool, server: &str) -> RegistryError {
    let mut detail =
        "pull access denied, repository does not exist or may require authorization".to_owned();
    if !server.is_empty() {
        detail.push_str(": ");
        detail.push_str(server);
    }
    let hint = if had_credentials {
        format!("the credentials for {host} were refused; update them with `hearth login {host}`")
    } else {
        format!("to log in, run `hearth login {host}`")
    };
    RegistryError::Unauthorized {
        host: host.to_owned(),
        detail,
        hint,
    }
}

/// Says "push access denied" for a refusal of a push scope, as docker does.
pub(crate) fn for_scope(error: RegistryError, scope: &str) -> RegistryError {
    match error {
        RegistryError::Unauthorized { host, detail, hint } if scope.contains("push") => {
            RegistryError::Unauthorized {
                host,
                detail: detail.replacen("pull access denied", "push access denied", 1),
                hint,
            }
        }
        RegistryError::Unauthorized { host, detail, hint } if scope.is_empty() => {
            RegistryError::Unauthorized {
                host,
                detail: detail.replacen(
                    "pull access denied, repository does not exist or may require authorization",
                    "unauthorized",
                    1,
                ),
                hint,
            }
        }
        other => other,
    }
}

impl Auth {
    pub(crate) fn new(credentials: Arc<dyn CredentialSource>, token_deadline: Duration) -> Self {
        Self {
            credentials,
            answers: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            token_deadline,
        }
    }

    /// A fresh cache for `credentials`, with this one's settings.
    pub(crate) fn with_credentials(&self, credentials: Arc<dyn CredentialSource>) -> Self {
        Self::new(credentials, self.token_deadline)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Cached>> {
        // A panic while holding the lock cannot leave the map half-updated (single
        // inserts and removes), so a poisoned lock is still safe to use.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn answer_cell(&self, host: &str) -> Arc<OnceCell<Option<Credentials>>> {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(answers.entry(host.to_owned()).or_default())
    }

    /// The source's credentials for `host`, asked at most once per host; a failed ask
    /// is not remembered.
    async fn lookup(&self, host: &str) -> Result<Option<Credentials>, RegistryError> {
        self.answer_cell(host)
            .get_or_try_init(|| self.credentials.credentials(host))
            .await
            .cloned()
            .map_err(|e| RegistryError::Credentials {
                host: host.to_owned(),
                message: e.0,
            })
    }

    /// Whether credentials were found for the endpoint (for choosing an error hint).
    pub(crate) fn has_credentials(&self, endpoint: &Endpoint) -> bool {
        self.answer_cell(endpoint.credential_host())
            .get()
            .is_some_and(Option::is_some)
    }

    /// The cached authorization for `scope` on `host`, if still valid.
    pub(crate) fn cached(&self, host: &str, scope: &str) -> Option<AuthHeader> {
        let mut cache = self.lock();
        let key = (host.to_owned(), scope.to_owned());
        match cache.get(&key) {
            Some(Cached::Bearer { token, expires }) if *expires > Instant::now() => {
                return Some(AuthHeader::Bearer(token.clone()));
            }
            Some(Cached::Bearer { .. }) => {
                cache.remove(&key);
            }
            _ => {}
        }
        match cache.get(&(host.to_owned(), ANY_SCOPE.to_owned())) {
            Some(Cached::Basic { username, password }) => Some(AuthHeader::Basic {
                username: username.clone(),
                password: password.clone(),
            }),
            _ => None,
        }
    }

    /// Answers the challenges of a 401 from `endpoint` for `scope`, caching the result.
    pub(crate) async fn authorize(
        &self,
        http: &reqwest::Client,
        endpoint: &Endpoint,
        scope: &str,
        challenges: &[Challenge],
    ) -> Result<AuthHeader, RegistryError> {
        let host = endpoint.credential_host();
        let credentials = self.lookup(host).await?;
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let fetch = fetch_token(http, host, bearer, scope, credentials.as_ref());
            let (token, lifetime) = tokio::time::timeout(self.token_deadline, fetch)
                .await
                .map_err(|_| RegistryError::Transport {
                    host: host.to_owned(),
                    message: format!(
                        "token request to {} did not finish within {}s; the token server is stalled or too slow",
                        bearer.params.get("realm").map_or("the realm", String::as_str),
                        self.token_deadline.as_secs_f64()
                    ),
                })??;
            let expires = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
            self.lock().insert(
                (endpoint.host.clone(), scope.to_owned()),
                Cached::Bearer {
                    token: token.clone(),
                    expires,
                },
            );
            return Ok(AuthHeader::Bearer(token));
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            return match credentials {
                Some(Credentials::Basic { username, password }) => {
                    self.lock().insert(
                        (endpoint.host.clone(), ANY_SCOPE.to_owned()),
                        Cached::Basic {
                            username: username.clone(),
                            password: password.clone(),
                        },
                    );
                    Ok(AuthHeader::Basic { username, password })
                }
                Some(Credentials::IdentityToken(_)) => Err(unauthorized(
                    host,
                    true,
                    "the registry wants a user name and password, but only an identity token is stored",
                )),
                None => Err(unauthorized(host, false, "authentication required")),
            };
        }
        let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        Err(unauthorized(
            host,
            credentials.is_some(),
            &if schemes.is_empty() {
                "the registry sent no WWW-Authenticate challenge".to_owned()
            } else {
                format!("unsupported authentication scheme {}", schemes.join(", "))
            },
        ))
    }
}

/// Fetches a bearer token from the challenge's realm.
async fn fetch_token(
    http: &reqwest::Client,
    host: &str,
    challenge: &Challenge,
    scope: &str,
    credentials: Option<&Credentials>,
) -> Result<(Secret, Duration), RegistryError> {
    let bad = |status: u16, detail: String| RegistryError::BadResponse {
        host: host.to_owned(),
        status,
        detail,
    };
    let realm = challenge
        .params
        .get("realm")
        .ok_or_else(|| bad(401, "bearer challenge without a realm".to_owned()))?;
    let mut url = reqwest::Url::parse(realm).map_err(|e| {
        bad(
            401,
            format!("bearer challenge with invalid realm {realm:?}: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(
            401,
            format!("bearer challenge with non-http realm {realm:?}"),
        ));
    }
    let service = challenge.params.get("service").cloned().unwrap_or_default();
    // The challenge's own scope names what the registry wants; ours is the fallback.
    let scopes: Vec<String> = match challenge.params.get("scope") {
        Some(s) if !s.trim().is_empty() => s.split(' ').map(str::to_owned).collect(),
        // Several scopes (a push that mounts from another repository) travel as one
        // space-separated string, as in the token spec's form-encoded grant.
        _ => scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let request = match credentials {
        Some(Credentials::IdentityToken(token)) => {
            // Form-encode through `Url` to avoid a dependency just for the encoder.
            let mut form = reqwest::Url::parse("http://form.invalid/")
                .map_err(|e| bad(0, format!("internal error building the token request: {e}")))?;
            form.query_pairs_mut()
                .append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", token.expose())
                .append_pair("service", &service)
                .append_pair("client_id", CLIENT_ID)
                .append_pair("scope", &scopes.join(" "));
            let body = form.query().unwrap_or_default().to_owned();
            http.post(url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body)
        }
        other => {
            {
                let mut query = url.query_pairs_mut();
                if !service.is_empty() {
                    query.append_pair("service", &service);
                }
                for s in &scopes {
                    query.append_pair("scope", s);
                }
            }
            let request = http.get(url);
            match other {
                Some(Credentials::Basic { username, password }) => {
                    request.basic_auth(username, Some(password.expose()))
                }
                _ => request,
            }
        }
    };
    let response = request.send().await.map_err(|e| RegistryError::Transport {
        host: host.to_owned(),
        message: format!("token request failed: {}", crate::transport::describe(&e)),
    })?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence)
        .unwrap_or_default();
    let response_url = response.url().to_string();
    let body = crate::transport::read_limited(response, MAX_TOKEN_RESPONSE)
        .await
        .map_err(|message| RegistryError::Transport {
            host: host.to_owned(),
            message: format!("token request failed: {message}"),
        })?;
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(unauthorized(
            host,
            credentials.is_some(),
            &crate::transport::registry_message(&body, status),
        ));
    }
    if content_type == "text/html" {
        return Err(RegistryError::Html {
            host: host.to_owned(),
            url: response_url,
        });
    }
    if !status.is_success() {
        return Err(bad(
            status.as_u16(),
            format!(
                "token request failed: {}",
                crate::transport::registry_message(&body, status)
            ),
        ));
    }
    let parsed: TokenResponse = serde_json::from_slice(&body)
        .map_err(|e| bad(status.as_u16(), format!("invalid token response: {e}")))?;
    let token = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| bad(status.as_u16(), "token response without a token".to_owned()))?;
    let lifetime = parsed
        .expires_in
        .filter(|s| *s > 0)
        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
    Ok((Secret::new(token), lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_docker_hub_bearer_challenge() {
        let got = parse_www_authenticate(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            got,
            vec![Challenge {
                scheme: "bearer".into(),
                params: params(&[
                    ("realm", "https://auth.docker.io/token"),
                    ("service", "registry.docker.io"),
                    ("scope", "repository:library/busybox:pull"),
                ]),
            }]
        );
    }

    #[test]
    fn commas_and_escapes_inside_quotes_stay_in_the_value() {
        let got = parse_www_authenticate(
            r#"Bearer realm="https://r.example/token", scope="repository:a:pull,push repository:b:pull", error="say \"hi\", ok""#,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].params,
            params(&[
                ("realm", "https://r.example/token"),
                ("scope", "repository:a:pull,push repository:b:pull"),
                ("error", r#"say "hi", ok"#),
            ])
        );
    }

    #[test]
    fn several_challenges_unquoted_values_and_case() {
        let got = parse_www_authenticate(
            r#"Basic realm="Registry Realm", BEARER Realm=https://t.example/token,Service=reg"#,
        );
        assert_eq!(
            got,
            vec![
                Challenge {
                    scheme: "basic".into(),
                    params: params(&[("realm", "Registry Realm")]),
                },
                Challenge {
                    scheme: "bearer".into(),
                    params: params(&[("realm", "https://t.example/token"), ("service", "reg")]),
                },
            ]
        );
        assert_eq!(
            parse_www_authenticate("Basic"),
            vec![Challenge {
                scheme: "basic".into(),
                params: BTreeMap::new()
            }]
        );
        assert_eq!(parse_www_authenticate("  "), Vec::<Challenge>::new());
        // An unterminated quote takes the rest of the header rather than failing.
        assert_eq!(
            parse_www_authenticate(r#"Bearer realm="https://x"#)[0].params["realm"],
            "https://x"
        );
    }

    #[test]
    fn unauthorized_hint_depends_on_whether_credentials_were_sent() {
        let anonymous = unauthorized("ghcr.io", false, "authentication required");
        assert_eq!(
            anonymous.to_string(),
            "ghcr.io: pull access denied, repository does not exist or may require authorization: authentication required; to log in, run `hearth login ghcr.io`"
        );
        let refused = unauthorized("ghcr.io", true, "");
        assert!(
            refused.to_string().ends_with(
                "the credentials for ghcr.io were refused; update them with `hearth login ghcr.io`"
            ),
            "{refused}"
        );
    }

    #[test]
    fn cache_expires_bearer_tokens_and_keeps_basic_per_host() {
        let auth = Auth::new(Arc::new(crate::credentials::NoCredentials), TOKEN_DEADLINE);
        auth.lock().insert(
            ("h".into(), "s1".into()),
            Cached::Bearer {
                token: Secret::new("t"),
                expires: Instant::now() + Duration::from_secs(30),
            },
        );
        auth.lock().insert(
            ("h".into(), "s2".into()),
            Cached::Bearer {
                token: Secret::new("old"),
                expires: Instant::now() - Duration::from_secs(1),
            },
        );
        assert!(matches!(auth.cached("h", "s1"), Some(AuthHeader::Bearer(t)) if t.expose() == "t"));
        assert!(auth.cached("h", "s2").is_none());
        assert!(!auth.lock().contains_key(&("h".into(), "s2".into())));
        auth.lock().insert(
            ("h".into(), ANY_SCOPE.into()),
            Cached::Basic {
                username: "u".into(),
                password: Secret::new("p"),
            },
        );
        assert!(matches!(
            auth.cached("h", "s3"),
            Some(AuthHeader::Basic { username, .. }) if username == "u"
        ));
    }
}
