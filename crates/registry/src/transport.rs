//! HTTP for the registry API: one `reqwest` client per TLS profile, retries with
//! exponential backoff, BuildKit's HTTPS-to-HTTP fallback for insecure hosts, and the
//! 401 → authorize → retry dance.
//!
//! Timeouts: 10 s to connect and 60 s without a byte on an established connection. There
//! is deliberately no whole-request timeout: layer blobs can take minutes to stream, and a
//! stall, not slowness, is what indicates a broken transfer.
//!
//! This layer knows nothing about manifests or blobs, so pushing can reuse it unchanged.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{ACCEPT, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};

use crate::auth::{self, Auth, AuthHeader, parse_www_authenticate};
use crate::config::RegistryConfig;
use crate::endpoint::{Endpoint, Scheme};
use crate::error::RegistryError;

/// Time allowed to establish a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed without receiving a byte on an established connection.
const READ_STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts per request for connection errors, 5xx and 429 (GET and HEAD only).
const ATTEMPTS: u32 = 3;
/// First backoff delay; doubled for each further attempt.
const BACKOFF: Duration = Duration::from_millis(200);
/// Error bodies are read only this far, for their message.
const MAX_ERROR_BODY: usize = 64 << 10;

/// One request to a registry endpoint.
pub(crate) struct Request<'a> {
    pub(crate) method: Method,
    pub(crate) endpoint: &'a Endpoint,
    /// The path below the endpoint's API root, starting with `/`.
    pub(crate) path: String,
    /// The `Accept` header, if any.
    pub(crate) accept: Option<&'static str>,
    /// The token scope, e.g. `repository:library/busybox:pull`.
    pub(crate) scope: String,
    /// The `ns` query parameter naming the upstream registry, sent to mirrors
    /// (containerd's convention, understood by Harbor, zot and others).
    pub(crate) namespace: Option<String>,
    /// An absolute URL to use instead of the endpoint and `path` (an upload session's
    /// `Location`, which the registry chooses).
    pub(crate) url: Option<reqwest::Url>,
    /// Further query parameters.
    pub(crate) query: Vec<(&'static str, String)>,
    /// Further headers (`Content-Type`, `Content-Range`).
    pub(crate) headers: Vec<(reqwest::header::HeaderName, String)>,
    /// The body, rebuilt for every attempt.
    pub(crate) body: Option<RequestBody>,
    /// Whether a transient failure may be retried although the method is not GET or HEAD
    /// (a manifest PUT is idempotent; an upload PUT is not, its session is spent).
    pub(crate) retry_safe: bool,
}

/// A request body that can be produced again for a retry.
#[derive(Debug, Clone)]
pub(crate) enum RequestBody {
    /// Bytes in memory (manifests, image configurations).
    Bytes(bytes::Bytes),
    /// `len` bytes of a file from `offset` (a layer blob, or a chunk of one), streamed.
    File {
        path: std::path::PathBuf,
        offset: u64,
        len: u64,
    },
}

impl RequestBody {
    fn len(&self) -> u64 {
        match self {
            RequestBody::Bytes(b) => b.len() as u64,
            RequestBody::File { len, .. } => *len,
        }
    }

    async fn open(&self, host: &str) -> Result<reqwest::Body, RegistryError> {
        match self {
            RequestBody::Bytes(b) => Ok(reqwest::Body::from(b.clone())),
            RequestBody::File { path, offset, len } => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let io = |e: std::io::Error| RegistryError::Source {
                    host: host.to_owned(),
                    path: path.clone(),
                    source: e,
                };
                let mut file = tokio::fs::File::open(path).await.map_err(io)?;
                file.seek(std::io::SeekFrom::Start(*offset))
                    .await
                    .map_err(io)?;
                let reader = file.take(*len);
                Ok(reqwest::Body::wrap_stream(
                    tokio_util::io::ReaderStream::with_capacity(reader, 256 << 10),
                ))
            }
        }
    }
}

impl<'a> Request<'a> {
    /// A GET of `path` on `endpoint` for `scope`, without extras.
    pub(crate) fn get(endpoint: &'a Endpoint, path: String, scope: String) -> Self {
        Self {
            method: Method::GET,
            endpoint,
            path,
            accept: None,
            scope,
            namespace: None,
            url: None,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            retry_safe: false,
        }
    }
}

/// Shared HTTP state: clients (and so their connection pools) and fallback memory.
/// Authorization is the caller's ([`Auth`]), so clients with different credentials share
/// one transport.
pub(crate) struct Transport {
    /// The client for endpoints without a configuration section.
    default_client: reqwest::Client,
    /// Clients for configuration sections, which may carry CAs, key pairs or `insecure`.
    by_section: HashMap<String, reqwest::Client>,
    /// Hosts that failed over HTTPS and answered over HTTP (BuildKit's `httpFallback`
    /// remembers this per host too). Held only to read or insert.
    http_fallen_back: Mutex<HashSet<String>>,
}

fn user_agent() -> String {
    format!("hearth/{}", env!("CARGO_PKG_VERSION"))
}

fn config_error(host: &str, message: String) -> RegistryError {
    RegistryError::Config {
        host: host.to_owned(),
        message,
    }
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(user_agent())
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_STALL_TIMEOUT)
}

fn section_client(
    host: &str,
    section: &crate::config::HostConfig,
) -> Result<reqwest::Client, RegistryError> {
    let mut b = builder();
    for ca in &section.ca {
        let pem = std::fs::read(ca)
            .map_err(|e| config_error(host, format!("failed to read ca {}: {e}", ca.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            config_error(
                host,
                format!("invalid ca {}: {}", ca.display(), describe(&e)),
            )
        })?;
        if certs.is_empty() {
            return Err(config_error(
                host,
                format!("ca {} holds no PEM certificate", ca.display()),
            ));
        }
        for cert in certs {
            b = b.add_root_certificate(cert);
        }
    }
    // rustls presents one client certificate; BuildKit's Go TLS picks the first that
    // suits the server, which in practice is also the first.
    if let Some((cert, key)) = section.keypair.first() {
        let mut pem = std::fs::read(cert).map_err(|e| {
            config_error(
                host,
                format!("failed to read keypair cert {}: {e}", cert.display()),
            )
        })?;
        pem.push(b'\n');
        pem.extend(std::fs::read(key).map_err(|e| {
            config_error(
                host,
                format!("failed to read keypair key {}: {e}", key.display()),
            )
        })?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            config_error(
                host,
                format!(
                    "failed to load keypair for {}: {}",
                    cert.display(),
                    describe(&e)
                ),
            )
        })?;
        b = b.identity(identity);
    }
    if section.insecure {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    b.build()
        .map_err(|e| config_error(host, format!("failed to set up tls: {}", describe(&e))))
}

impl Transport {
    pub(crate) fn new(config: &RegistryConfig) -> Result<Self, RegistryError> {
        let default_client = builder().build().map_err(|e| {
            config_error(
                "default",
                format!("failed to set up http: {}", describe(&e)),
            )
        })?;
        let mut by_section = HashMap::new();
        for (host, section) in &config.hosts {
            by_section.insert(host.clone(), section_client(host, section)?);
        }
        Ok(Self {
            default_client,
            by_section,
            http_fallen_back: Mutex::new(HashSet::new()),
        })
    }

    fn client(&self, endpoint: &Endpoint) -> &reqwest::Client {
        endpoint
            .config_host
            .as_ref()
            .and_then(|h| self.by_section.get(h))
            .unwrap_or(&self.default_client)
    }

    fn fallen_back(&self, host: &str) -> bool {
        self.http_fallen_back
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(host)
    }

    /// Sends `request`, authorizing on a 401 and retrying transient failures. Returns the
    /// response whatever its status, except that a 401 or 403 after authorizing (or one
    /// that cannot be authorized) is [`RegistryError::Unauthorized`].
    pub(crate) async fn send(
        &self,
        authority: &Auth,
        request: &Request<'_>,
    ) -> Result<Response, RegistryError> {
        self.send_inner(authority, request)
            .await
            .map_err(|e| auth::for_scope(e, &request.scope))
    }

    async fn send_inner(
        &self,
        authority: &Auth,
        request: &Request<'_>,
    ) -> Result<Response, RegistryError> {
        let endpoint = request.endpoint;
        let client = self.client(endpoint);
        let mut auth = authority.cached(&endpoint.host, &request.scope);
        let mut authorized = false;
        loop {
            let response = self
                .send_with_retries(client, request, auth.as_ref())
                .await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !authorized {
                let challenges: Vec<_> = response
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(parse_www_authenticate)
                    .collect();
                auth = Some(
                    authority
                        .authorize(client, endpoint, &request.scope, &challenges)
                        .await?,
                );
                authorized = true;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                let body = read_limited(response, MAX_ERROR_BODY)
                    .await
                    .unwrap_or_default();
                return Err(auth::unauthorized(
                    endpoint.credential_host(),
                    auth.is_some() && authority.has_credentials(endpoint),
                    &registry_message(&body, status),
                ));
            }
            return Ok(response);
        }
    }

    async fn send_with_retries(
        &self,
        client: &reqwest::Client,
        request: &Request<'_>,
        auth: Option<&AuthHeader>,
    ) -> Result<Response, RegistryError> {
        let endpoint = request.endpoint;
        let idempotent =
            request.method == Method::GET || request.method == Method::HEAD || request.retry_safe;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let scheme = if endpoint.http_fallback && self.fallen_back(&endpoint.host) {
                Scheme::Http
            } else {
                endpoint.scheme
            };
            let url = request_url(request, scheme)?;
            let mut builder = client.request(request.method.clone(), url);
            if let Some(accept) = request.accept {
                builder = builder.header(ACCEPT, HeaderValue::from_static(accept));
            }
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            if let Some(body) = &request.body {
                builder = builder
                    .header(reqwest::header::CONTENT_LENGTH, body.len())
                    .body(body.open(&endpoint.host).await?);
            } else if matches!(request.method, Method::POST | Method::PUT | Method::PATCH) {
                builder = builder.header(reqwest::header::CONTENT_LENGTH, 0);
            }
            if let Some(auth) = auth {
                builder = auth.apply(builder);
            }
            let last = attempt >= ATTEMPTS || !idempotent;
            match builder.send().await {
                Ok(response) => {
                    let status = response.status();
                    let transient =
                        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
                    if transient && !last {
                        backoff(attempt).await;
                        continue;
                    }
                    return Ok(response);
                }
                Err(e) if scheme == Scheme::Https && endpoint.http_fallback && e.is_connect() => {
                    // An insecure host configured for HTTP: HTTPS failed to connect, so
                    // speak plain HTTP to it from now on. This switch is not an attempt.
                    self.http_fallen_back
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(endpoint.host.clone());
                    attempt -= 1;
                }
                Err(e) if !last && is_transient(&e) => {
                    backoff(attempt).await;
                }
                Err(e) => {
                    return Err(RegistryError::Transport {
                        host: endpoint.host.clone(),
                        message: describe(&e),
                    });
                }
            }
        }
    }
}

/// The URL of `request` over `scheme`: its own absolute URL, or the endpoint's API root
/// and the path, plus the query parameters.
fn request_url(request: &Request<'_>, scheme: Scheme) -> Result<reqwest::Url, RegistryError> {
    let endpoint = request.endpoint;
    let mut url = match &request.url {
        Some(url) => url.clone(),
        None => {
            let raw = format!("{}{}", endpoint.base_url(scheme), request.path);
            reqwest::Url::parse(&raw).map_err(|e| RegistryError::BadResponse {
                host: endpoint.host.clone(),
                status: 0,
                detail: format!("cannot form a url from {raw:?}: {e}"),
            })?
        }
    };
    if request.namespace.is_some() || !request.query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        if let Some(ns) = &request.namespace {
            pairs.append_pair("ns", ns);
        }
        for (key, value) in &request.query {
            pairs.append_pair(key, value);
        }
    }
    Ok(url)
}

/// Whether retrying might help: not for malformed requests, redirect loops or TLS
/// failures (a certificate that did not verify will not verify a second later).
fn is_transient(error: &reqwest::Error) -> bool {
    if error.is_builder() || error.is_redirect() {
        return false;
    }
    let mut source = std::error::Error::source(error);
    while let Some(next) = source {
        // rustls reports handshake and certificate failures as `InvalidData` I/O errors.
        if next
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
        {
            return false;
        }
        source = next.source();
    }
    true
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(BACKOFF * 2u32.saturating_pow(attempt.saturating_sub(1))).await;
}

/// A short, secret-free description of a transport error: its innermost cause, with
/// the common I/O cases in plain words.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut innermost: &dyn std::error::Error = error;
    let mut source = std::error::Error::source(error);
    while let Some(next) = source {
        if let Some(io) = next.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                std::io::ErrorKind::TimedOut => return "timed out".into(),
                _ => {}
            }
        }
        innermost = next;
        source = next.source();
    }
    if error.is_timeout() {
        return "timed out".into();
    }
    let text = innermost.to_string();
    if let Some(hint) = tls_hint(&text) {
        return format!("tls handshake failed: {text} ({hint})");
    }
    if text.contains("connection closed") {
        // With TLS 1.3 a server that wants a client certificate may just hang up after
        // the handshake instead of sending the `CertificateRequired` alert first.
        return format!(
            "{text} (if the registry requires client certificates, add a `keypair` to its [registry] section)"
        );
    }
    if error.is_connect() && !text.contains("connect") {
        format!("connection failed: {text}")
    } else {
        text
    }
}

/// What to change in `buildkitd.toml` for the TLS failures users actually meet; matched
/// on rustls' messages, which are stable in wording across its 0.23 releases.
fn tls_hint(message: &str) -> Option<&'static str> {
    if message.contains("InvalidContentType") {
        Some("the host may speak plain http: set `http = true` in its [registry] section")
    } else if message.contains("invalid peer certificate") {
        Some(
            "add the registry's ca with `ca = [...]` in its [registry] section, or set `insecure = true`",
        )
    } else if message.contains("CertificateRequired") || message.contains("BadCertificate") {
        Some("the registry wants a client certificate: add a `keypair` to its [registry] section")
    } else {
        None
    }
}

/// Why a bounded body read failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The body is longer than the limit.
    TooLarge(usize),
    /// The connection failed while reading.
    Transport(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::TooLarge(limit) => write!(f, "response larger than {limit} bytes"),
            ReadError::Transport(message) => f.write_str(message),
        }
    }
}

/// Reads a response body up to `limit` bytes; a longer body is an error.
pub(crate) async fn read_limited(response: Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ReadError::Transport(describe(&e)))?;
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The message of a registry error body (`{"errors":[{"code":…,"message":…}]}`), or the
/// status text when the body is not one.
pub(crate) fn registry_message(body: &[u8], status: StatusCode) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
        let messages: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| {
                if e.message.is_empty() {
                    e.code.to_ascii_lowercase().replace('_', " ")
                } else {
                    e.message.clone()
                }
            })
            .filter(|m| !m.is_empty())
            .collect();
        if !messages.is_empty() {
            return messages.join("; ");
        }
    }
    status
        .canonical_reason()
        .unwrap_or("unexpected status")
        .to_ascii_lowercase()
}

/// Reads an error response's message (bounded) for a status that is not success.
pub(crate) async fn error_message(response: Response) -> String {
    let status = response.status();
    let body = read_limited(response, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    registry_message(&body, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_hints_name_the_setting_to_change() {
        assert_eq!(
            tls_hint("received corrupt message of type InvalidContentType"),
            Some("the host may speak plain http: set `http = true` in its [registry] section")
        );
        assert!(
            tls_hint("invalid peer certificate: UnknownIssuer")
                .is_some_and(|h| h.contains("insecure = true"))
        );
        assert!(
            tls_hint("received fatal alert: CertificateRequired")
                .is_some_and(|h| h.contains("keypair"))
        );
        assert_eq!(tls_hint("connection refused"), None);
    }

    #[test]
    fn registry_message_reads_distribution_errors() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(
            registry_message(body, StatusCode::NOT_FOUND),
            "manifest unknown"
        );
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#;
        assert_eq!(
            registry_message(body, StatusCode::NOT_FOUND),
            "name unknown"
        );
        assert_eq!(
            registry_message(b"<html>", StatusCode::NOT_FOUND),
            "not found"
        );
    }
}
