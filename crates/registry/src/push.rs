//! Pushing an image: blobs first, each only if the registry lacks it, then the manifest.
//!
//! Per blob, cheapest first: a `HEAD` (the registry has it: nothing to send), a
//! cross-repository mount from a repository of the same registry known to hold it (pulled
//! from there, or pushed there earlier by this client or a caller's hint), and only then
//! an upload: one monolithic `PUT` by default, `PATCH` chunks when the registry asks for
//! them (`OCI-Chunk-Min-Length`, or a 413 on the monolithic `PUT`) or the caller does.
//! Blobs go up concurrently, bounded. A transient failure (5xx, 429, a dropped or refused
//! connection) restarts that blob's upload with exponential backoff; an upload session
//! cannot be resumed portably, so the whole blob is sent again. A blob whose bytes are in
//! another repository (`BlobSource::Repository`, for copies between registries) is
//! downloaded into a temporary file only when an upload needs it.
//!
//! The manifest is pushed only after every blob is confirmed, so a failed push never
//! leaves a tag pointing at missing content (the registry would refuse the manifest
//! anyway, but with a worse message).

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use hearth_core::Digest;
use reqwest::header::{CONTENT_TYPE, HeaderName, LOCATION};
use reqwest::{Method, Response, StatusCode};

use crate::client::{Client, Repository};
use crate::endpoint::Endpoint;
use crate::error::RegistryError;
use crate::manifest::Descriptor;
use crate::reference::{ImageReference, split_repository};
use crate::transport::{Request, RequestBody, error_message};

/// Attempts per blob for transient failures.
const BLOB_ATTEMPTS: u32 = 4;
/// First backoff delay between blob attempts; doubled each time.
const BLOB_BACKOFF: Duration = Duration::from_millis(250);
/// Chunk size when the registry wants chunks but names no minimum.
const DEFAULT_CHUNK: u64 = 16 << 20;

/// Where the bytes of a blob to push are.
#[derive(Debug, Clone)]
pub enum BlobSource {
    /// In memory (configurations).
    Bytes(Bytes),
    /// A file holding exactly the blob (a content store's blob file).
    File(PathBuf),
    /// Another repository (`registry/path`, any registry) that holds the blob. Used only
    /// if the target lacks it and cannot mount it: then it is streamed, verified, into a
    /// temporary file (`$TMPDIR`) and uploaded from there, so at most one blob per
    /// concurrent upload is on disk and none is held in memory.
    Repository(String),
}

/// One blob of an image to push.
#[derive(Debug, Clone)]
pub struct PushBlob {
    /// Its descriptor (digest and size are checked by the registry on upload).
    pub descriptor: Descriptor,
    /// Its bytes.
    pub source: BlobSource,
    /// Repositories (`registry/path`) known to hold it already, to mount from when pushing
    /// to another repository of the same registry.
    pub mount_from: Vec<String>,
}

/// An image to push: its manifest and every blob the manifest references.
#[derive(Debug, Clone)]
pub struct PushImage {
    /// The manifest exactly as it will be stored.
    pub manifest: Bytes,
    /// The manifest's media type.
    pub media_type: String,
    /// The configuration and the layers.
    pub blobs: Vec<PushBlob>,
}

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs uploaded at once.
    pub concurrency: usize,
    /// Upload every blob larger than this in `PATCH` chunks of this size (`None`:
    /// monolithic unless the registry asks for chunks).
    pub chunk_size: Option<u64>,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            chunk_size: None,
        }
    }
}

/// What happened to one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The registry already had it.
    Existed,
    /// Mounted from another repository of the same registry.
    Mounted {
        /// The repository path it was mounted from.
        from: String,
    },
    /// Uploaded.
    Uploaded,
}

/// Progress of a push, for display.
#[derive(Debug, Clone)]
pub enum PushEvent {
    /// A blob is settled.
    Blob {
        /// The repository (`registry/path`).
        repository: String,
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// How.
        outcome: BlobOutcome,
    },
    /// A manifest was stored under a reference.
    Manifest {
        /// The reference as pushed (`registry/path:tag`).
        reference: String,
        /// The manifest's digest.
        digest: Digest,
    },
}

/// The result of pushing to one reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The normalised reference.
    pub reference: String,
    /// The manifest digest.
    pub digest: Digest,
    /// Each blob's outcome (for the first reference of a repository; later tags of the
    /// same repository push no blobs).
    pub blobs: Vec<(Digest, BlobOutcome)>,
}

impl PushReport {
    /// How many blobs were uploaded.
    pub fn uploaded(&self) -> usize {
        self.count(|o| *o == BlobOutcome::Uploaded)
    }

    /// How many blobs were mounted.
    pub fn mounted(&self) -> usize {
        self.count(|o| matches!(o, BlobOutcome::Mounted { .. }))
    }

    /// How many blobs the registry already had.
    pub fn existed(&self) -> usize {
        self.count(|o| *o == BlobOutcome::Existed)
    }

    fn count(&self, f: impl Fn(&BlobOutcome) -> bool) -> usize {
        self.blobs.iter().filter(|(_, o)| f(o)).count()
    }
}

/// An upload session's URL, as the registry gave it.
struct Session {
    url: reqwest::Url,
    /// `OCI-Chunk-Min-Length`, when the registry requires chunks of at least this size.
    chunk_min: Option<u64>,
}

/// A blob of another repository downloaded for upload; the file goes when this is dropped.
struct Staged {
    blob: PushBlob,
    _file: tempfile::TempPath,
}

/// Whether a failed blob attempt is worth repeating.
fn transient(error: &RegistryError) -> bool {
    match error {
        RegistryError::Transport { .. } => true,
        RegistryError::BadResponse { status, .. } => {
            *status >= 500 || *status == 429 || *status == 0
        }
        _ => false,
    }
}

fn bad_response(endpoint: &Endpoint, status: StatusCode, detail: String) -> RegistryError {
    RegistryError::BadResponse {
        host: endpoint.host.clone(),
        status: status.as_u16(),
        detail,
    }
}

async fn unexpected(endpoint: &Endpoint, response: Response, doing: &str) -> RegistryError {
    let status = response.status();
    let message = error_message(response).await;
    bad_response(endpoint, status, format!("{doing}: {message}"))
}

impl Client {
    /// Pushes `image` under every reference in `references` (tags or digests, any
    /// repositories). Blobs are pushed once per repository; each reference's manifest is
    /// written only after its repository holds every blob. Returns one report per
    /// reference, in order.
    pub async fn push(
        &self,
        references: &[String],
        image: &PushImage,
        options: &PushOptions,
        progress: &(dyn Fn(PushEvent) + Send + Sync),
    ) -> Result<Vec<PushReport>, RegistryError> {
        let parsed: Vec<ImageReference> = references
            .iter()
            .map(|r| ImageReference::parse(r))
            .collect::<Result<_, _>>()?;
        let manifest_digest = Digest::of(&image.manifest);
        let mut reports = Vec::with_capacity(parsed.len());
        let mut done_repositories: Vec<String> = Vec::new();
        for reference in &parsed {
            let name = reference.to_string();
            let wrap = |source: RegistryError, note: &str| RegistryError::Push {
                reference: name.clone(),
                source: Box::new(source),
                note: note.to_owned(),
            };
            if let Some(digest) = reference.digest
                && digest != manifest_digest
            {
                return Err(wrap(
                    RegistryError::DigestMismatch {
                        expected: digest,
                        actual: manifest_digest,
                    },
                    "the reference pins a different manifest than the one built",
                ));
            }
            let repo = Repository::new(
                &self.inner.config,
                reference.registry.clone(),
                reference.repository.clone(),
            );
            // Mirrors serve pulls only; a push goes to the registry itself.
            let Some(endpoint) = repo.endpoints.iter().find(|e| !e.mirror) else {
                return Err(wrap(
                    RegistryError::Config {
                        host: reference.registry.clone(),
                        message: "no endpoint to push to".to_owned(),
                    },
                    "nothing was pushed",
                ));
            };
            let mut blobs = Vec::new();
            if !done_repositories.contains(&repo.name()) {
                blobs = self
                    .push_blobs(&repo, endpoint, image, options, progress)
                    .await
                    .map_err(|e| {
                        wrap(
                            e,
                            "no tag was written (the manifest goes up only after every blob); run the push again",
                        )
                    })?;
                done_repositories.push(repo.name());
            }
            self.put_manifest(&repo, endpoint, &reference.object(), image)
                .await
                .map_err(|e| wrap(e, "the blobs are in the registry but the tag was not written; run the push again"))?;
            progress(PushEvent::Manifest {
                reference: name.clone(),
                digest: manifest_digest,
            });
            reports.push(PushReport {
                reference: name,
                digest: manifest_digest,
                blobs,
            });
        }
        Ok(reports)
    }

    async fn push_blobs(
        &self,
        repo: &Repository,
        endpoint: &Endpoint,
        image: &PushImage,
        options: &PushOptions,
        progress: &(dyn Fn(PushEvent) + Send + Sync),
    ) -> Result<Vec<(Digest, BlobOutcome)>, RegistryError> {
        // The same blob twice in one manifest (two identical layers) is pushed once.
        let mut unique: Vec<PushBlob> = Vec::new();
        for blob in &image.blobs {
            if !unique
                .iter()
                .any(|b| b.descriptor.digest == blob.descriptor.digest)
            {
                unique.push(blob.clone());
            }
        }
        // Owned items: a closure over borrowed ones makes the future too general to be
        // `Send` for callers that spawn it.
        let mut results = stream::iter(unique)
            .map(|blob: PushBlob| async move {
                let outcome = self.push_blob(repo, endpoint, &blob, options).await?;
                self.remember(blob.descriptor.digest, &repo.name());
                progress(PushEvent::Blob {
                    repository: repo.name(),
                    digest: blob.descriptor.digest,
                    size: blob.descriptor.size,
                    outcome: outcome.clone(),
                });
                Ok::<_, RegistryError>((blob.descriptor.digest, outcome))
            })
            .buffer_unordered(options.concurrency.max(1));
        let mut outcomes = Vec::new();
        // The first failure ends the push; dropping the stream cancels the other uploads.
        while let Some(result) = results.next().await {
            outcomes.push(result?);
        }
        Ok(outcomes)
    }

    /// One blob, with retries of transient failures.
    async fn push_blob(
        &self,
        repo: &Repository,
        endpoint: &Endpoint,
        blob: &PushBlob,
        options: &PushOptions,
    ) -> Result<BlobOutcome, RegistryError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.push_blob_once(repo, endpoint, blob, options).await {
                Err(e) if attempt < BLOB_ATTEMPTS && transient(&e) => {
                    tokio::time::sleep(BLOB_BACKOFF * 2u32.pow(attempt - 1)).await;
                }
                Err(RegistryError::Transport { host, message }) => {
                    return Err(RegistryError::Transport {
                        host,
                        message: format!(
                            "uploading {}: {message} (gave up after {attempt} attempts)",
                            blob.descriptor.digest
                        ),
                    });
                }
                other => return other,
            }
        }
    }

    async fn push_blob_once(
        &self,
        repo: &Repository,
        endpoint: &Endpoint,
        blob: &PushBlob,
        options: &PushOptions,
    ) -> Result<BlobOutcome, RegistryError> {
        let digest = blob.descriptor.digest;
        let scope = push_scope(&repo.path, None);
        let head = Request {
            method: Method::HEAD,
            ..Request::get(
                endpoint,
                format!("/{}/blobs/{digest}", repo.path),
                scope.clone(),
            )
        };
        let response = self.send(&head).await?;
        if response.status().is_success() {
            return Ok(BlobOutcome::Existed);
        }
        if response.status() != StatusCode::NOT_FOUND {
            return Err(bad_response(
                endpoint,
                response.status(),
                format!("checking for blob {digest}"),
            ));
        }
        // One mount attempt: a registry that cannot mount opens an upload session
        // instead, so a second source would leave that session dangling.
        let mut session = None;
        if let Some(from) = self.mount_source(repo, blob) {
            match self.mount(repo, endpoint, digest, &from).await? {
                Ok(()) => return Ok(BlobOutcome::Mounted { from }),
                Err(opened) => session = Some(opened),
            }
        }
        let staged;
        let blob = match &blob.source {
            BlobSource::Repository(from) => {
                staged = self.stage(from, &blob.descriptor).await?;
                &staged.blob
            }
            BlobSource::Bytes(_) | BlobSource::File(_) => blob,
        };
        let session = match session {
            Some(session) => session,
            None => self.start_upload(repo, endpoint).await?,
        };
        let size = blob.descriptor.size;
        let chunk = options
            .chunk_size
            .filter(|c| size > *c)
            .or(session.chunk_min.map(|min| min.max(DEFAULT_CHUNK)));
        match chunk {
            Some(chunk) => {
                self.upload_chunked(repo, endpoint, blob, session.url, chunk)
                    .await?;
            }
            None => {
                let url = session.url.clone();
                match self.upload_monolithic(repo, endpoint, blob, url).await? {
                    true => {}
                    // 413: this registry (or a proxy) limits request bodies; send chunks
                    // in a new session.
                    false => {
                        let session = self.start_upload(repo, endpoint).await?;
                        let chunk = session.chunk_min.unwrap_or(0).max(DEFAULT_CHUNK);
                        self.upload_chunked(repo, endpoint, blob, session.url, chunk)
                            .await?;
                    }
                }
            }
        }
        Ok(BlobOutcome::Uploaded)
    }

    /// Streams `descriptor` from `repository` (verified by digest and size) into a
    /// temporary file, for an upload that needs the bytes.
    async fn stage(
        &self,
        repository: &str,
        descriptor: &Descriptor,
    ) -> Result<Staged, RegistryError> {
        let sink_error = |source| RegistryError::Sink {
            digest: descriptor.digest,
            source,
        };
        let (file, path) = tempfile::Builder::new()
            .prefix("hearth-blob-")
            .tempfile()
            .map_err(sink_error)?
            .into_parts();
        let mut sink = tokio::fs::File::from_std(file);
        self.fetch_blob(repository, descriptor, &mut sink).await?;
        Ok(Staged {
            blob: PushBlob {
                descriptor: descriptor.clone(),
                source: BlobSource::File(path.to_path_buf()),
                mount_from: Vec::new(),
            },
            _file: path,
        })
    }

    /// A repository path on the same registry that may hold the blob, the caller's hints
    /// first.
    fn mount_source(&self, repo: &Repository, blob: &PushBlob) -> Option<String> {
        let known = self.known_locations(&blob.descriptor.digest);
        blob.mount_from
            .iter()
            .chain(known.iter())
            .filter_map(|candidate| split_repository(candidate).ok())
            .find(|(registry, path)| *registry == repo.registry && *path != repo.path)
            .map(|(_, path)| path)
    }

    /// Asks for a cross-repository mount. `Ok(Ok(()))`: mounted; `Ok(Err(session))`: the
    /// registry opened an upload session instead.
    async fn mount(
        &self,
        repo: &Repository,
        endpoint: &Endpoint,
        digest: Digest,
        from: &str,
    ) -> Result<Result<(), Session>, RegistryError> {
        let request = Request {
            method: Method::POST,
            query: vec![("mount", digest.to_string()), ("from", from.to_owned())],
            ..Request::get(
                endpoint,
                format!("/{}/blobs/uploads/", repo.path),
                push_scope(&repo.path, Some(from)),
            )
        };
        let response = match self.send(&request).await {
            Ok(r) => r,
            // Not allowed to read the source: upload instead.
            Err(RegistryError::Unauthorized { .. }) => {
                return Ok(Err(self.start_upload(repo, endpoint).await?));
            }
            Err(e) => return Err(e),
        };
        match response.status() {
            StatusCode::CREATED => Ok(Ok(())),
            StatusCode::ACCEPTED => Ok(Err(session_of(endpoint, &response)?)),
            _ => Err(unexpected(endpoint, response, "mounting a blob").await),
        }
    }

    async fn start_upload(
        &self,
        repo: &Repository,
        endpoint: &Endpoint,
    ) -> Result<Session, RegistryError> {
        let request = Request {
            method: Method::POST,
            ..Request::get(
                endpoint,
                format!("/{}/blobs/uploads/", repo.path),
                push_scope(&repo.path, None),
            )
        };
        let response = self.send(&request).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(unexpected(endpoint, response, "starting an upload").await);
        }
        session_of(endpoint, &response)
    }

    /// One `PUT` with the whole blob. `Ok(false)`: the registry refused the body as too
    /// large (413), so chunks are needed.
    async fn upload_monolithic(
        &self,
        repo: &Repository,
        endpoint: &Endpoint,
        blob: &PushBlob,
        url: reqwest::Url,
    ) -> Result<bool, RegistryError> {
        let request = Request {
            method: Method::PUT,
            url: Some(url),
            query: vec![("digest", blob.descriptor.digest.to_string())],
            headers: octet_stream(),
            body: Some(body_of(blob, 0, blob.descriptor.size)?),
            ..Request::get(endpoint, String::new(), push_scope(&repo.path, None))
        };
        let response = self.send(&request).await?;
        match response.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::PAYLOAD_TOO_LARGE => Ok(false),
            _ => Err(unexpected(endpoint, response, "uploading a blob").await),
        }
    }

    async fn upload_chunked(
        &self,
        repo: &Repository,
        endpoint: &Endpoint,
        blob: &PushBlob,
        mut url: reqwest::Url,
        chunk: u64,
    ) -> Result<(), RegistryError> {
        let size = blob.descriptor.size;
        let chunk = chunk.max(1);
        let mut offset = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let mut headers = octet_stream();
            headers.push((
                reqwest::header::CONTENT_RANGE,
                format!("{offset}-{}", offset + len - 1),
            ));
            let request = Request {
                method: Method::PATCH,
                url: Some(url.clone()),
                headers,
                body: Some(body_of(blob, offset, len)?),
                ..Request::get(endpoint, String::new(), push_scope(&repo.path, None))
            };
            let response = self.send(&request).await?;
            if response.status() != StatusCode::ACCEPTED {
                return Err(unexpected(endpoint, response, "uploading a chunk").await);
            }
            url = session_of(endpoint, &response)?.url;
            offset += len;
        }
        let request = Request {
            method: Method::PUT,
            url: Some(url),
            query: vec![("digest", blob.descriptor.digest.to_string())],
            ..Request::get(endpoint, String::new(), push_scope(&repo.path, None))
        };
        let response = self.send(&request).await?;
        if response.status() != StatusCode::CREATED {
            return Err(unexpected(endpoint, response, "completing an upload").await);
        }
        Ok(())
    }

    async fn put_manifest(
        &self,
        repo: &Repository,
        endpoint: &Endpoint,
        object: &str,
        image: &PushImage,
    ) -> Result<(), RegistryError> {
        let request = Request {
            method: Method::PUT,
            headers: vec![(CONTENT_TYPE, image.media_type.clone())],
            body: Some(RequestBody::Bytes(image.manifest.clone())),
            retry_safe: true,
            ..Request::get(
                endpoint,
                format!("/{}/manifests/{object}", repo.path),
                push_scope(&repo.path, None),
            )
        };
        let response = self.send(&request).await?;
        if response.status() != StatusCode::CREATED {
            return Err(unexpected(endpoint, response, "storing the manifest").await);
        }
        let expected = Digest::of(&image.manifest);
        let stored = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<Digest>().ok());
        match stored {
            Some(actual) if actual != expected => {
                Err(RegistryError::DigestMismatch { expected, actual })
            }
            _ => Ok(()),
        }
    }
}

/// The token scope of a push to `path`, plus read access to `from` for a mount.
pub(crate) fn push_scope(path: &str, from: Option<&str>) -> String {
    match from {
        Some(from) => format!("repository:{path}:pull,push repository:{from}:pull"),
        None => format!("repository:{path}:pull,push"),
    }
}

fn octet_stream() -> Vec<(HeaderName, String)> {
    vec![(CONTENT_TYPE, "application/octet-stream".to_owned())]
}

fn body_of(blob: &PushBlob, offset: u64, len: u64) -> Result<RequestBody, RegistryError> {
    match &blob.source {
        BlobSource::Bytes(bytes) => {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let end = usize::try_from(offset + len)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            Ok(RequestBody::Bytes(bytes.slice(start..end)))
        }
        BlobSource::File(path) => Ok(RequestBody::File {
            path: path.clone(),
            offset,
            len,
        }),
        // `push_blob_once` stages these into a file before any upload; reaching here
        // would be a bug in this module, reported rather than sending wrong bytes.
        BlobSource::Repository(from) => Err(RegistryError::Unsupported {
            reference: format!("{from}@{}", blob.descriptor.digest),
            detail: "a blob from another repository was not staged before its upload".to_owned(),
        }),
    }
}

/// The upload session a 202 names in `Location` (relative to the request's URL).
fn session_of(endpoint: &Endpoint, response: &Response) -> Result<Session, RegistryError> {
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            bad_response(
                endpoint,
                response.status(),
                "upload session without a Location header".to_owned(),
            )
        })?;
    let url = response.url().join(location).map_err(|e| {
        bad_response(
            endpoint,
            response.status(),
            format!("upload session with an invalid Location {location:?}: {e}"),
        )
    })?;
    let chunk_min = response
        .headers()
        .get("OCI-Chunk-Min-Length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0);
    Ok(Session { url, chunk_min })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_ask_for_push_and_for_reading_the_mount_source() {
        assert_eq!(push_scope("app", None), "repository:app:pull,push");
        assert_eq!(
            push_scope("team/app", Some("base/busybox")),
            "repository:team/app:pull,push repository:base/busybox:pull"
        );
    }

    #[test]
    fn byte_bodies_are_sliced_for_chunks() {
        let blob = PushBlob {
            descriptor: Descriptor {
                media_type: "application/octet-stream".into(),
                digest: Digest::of(b"0123456789"),
                size: 10,
                platform: None,
                annotations: Default::default(),
                urls: Vec::new(),
            },
            source: BlobSource::Bytes(Bytes::from_static(b"0123456789")),
            mount_from: Vec::new(),
        };
        let RequestBody::Bytes(part) = body_of(&blob, 4, 4).unwrap() else {
            panic!("expected bytes");
        };
        assert_eq!(&part[..], b"4567");
        let RequestBody::Bytes(tail) = body_of(&blob, 8, 4).unwrap() else {
            panic!("expected bytes");
        };
        assert_eq!(&tail[..], b"89");
    }

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        let status = |status| RegistryError::BadResponse {
            host: "h".into(),
            status,
            detail: String::new(),
        };
        assert!(transient(&status(503)));
        assert!(transient(&status(429)));
        assert!(!transient(&status(400)));
        assert!(transient(&RegistryError::Transport {
            host: "h".into(),
            message: "connection refused".into()
        }));
        assert!(!transient(&RegistryError::Unauthorized {
            host: "h".into(),
            detail: String::new(),
            hint: String::new(),
        }));
    }
}
