//! The pull client: resolving a reference to a platform's manifest and configuration,
//! and streaming blobs, over a repository's endpoints in order.
//!
//! Every byte that leaves this module is verified: manifests fetched by tag are hashed
//! (and checked against `Docker-Content-Digest` when the registry sends it), everything
//! fetched by digest must hash to that digest and have the descriptor's size.
//!
//! Endpoint fallback follows containerd's resolver: any failure that is the endpoint's
//! (unreachable, 5xx, 404, refused, malformed answer) moves on to the next endpoint, and
//! when all fail the most relevant error is reported together with what each endpoint
//! answered. A blob is only retried elsewhere while nothing has reached the caller's sink.

use std::fmt;
use std::sync::Arc;

use hearth_core::{Digest, Platform};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Response, StatusCode};
use tokio::io::AsyncWrite;

use crate::auth::{Auth, TOKEN_DEADLINE};
use crate::blob::{StreamFailure, stream_verified};
use crate::config::RegistryConfig;
use crate::credentials::CredentialSource;
use crate::endpoint::{DOCKER_HUB, DOCKER_HUB_API_HOST, Endpoint};
use crate::error::{Attempt, RegistryError, Tried};
use crate::manifest::{
    Descriptor, DocumentError, MANIFEST_ACCEPT, MAX_MANIFEST_SIZE, Manifest, ManifestDocument,
    config_platform, essence, media_type,
};
use crate::platform::{PlatformMatcher, available_platforms};
use crate::reference::{ImageReference, split_repository};
use crate::transport::{ReadError, Request, Transport, error_message, read_limited};

/// Image configurations are read into memory; real ones are kilobytes, so anything past
/// this is refused rather than buffered.
const MAX_CONFIG_SIZE: u64 = 64 << 20;
/// Nested indexes are followed this deep (containerd follows them too; real images have
/// one level).
pub(crate) const MAX_INDEX_DEPTH: usize = 4;

/// A registry client for pulling. Cheap to clone: clones share connections and the token
/// cache. [`Client::with_credentials`] makes a client that shares the connections but
/// has its own credentials and token cache (one per daemon build).
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
    /// This client's credentials and the tokens they obtained.
    auth: Arc<Auth>,
}

/// Settings of a client besides the registry configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long a token request may take in all ([`TOKEN_DEADLINE`] by default).
    pub token_deadline: std::time::Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            token_deadline: TOKEN_DEADLINE,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) config: RegistryConfig,
    pub(crate) transport: Transport,
    /// Repositories (`registry/path`) each blob is known to exist in, from pulls and
    /// pushes: the candidates for a cross-repository mount.
    pub(crate) known: std::sync::Mutex<std::collections::HashMap<Digest, Vec<String>>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("hosts", &self.inner.config.hosts.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// An image resolved for one platform: its manifest and configuration, both verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The normalised reference, as asked (`docker.io/library/busybox:latest`).
    pub reference: String,
    /// The repository, registry included (`docker.io/library/busybox`); pass it to
    /// [`Client::fetch_blob`] for the layers.
    pub repository: String,
    /// The digest of the index the reference pointed at, if it pointed at one.
    pub index_digest: Option<Digest>,
    /// The digest of the platform's manifest; builds pin to this.
    pub manifest_digest: Digest,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The manifest exactly as the registry stored it.
    pub manifest_bytes: Vec<u8>,
    /// The image configuration exactly as stored (its digest is `manifest.config.digest`).
    pub config_bytes: Vec<u8>,
    /// The platform as the index entry declares it, or as the configuration does for a
    /// single-platform image; not normalised.
    pub platform: Platform,
}

/// A repository and the endpoints that serve it.
pub(crate) struct Repository {
    /// The registry name from the reference (`docker.io`).
    pub(crate) registry: String,
    /// The repository path on the registry (`library/busybox`).
    pub(crate) path: String,
    pub(crate) endpoints: Vec<Endpoint>,
}

impl Repository {
    pub(crate) fn new(config: &RegistryConfig, registry: String, path: String) -> Self {
        let endpoints = config.endpoints(&registry);
        Self {
            registry,
            path,
            endpoints,
        }
    }

    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// The pull scope on `endpoint`, whose repository includes a mirror's prefix.
    fn scope(&self, endpoint: &Endpoint) -> String {
        match endpoint.path.strip_prefix("/v2/") {
            Some(prefix) => format!("repository:{prefix}/{}:pull", self.path),
            None => format!("repository:{}:pull", self.path),
        }
    }

    /// containerd sends `ns=<registry>` to every host that is not the registry itself.
    fn namespace(&self, endpoint: &Endpoint) -> Option<String> {
        let is_upstream = endpoint.host == self.registry
            || (self.registry == DOCKER_HUB && endpoint.host == DOCKER_HUB_API_HOST);
        (!is_upstream).then(|| self.registry.clone())
    }

    fn request<'a>(
        &self,
        endpoint: &'a Endpoint,
        path: String,
        accept: Option<&'static str>,
    ) -> Request<'a> {
        Request {
            accept,
            namespace: self.namespace(endpoint),
            ..Request::get(endpoint, path, self.scope(endpoint))
        }
    }
}

/// A manifest document as fetched and verified.
pub(crate) struct Fetched {
    pub(crate) bytes: Vec<u8>,
    pub(crate) digest: Digest,
    pub(crate) document: ManifestDocument,
}

/// What an index entry led to.
struct Selected {
    entry: Descriptor,
    fetched: Fetched,
    /// The configuration, when it had to be read to check an entry without a platform.
    config: Option<Vec<u8>>,
}

fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence)
        .unwrap_or_default()
}

/// Whether another endpoint might do better than the one that produced `error`.
fn endpoint_specific(error: &RegistryError) -> bool {
    matches!(
        error,
        RegistryError::NotFound { .. }
            | RegistryError::Unauthorized { .. }
            | RegistryError::BadResponse { .. }
            | RegistryError::Html { .. }
            | RegistryError::Transport { .. }
            | RegistryError::DigestMismatch { .. }
            | RegistryError::SizeMismatch { .. }
            | RegistryError::Unsupported { .. }
    )
}

/// The short reason an endpoint failed, for the "tried …" list.
fn short_reason(error: &RegistryError) -> String {
    match error {
        RegistryError::NotFound { tried, .. } => tried
            .0
            .first()
            .map_or_else(|| "not found".to_owned(), |a| a.reason.clone()),
        RegistryError::Transport { message, .. } => message.clone(),
        RegistryError::Unauthorized { .. } => "access denied".to_owned(),
        RegistryError::BadResponse { status, detail, .. } => format!("{status} {detail}"),
        RegistryError::Html { .. } => "answered with an html page".to_owned(),
        RegistryError::DigestMismatch { .. } => "digest mismatch".to_owned(),
        RegistryError::SizeMismatch { .. } => "size mismatch".to_owned(),
        other => other.to_string(),
    }
}

/// Folds the failures of every endpoint into one error (see the module docs).
fn combine(
    registry: &str,
    reference: &str,
    failures: Vec<(String, RegistryError)>,
) -> RegistryError {
    let tried = Tried(
        failures
            .iter()
            .map(|(endpoint, error)| Attempt {
                endpoint: endpoint.clone(),
                reason: short_reason(error),
            })
            .collect(),
    );
    let count = failures.len();
    // The first of the most relevant errors wins, as in containerd's resolver.
    let mut best: Option<RegistryError> = None;
    for (_, error) in failures {
        if best
            .as_ref()
            .is_none_or(|b| error.relevance() > b.relevance())
        {
            best = Some(error);
        }
    }
    match best {
        None => RegistryError::NotFound {
            reference: reference.to_owned(),
            tried,
        },
        Some(RegistryError::NotFound { .. }) => RegistryError::NotFound {
            reference: reference.to_owned(),
            tried,
        },
        Some(RegistryError::Transport { .. }) if count > 1 => RegistryError::Transport {
            host: registry.to_owned(),
            message: format!("no endpoint could be reached: {tried}"),
        },
        Some(error) => error,
    }
}

fn not_found(reference: &str, endpoint: &Endpoint, reason: String) -> RegistryError {
    RegistryError::NotFound {
        reference: reference.to_owned(),
        tried: Tried(vec![Attempt {
            endpoint: endpoint.to_string(),
            reason,
        }]),
    }
}

impl Client {
    /// A client for `config`, asking `credentials` when a registry requires
    /// authentication. Fails if a configured CA or key pair cannot be loaded.
    pub fn new(
        config: RegistryConfig,
        credentials: Arc<dyn CredentialSource>,
    ) -> Result<Client, RegistryError> {
        Self::with_options(config, credentials, ClientOptions::default())
    }

    /// Like [`Client::new`], with `options`.
    pub fn with_options(
        config: RegistryConfig,
        credentials: Arc<dyn CredentialSource>,
        options: ClientOptions,
    ) -> Result<Client, RegistryError> {
        let transport = Transport::new(&config)?;
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                transport,
                known: Default::default(),
            }),
            auth: Arc::new(Auth::new(credentials, options.token_deadline)),
        })
    }

    /// A client on the same connections and configuration that asks `credentials` and
    /// starts with an empty token cache: what one source's credentials obtained never
    /// authorizes the other's requests. What the clients share holds no authority:
    /// connection pools, hosts that fell back to plain HTTP, and where blobs were seen
    /// (a cross-repository mount is still authorized with the new client's token).
    pub fn with_credentials(&self, credentials: Arc<dyn CredentialSource>) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            auth: Arc::new(self.auth.with_credentials(credentials)),
        }
    }

    /// Sends `request` with this client's authorization.
    pub(crate) async fn send(
        &self,
        request: &crate::transport::Request<'_>,
    ) -> Result<Response, RegistryError> {
        self.inner.transport.send(&self.auth, request).await
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// Resolves a reference (`docker.io/library/busybox:latest`, `…@sha256:…`; short
    /// names are normalised as docker does) for `platform`: fetches the manifest, picks
    /// the platform's manifest from an index with containerd's matching rules, and
    /// fetches the image configuration, all digest-verified.
    pub async fn resolve(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, RegistryError> {
        let parsed = ImageReference::parse(reference)?;
        let reference = parsed.to_string();
        let repo = Repository::new(
            &self.inner.config,
            parsed.registry.clone(),
            parsed.repository.clone(),
        );
        let mut current = self
            .fetch_manifest(&repo, &parsed.object(), parsed.digest, None, &reference)
            .await?;
        let matcher = PlatformMatcher::only(platform);
        let mut index_digest = None;
        let mut declared: Option<Platform> = None;
        let mut config = None;
        for _ in 0..MAX_INDEX_DEPTH {
            let index = match current.document {
                ManifestDocument::Manifest(manifest) => {
                    let config_bytes = match config {
                        Some(bytes) => bytes,
                        None => {
                            self.fetch_config(&repo, &manifest.config, &reference)
                                .await?
                        }
                    };
                    let platform = match declared {
                        Some(platform) => platform,
                        None => config_platform(&config_bytes).map_err(|detail| {
                            RegistryError::Unsupported {
                                reference: reference.clone(),
                                detail,
                            }
                        })?,
                    };
                    return Ok(ResolvedImage {
                        reference,
                        repository: repo.name(),
                        index_digest,
                        manifest_digest: current.digest,
                        manifest: *manifest,
                        manifest_bytes: current.bytes,
                        config_bytes,
                        platform,
                    });
                }
                ManifestDocument::Index(index) => index,
            };
            index_digest.get_or_insert(current.digest);
            let selected = self
                .select(&repo, &index.manifests, &matcher, platform, &reference)
                .await?;
            if selected.entry.platform.is_some() {
                declared = selected.entry.platform;
            }
            config = selected.config;
            current = selected.fetched;
        }
        Err(RegistryError::Unsupported {
            reference,
            detail: format!("image indexes nested more than {MAX_INDEX_DEPTH} deep"),
        })
    }

    /// Streams one blob of `repository` (`docker.io/library/busybox`) into `sink`,
    /// verifying its size and digest against `descriptor`; returns the bytes written.
    ///
    /// The sink receives bytes before the digest is known, so it must be an ingest
    /// writer the caller commits only on `Ok`; on any error, discard what it holds.
    pub async fn fetch_blob(
        &self,
        repository: &str,
        descriptor: &Descriptor,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<u64, RegistryError> {
        let (registry, path) = split_repository(repository)?;
        let repo = Repository::new(&self.inner.config, registry, path);
        let what = format!("{}@{}", repo.name(), descriptor.digest);
        let mut failures = Vec::new();
        for endpoint in &repo.endpoints {
            match self
                .fetch_blob_from(&repo, endpoint, descriptor, sink, &what)
                .await
            {
                Ok(written) => {
                    self.remember(descriptor.digest, &repo.name());
                    return Ok(written);
                }
                Err(failure) if !failure.sink_touched && endpoint_specific(&failure.error) => {
                    failures.push((endpoint.to_string(), failure.error));
                }
                Err(failure) => return Err(failure.error),
            }
        }
        Err(combine(&repo.registry, &what, failures))
    }

    /// Checks that `registry` (`127.0.0.1:5000`, `docker.io`) accepts this client's
    /// credentials, as `docker login` does: a `GET /v2/` on the registry itself (never a
    /// mirror), authorizing when challenged.
    pub async fn check_login(&self, registry: &str) -> Result<(), RegistryError> {
        let endpoints = self.inner.config.endpoints(registry);
        let Some(endpoint) = endpoints.iter().find(|e| !e.mirror) else {
            return Err(RegistryError::Config {
                host: registry.to_owned(),
                message: "no endpoint to log in to".to_owned(),
            });
        };
        let request = Request::get(endpoint, "/".to_owned(), String::new());
        let response = self.send(&request).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if content_type(&response) == "text/html" {
            return Err(RegistryError::Html {
                host: endpoint.host.clone(),
                url: response.url().to_string(),
            });
        }
        Err(RegistryError::BadResponse {
            host: endpoint.host.clone(),
            status: status.as_u16(),
            detail: error_message(response).await,
        })
    }

    /// Notes that `repository` holds blob `digest`, for later cross-repository mounts.
    pub(crate) fn remember(&self, digest: Digest, repository: &str) {
        let mut known = self.inner.known.lock().unwrap_or_else(|e| e.into_inner());
        let repos = known.entry(digest).or_default();
        if !repos.iter().any(|r| r == repository) {
            repos.push(repository.to_owned());
        }
    }

    /// The repositories `digest` is known to exist in.
    pub(crate) fn known_locations(&self, digest: &Digest) -> Vec<String> {
        let known = self.inner.known.lock().unwrap_or_else(|e| e.into_inner());
        known.get(digest).cloned().unwrap_or_default()
    }

    /// Picks the index entry for the platform and fetches its manifest.
    async fn select(
        &self,
        repo: &Repository,
        entries: &[Descriptor],
        matcher: &PlatformMatcher,
        wanted: &Platform,
        reference: &str,
    ) -> Result<Selected, RegistryError> {
        for entry in matcher.candidates(entries) {
            let fetched = self
                .fetch_manifest(
                    repo,
                    &entry.digest.to_string(),
                    Some(entry.digest),
                    Some(entry.size),
                    reference,
                )
                .await?;
            if entry.platform.is_some() {
                return Ok(Selected {
                    entry: entry.clone(),
                    fetched,
                    config: None,
                });
            }
            // An entry without a platform is only usable if its configuration says so
            // (containerd reads the configuration for these too).
            let ManifestDocument::Manifest(manifest) = &fetched.document else {
                continue;
            };
            let config = self.fetch_config(repo, &manifest.config, reference).await?;
            let fits = config_platform(&config).is_ok_and(|p| matcher.matches(&p));
            if fits {
                return Ok(Selected {
                    entry: entry.clone(),
                    fetched,
                    config: Some(config),
                });
            }
        }
        Err(RegistryError::PlatformNotFound {
            reference: reference.to_owned(),
            wanted: wanted.format_all(),
            available: available_platforms(entries),
        })
    }

    /// Fetches a manifest by tag or digest from the first endpoint that has it.
    pub(crate) async fn fetch_manifest(
        &self,
        repo: &Repository,
        object: &str,
        digest: Option<Digest>,
        size: Option<u64>,
        reference: &str,
    ) -> Result<Fetched, RegistryError> {
        let mut failures = Vec::new();
        for endpoint in &repo.endpoints {
            match self
                .fetch_manifest_from(repo, endpoint, object, digest, size, reference)
                .await
            {
                Ok(fetched) => return Ok(fetched),
                Err(error) if endpoint_specific(&error) => {
                    failures.push((endpoint.to_string(), error));
                }
                Err(error) => return Err(error),
            }
        }
        Err(combine(&repo.registry, reference, failures))
    }

    async fn fetch_manifest_from(
        &self,
        repo: &Repository,
        endpoint: &Endpoint,
        object: &str,
        digest: Option<Digest>,
        size: Option<u64>,
        reference: &str,
    ) -> Result<Fetched, RegistryError> {
        let request = repo.request(
            endpoint,
            format!("/{}/manifests/{object}", repo.path),
            Some(MANIFEST_ACCEPT),
        );
        let response = self.send(&request).await?;
        let status = response.status();
        let kind = content_type(&response);
        let url = response.url().to_string();
        let host = endpoint.host.clone();
        if status == StatusCode::NOT_FOUND {
            let message = if kind == "text/html" {
                "html page".to_owned()
            } else {
                error_message(response).await
            };
            return Err(not_found(reference, endpoint, format!("404 {message}")));
        }
        if kind == "text/html" {
            return Err(RegistryError::Html { host, url });
        }
        if !status.is_success() {
            return Err(RegistryError::BadResponse {
                host,
                status: status.as_u16(),
                detail: error_message(response).await,
            });
        }
        let header_digest = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<Digest>().ok());
        let limit = usize::try_from(MAX_MANIFEST_SIZE).unwrap_or(usize::MAX);
        let bytes = read_limited(response, limit).await.map_err(|e| match e {
            ReadError::TooLarge(_) => RegistryError::BadResponse {
                host: host.clone(),
                status: status.as_u16(),
                detail: format!(
                    "rejecting manifest larger than {MAX_MANIFEST_SIZE} bytes for {reference}"
                ),
            },
            ReadError::Transport(message) => RegistryError::Transport {
                host: host.clone(),
                message: format!("reading manifest failed: {message}"),
            },
        })?;
        let actual = Digest::of(&bytes);
        let parsed = ManifestDocument::parse(&bytes, Some(&kind));
        // Schema 1 first: its signed form's digest covers the payload without the
        // signatures, so it would otherwise surface as a confusing digest mismatch.
        if let Err(DocumentError::Schema1(media_type)) = &parsed {
            return Err(RegistryError::Unsupported {
                reference: reference.to_owned(),
                detail: format!(
                    "media type {media_type:?} is no longer supported since containerd v2.0, please rebuild the image as {:?} or {:?}",
                    media_type::DOCKER_MANIFEST,
                    media_type::OCI_MANIFEST
                ),
            });
        }
        // By digest, the body must hash to it; by tag, to what the registry says it is.
        if let Some(expected) = digest.or(header_digest) {
            if expected != actual {
                return Err(RegistryError::DigestMismatch { expected, actual });
            }
        }
        if let (Some(expected), Some(digest)) = (size, digest) {
            if bytes.len() as u64 != expected {
                return Err(RegistryError::SizeMismatch {
                    digest,
                    expected,
                    actual: bytes.len() as u64,
                });
            }
        }
        let document = parsed.map_err(|e| match e {
            DocumentError::UnknownMediaType(media_type) => RegistryError::Unsupported {
                reference: reference.to_owned(),
                detail: format!(
                    "{actual} is not an image manifest or index (media type {media_type:?})"
                ),
            },
            DocumentError::Invalid(detail) | DocumentError::Schema1(detail) => {
                RegistryError::BadResponse {
                    host: host.clone(),
                    status: status.as_u16(),
                    detail,
                }
            }
        })?;
        Ok(Fetched {
            bytes,
            digest: actual,
            document,
        })
    }

    /// Fetches an image configuration into memory. Unlike a streamed blob, a failed
    /// attempt leaves nothing behind, so every endpoint can be tried.
    pub(crate) async fn fetch_config(
        &self,
        repo: &Repository,
        descriptor: &Descriptor,
        reference: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        if descriptor.size > MAX_CONFIG_SIZE {
            return Err(RegistryError::Unsupported {
                reference: reference.to_owned(),
                detail: format!(
                    "image config {} is {} bytes, more than the {MAX_CONFIG_SIZE} this client reads",
                    descriptor.digest, descriptor.size
                ),
            });
        }
        let what = format!("{}@{}", repo.name(), descriptor.digest);
        let mut failures = Vec::new();
        for endpoint in &repo.endpoints {
            let mut buffer = Vec::new();
            match self
                .fetch_blob_from(repo, endpoint, descriptor, &mut buffer, &what)
                .await
            {
                Ok(_) => return Ok(buffer),
                Err(failure) if endpoint_specific(&failure.error) => {
                    failures.push((endpoint.to_string(), failure.error));
                }
                Err(failure) => return Err(failure.error),
            }
        }
        Err(combine(&repo.registry, &what, failures))
    }

    async fn fetch_blob_from(
        &self,
        repo: &Repository,
        endpoint: &Endpoint,
        descriptor: &Descriptor,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
        what: &str,
    ) -> Result<u64, StreamFailure> {
        let untouched = |error| StreamFailure {
            error,
            sink_touched: false,
        };
        let request = repo.request(
            endpoint,
            format!("/{}/blobs/{}", repo.path, descriptor.digest),
            None,
        );
        // Registries answer blob GETs with a redirect to storage; reqwest follows it and
        // drops the Authorization header when the redirect leaves the registry's host.
        let response = self.send(&request).await.map_err(untouched)?;
        let status = response.status();
        let kind = content_type(&response);
        let url = response.url().to_string();
        if status == StatusCode::NOT_FOUND {
            let message = error_message(response).await;
            return Err(untouched(not_found(
                what,
                endpoint,
                format!("404 {message}"),
            )));
        }
        if !status.is_success() {
            if kind == "text/html" {
                return Err(untouched(RegistryError::Html {
                    host: endpoint.host.clone(),
                    url,
                }));
            }
            return Err(untouched(RegistryError::BadResponse {
                host: endpoint.host.clone(),
                status: status.as_u16(),
                detail: error_message(response).await,
            }));
        }
        let result = stream_verified(&endpoint.host, response, descriptor, sink).await;
        // A blob is opaque bytes, so HTML is only diagnosed once it failed verification:
        // then it was almost certainly a proxy's page, not the blob.
        match result {
            Err(StreamFailure {
                error: RegistryError::DigestMismatch { .. } | RegistryError::SizeMismatch { .. },
                sink_touched,
            }) if kind == "text/html" => Err(StreamFailure {
                error: RegistryError::Html {
                    host: endpoint.host.clone(),
                    url,
                },
                sink_touched,
            }),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostConfig;

    #[test]
    fn client_is_shareable_and_its_futures_can_be_spawned() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        fn spawnable<T: Send>(_: &T) {}
        shareable::<Client>();
        let client = Client::new(
            RegistryConfig::default(),
            Arc::new(crate::credentials::NoCredentials),
        )
        .unwrap();
        let platform = Platform::new("linux", "amd64", "");
        // Never polled: this only checks the types, no request is made.
        let resolve = client.resolve("busybox", &platform);
        spawnable(&resolve);
        drop(resolve);
        let descriptor = Descriptor {
            media_type: media_type::OCI_CONFIG.into(),
            digest: Digest::of(b""),
            size: 0,
            platform: None,
            annotations: Default::default(),
            urls: Vec::new(),
        };
        let mut sink = Vec::new();
        let fetch = client.fetch_blob("busybox", &descriptor, &mut sink);
        spawnable(&fetch);
    }

    #[test]
    fn scope_and_namespace_account_for_mirrors() {
        let mut config = RegistryConfig::default();
        config.hosts.insert(
            "docker.io".into(),
            HostConfig {
                mirrors: vec!["mirror.example.com/hub".into()],
                ..HostConfig::default()
            },
        );
        let repo = Repository::new(&config, "docker.io".into(), "library/busybox".into());
        let [mirror, upstream] = &repo.endpoints[..] else {
            panic!("expected two endpoints: {:?}", repo.endpoints);
        };
        assert_eq!(repo.scope(mirror), "repository:hub/library/busybox:pull");
        assert_eq!(repo.namespace(mirror).as_deref(), Some("docker.io"));
        assert_eq!(repo.scope(upstream), "repository:library/busybox:pull");
        assert_eq!(repo.namespace(upstream), None);
    }

    #[test]
    fn combine_prefers_not_found_over_unreachable_and_lists_both() {
        let err = combine(
            "docker.io",
            "docker.io/library/busybox:latest",
            vec![
                (
                    "127.0.0.1:5000".into(),
                    RegistryError::NotFound {
                        reference: "x".into(),
                        tried: Tried(vec![Attempt {
                            endpoint: "127.0.0.1:5000".into(),
                            reason: "404 manifest unknown".into(),
                        }]),
                    },
                ),
                (
                    "registry-1.docker.io".into(),
                    RegistryError::Transport {
                        host: "registry-1.docker.io".into(),
                        message: "connection refused".into(),
                    },
                ),
            ],
        );
        assert_eq!(
            err.to_string(),
            "docker.io/library/busybox:latest: not found: tried 127.0.0.1:5000 (404 manifest unknown), registry-1.docker.io (connection refused)"
        );
        let err = combine(
            "docker.io",
            "r",
            vec![
                (
                    "a".into(),
                    RegistryError::Transport {
                        host: "a".into(),
                        message: "connection refused".into(),
                    },
                ),
                (
                    "b".into(),
                    RegistryError::Transport {
                        host: "b".into(),
                        message: "timed out".into(),
                    },
                ),
            ],
        );
        assert_eq!(
            err.to_string(),
            "docker.io: no endpoint could be reached: tried a (connection refused), b (timed out)"
        );
    }
}
