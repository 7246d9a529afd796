//! Loading an image archive into the local Docker daemon over its API socket, as buildx's
//! docker exporter does, so `--load` needs no docker CLI.
//!
//! The archive is written synchronously (the exporter runs on a blocking thread) into
//! [`Loader`], which hands it in bounded chunks to a task streaming it as the body of
//! `POST /images/load`: memory use stays at a few chunks whatever the image size.

use std::error::Error as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The socket the Docker daemon listens on when `DOCKER_HOST` is not set.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The port of a `tcp://` host that names none, as the docker CLI assumes.
const DEFAULT_TCP_PORT: u16 = 2375;
/// Bytes per body chunk: large enough that the per-chunk hand-over costs nothing next to
/// compression, small enough that the queue holds little.
const CHUNK: usize = 256 * 1024;
/// Chunks queued between the writer and the request; with the chunk being filled and the
/// one on the wire, this bounds the memory an export holds.
const QUEUED_CHUNKS: usize = 4;

/// Why talking to the Docker daemon failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerError {
    /// `DOCKER_HOST` names nothing hearth can reach.
    #[error("DOCKER_HOST={value:?}: {reason}")]
    Host {
        /// The variable's value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The daemon is not there.
    #[error(
        "cannot connect to the Docker daemon at {host}: {reason} (is dockerd running? set DOCKER_HOST to its socket)"
    )]
    Connect {
        /// The daemon's address.
        host: String,
        /// Why connecting failed.
        reason: String,
    },
    /// The connection broke.
    #[error("talking to the Docker daemon at {host}: {reason}")]
    Transport {
        /// The daemon's address.
        host: String,
        /// What broke.
        reason: String,
    },
    /// The daemon answered with an error status.
    #[error("the Docker daemon at {host} answered {status}: {message}")]
    Status {
        /// The daemon's address.
        host: String,
        /// The HTTP status.
        status: u16,
        /// The daemon's message.
        message: String,
    },
    /// The daemon accepted the request but could not load the archive.
    #[error("docker could not load the image: {0}")]
    Load(String),
    /// Something that should not happen.
    #[error("internal error loading the image into docker: {0}")]
    Internal(String),
}

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DockerHost {
    /// A unix socket.
    Unix(PathBuf),
    /// Plain HTTP to `authority` (`host:port`), under an optional base path.
    Tcp {
        authority: String,
        base_path: String,
    },
}

impl DockerHost {
    /// The daemon `DOCKER_HOST` names, or the default socket.
    pub(crate) fn from_env() -> Result<Self, DockerError> {
        let host = std::env::var("DOCKER_HOST").ok();
        let tls = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
        Self::parse(host.as_deref(), tls)
    }

    /// Reads a `DOCKER_HOST` value the way the docker CLI does: unset or empty means the
    /// default socket, a value without a scheme is a TCP address.
    pub(crate) fn parse(value: Option<&str>, tls_verify: bool) -> Result<Self, DockerError> {
        let raw = value.map(str::trim).unwrap_or_default();
        if raw.is_empty() {
            return Ok(Self::Unix(PathBuf::from(DEFAULT_SOCKET)));
        }
        let invalid = |reason: &str| DockerError::Host {
            value: raw.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = raw.split_once("://").unwrap_or(("tcp", raw));
        match scheme {
            "unix" => Ok(Self::Unix(PathBuf::from(if rest.is_empty() {
                DEFAULT_SOCKET
            } else {
                rest
            }))),
            "tcp" => {
                if tls_verify {
                    return Err(invalid(
                        "TLS to the daemon (DOCKER_TLS_VERIFY) is not supported; use a unix:// socket or plain tcp://",
                    ));
                }
                let url = reqwest::Url::parse(&format!("tcp://{rest}"))
                    .map_err(|e| invalid(&format!("not a tcp://host:port address ({e})")))?;
                let host = url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| invalid("no host in the tcp:// address"))?;
                if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
                    return Err(invalid("a tcp:// address takes only host, port and path"));
                }
                let port = url.port().unwrap_or(DEFAULT_TCP_PORT);
                Ok(Self::Tcp {
                    authority: format!("{host}:{port}"),
                    base_path: url.path().trim_end_matches('/').to_owned(),
                })
            }
            _ => Err(invalid(
                "hearth reaches the Docker daemon over unix:// sockets or plain tcp:// only",
            )),
        }
    }

    /// An HTTP client whose connections reach the daemon.
    fn client(&self) -> Result<reqwest::Client, DockerError> {
        let builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(30));
        let builder = match self {
            Self::Unix(path) => builder.unix_socket(path.as_path()),
            Self::Tcp { .. } => builder,
        };
        builder
            .build()
            .map_err(|e| DockerError::Internal(chain(&e)))
    }

    /// The URL of an API path such as `/_ping`.
    fn url(&self, path: &str) -> String {
        match self {
            // The host part is never resolved: every connection goes to the socket.
            Self::Unix(_) => format!("http://docker{path}"),
            Self::Tcp {
                authority,
                base_path,
            } => format!("http://{authority}{base_path}{path}"),
        }
    }
}

impl std::fmt::Display for DockerHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
            Self::Tcp {
                authority,
                base_path,
            } => write!(f, "tcp://{authority}{base_path}"),
        }
    }
}

/// What goes through the queue: archive bytes, then a mark that the archive is complete.
enum Chunk {
    Data(Bytes),
    End,
}

/// The request body. A queue that closes without [`Chunk::End`] means the writer gave up
/// mid-archive; the body then fails, which makes the HTTP client abort the connection
/// instead of ending the body cleanly, so the daemon never takes a truncated archive for
/// a whole one.
struct ArchiveBody {
    chunks: mpsc::Receiver<Chunk>,
    done: bool,
}

impl Stream for ArchiveBody {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.chunks.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Chunk::Data(bytes))) => Poll::Ready(Some(Ok(bytes))),
            Poll::Ready(Some(Chunk::End)) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(Some(Err(io::Error::other(
                    "the image archive was not completed",
                ))))
            }
        }
    }
}

/// An archive on its way into the daemon. Write it, then call [`Loader::finish`];
/// dropped unfinished, it aborts the upload.
///
/// It blocks on the async runtime it was opened in, so it must be used from a blocking
/// thread (`spawn_blocking`), never from async code.
pub struct Loader {
    runtime: Handle,
    pending: Vec<u8>,
    chunks: Option<mpsc::Sender<Chunk>>,
    request: Option<JoinHandle<Result<Vec<String>, DockerError>>>,
    /// Why the request ended before the archive did, once known.
    failed: Option<DockerError>,
}

impl Loader {
    /// Checks that the daemon answers, then starts the load request.
    pub(crate) fn open(host: DockerHost) -> Result<Self, DockerError> {
        let runtime = Handle::try_current()
            .map_err(|e| DockerError::Internal(format!("no async runtime: {e}")))?;
        let client = host.client()?;
        // Pinging first turns a missing daemon into one clear error before any of the
        // export work, as the docker CLI does.
        let ping = runtime.block_on(client.get(host.url("/_ping")).send());
        let ping = ping.map_err(|e| DockerError::Connect {
            host: host.to_string(),
            reason: root_cause(&e),
        })?;
        let status = ping.status();
        // Reading the answer to its end frees the connection for the load request.
        let answer = runtime.block_on(ping.bytes()).unwrap_or_default();
        if !status.is_success() {
            return Err(DockerError::Status {
                host: host.to_string(),
                status: status.as_u16(),
                message: error_message(&answer),
            });
        }
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let request = runtime.spawn(load(client, host, rx));
        Ok(Self {
            runtime,
            pending: Vec::with_capacity(CHUNK),
            chunks: Some(tx),
            request: Some(request),
            failed: None,
        })
    }

    /// Ends the archive and waits for the daemon to load it; returns what it said
    /// (`Loaded image: …` lines).
    pub(crate) fn finish(&mut self) -> Result<Vec<String>, DockerError> {
        self.send_pending()?;
        self.send(Chunk::End)?;
        drop(self.chunks.take());
        let request = self
            .request
            .take()
            .ok_or_else(|| DockerError::Internal("load finished twice".into()))?;
        self.runtime
            .block_on(request)
            .map_err(|e| DockerError::Internal(format!("the load request failed: {e}")))?
    }

    fn send_pending(&mut self) -> Result<(), DockerError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
        self.send(Chunk::Data(Bytes::from(data)))
    }

    /// Queues a chunk, waiting for room; fails with the request's own error if the request
    /// ended meanwhile, since that is why the archive can go no further.
    fn send(&mut self, chunk: Chunk) -> Result<(), DockerError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let (Some(tx), Some(request)) = (&self.chunks, &mut self.request) else {
            return Err(DockerError::Internal("load already finished".into()));
        };
        let queued = self.runtime.block_on(async {
            tokio::select! {
                permit = tx.reserve() => permit.map(|p| p.send(chunk)).map_err(|_| None),
                ended = &mut *request => Err(Some(ended)),
            }
        });
        let ended = match queued {
            Ok(()) => return Ok(()),
            Err(Some(ended)) => ended,
            // The body is gone, so the request is ending; its outcome says why.
            Err(None) => self.runtime.block_on(&mut *request),
        };
        self.request = None;
        let error = match ended {
            Ok(Err(e)) => e,
            Ok(Ok(said)) => DockerError::Load(format!(
                "the daemon answered before the archive was complete: {}",
                said.join("; ")
            )),
            Err(e) => DockerError::Internal(format!("the load request failed: {e}")),
        };
        self.failed = Some(error.clone());
        Err(error)
    }
}

impl Write for Loader {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() >= CHUNK {
            self.send_pending().map_err(io::Error::other)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks travel when full; flushing a partial one would only make more, smaller
        // chunks, and completion is `finish`'s job.
        Ok(())
    }
}

/// Runs `POST /images/load` with the queued archive as its body and reads the answer.
async fn load(
    client: reqwest::Client,
    host: DockerHost,
    chunks: mpsc::Receiver<Chunk>,
) -> Result<Vec<String>, DockerError> {
    let body = reqwest::Body::wrap_stream(ArchiveBody {
        chunks,
        done: false,
    });
    let transport = |e: reqwest::Error| {
        if e.is_connect() {
            DockerError::Connect {
                host: host.to_string(),
                reason: root_cause(&e),
            }
        } else {
            DockerError::Transport {
                host: host.to_string(),
                reason: root_cause(&e),
            }
        }
    };
    let response = client
        .post(host.url("/images/load?quiet=1"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
        .body(body)
        .send()
        .await
        .map_err(transport)?;
    let status = response.status();
    let answer = response.bytes().await.map_err(transport)?;
    if !status.is_success() {
        return Err(DockerError::Status {
            host: host.to_string(),
            status: status.as_u16(),
            message: error_message(&answer),
        });
    }
    parse_load_answer(&String::from_utf8_lossy(&answer))
}

/// Reads the JSON-lines answer of a load. Docker reports a failed load inside its 200
/// answer, as an `error`/`errorDetail` message, since it has sent the status by then.
pub(crate) fn parse_load_answer(answer: &str) -> Result<Vec<String>, DockerError> {
    let mut said = Vec::new();
    for line in answer.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            said.push(line.to_owned());
            continue;
        };
        let detail = message
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .and_then(|m| m.as_str());
        let error = message.get("error").and_then(|m| m.as_str());
        if let Some(error) = detail.or(error) {
            return Err(DockerError::Load(error.trim().to_owned()));
        }
        if let Some(stream) = message.get("stream").and_then(|s| s.as_str()) {
            said.extend(
                stream
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    Ok(said)
}

/// The message of an error answer: `{"message": …}`, or the text itself.
fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| text.trim().to_owned())
}

/// The innermost cause of an error: for a failed connection, the operating system's
/// reason rather than the client's "error sending request".
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// An error with all its causes.
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::io::{BufRead, BufReader, Write as _};
    use std::os::unix::net::UnixListener;
    use std::path::Path;
    use std::sync::mpsc as std_mpsc;

    use super::*;

    fn host(value: Option<&str>) -> Result<DockerHost, DockerError> {
        DockerHost::parse(value, false)
    }

    #[test]
    fn docker_host_defaults_to_the_standard_socket() {
        let default = DockerHost::Unix(PathBuf::from("/var/run/docker.sock"));
        assert_eq!(host(None).unwrap(), default);
        assert_eq!(host(Some("")).unwrap(), default);
        assert_eq!(host(Some("unix://")).unwrap(), default);
        assert_eq!(default.to_string(), "unix:///var/run/docker.sock");
    }

    #[test]
    fn docker_host_reads_unix_sockets() {
        let h = host(Some("unix:///tmp/d/docker.sock")).unwrap();
        assert_eq!(h, DockerHost::Unix(PathBuf::from("/tmp/d/docker.sock")));
        assert_eq!(h.url("/_ping"), "http://docker/_ping");
        assert_eq!(h.to_string(), "unix:///tmp/d/docker.sock");
    }

    #[test]
    fn docker_host_reads_tcp_addresses() {
        let h = host(Some("tcp://127.0.0.1:2377")).unwrap();
        assert_eq!(
            h,
            DockerHost::Tcp {
                authority: "127.0.0.1:2377".into(),
                base_path: String::new()
            }
        );
        assert_eq!(
            h.url("/images/load?quiet=1"),
            "http://127.0.0.1:2377/images/load?quiet=1"
        );
        assert_eq!(h.to_string(), "tcp://127.0.0.1:2377");
        // No port means docker's plain-HTTP port; no scheme means TCP, as in the CLI.
        assert_eq!(
            host(Some("tcp://dockerhost")).unwrap().to_string(),
            "tcp://dockerhost:2375"
        );
        assert_eq!(
            host(Some("10.0.0.2:2380")).unwrap().to_string(),
            "tcp://10.0.0.2:2380"
        );
        assert_eq!(
            host(Some("tcp://[::1]:2375/base/")).unwrap().url("/_ping"),
            "http://[::1]:2375/base/_ping"
        );
    }

    #[test]
    fn docker_host_rejects_what_it_cannot_reach() {
        for value in [
            "ssh://user@box",
            "npipe:////./pipe/docker_engine",
            "tcp://",
            "tcp://:2375",
        ] {
            let e = host(Some(value)).unwrap_err();
            assert!(matches!(e, DockerError::Host { .. }), "{value}: {e:?}");
            let text = e.to_string();
            assert!(text.starts_with("DOCKER_HOST="), "{text}");
            assert!(text.contains(value), "{text}");
        }
        let e = DockerHost::parse(Some("tcp://box:2376"), true).unwrap_err();
        assert!(e.to_string().contains("DOCKER_TLS_VERIFY"), "{e}");
    }

    #[test]
    fn load_answer_success_lists_what_docker_said() {
        let answer = "{\"stream\":\"Loaded image: hearth-e2e:loaded\\n\"}\r\n{\"stream\":\"Loaded image: other:1\\n\"}\n";
        assert_eq!(
            parse_load_answer(answer).unwrap(),
            vec!["Loaded image: hearth-e2e:loaded", "Loaded image: other:1"]
        );
        assert_eq!(
            parse_load_answer("{\"stream\":\"Loaded image ID: sha256:abc\\n\"}").unwrap(),
            vec!["Loaded image ID: sha256:abc"]
        );
        assert!(parse_load_answer("").unwrap().is_empty());
    }

    #[test]
    fn load_answer_error_line_fails() {
        let answer = "{\"stream\":\"x\\n\"}\n{\"errorDetail\":{\"message\":\"unexpected EOF\"},\"error\":\"unexpected EOF\"}\n";
        assert_eq!(
            parse_load_answer(answer).unwrap_err(),
            DockerError::Load("unexpected EOF".into())
        );
        assert_eq!(
            parse_load_answer("{\"error\":\"no space left\"}").unwrap_err(),
            DockerError::Load("no space left".into())
        );
    }

    #[test]
    fn error_answers_give_their_message() {
        assert_eq!(
            error_message(b"{\"message\":\"invalid tar header\"}\n"),
            "invalid tar header"
        );
        assert_eq!(error_message(b"page not found\n"), "page not found");
    }

    /// What the fake daemon saw of a load request.
    #[derive(Debug)]
    struct Seen {
        head: String,
        body: Vec<u8>,
        /// The body ended with its terminating chunk, not a closed connection.
        complete: bool,
    }

    /// How the fake daemon answers a load.
    #[derive(Clone, Copy)]
    enum Answer {
        /// After reading the whole body.
        Ok(&'static str),
        /// At once, without reading the body.
        Early(&'static str),
    }

    /// A daemon on a unix socket answering `/_ping` and one `/images/load`. A fake, because
    /// what these tests need — an error line inside a 200, an answer before the body is
    /// read, a dropped upload — cannot be provoked from a real dockerd on purpose; the
    /// real one is exercised by crates/cli/tests/docker_run.rs.
    fn fake_daemon(dir: &Path, answer: Answer) -> (DockerHost, std_mpsc::Receiver<Seen>) {
        let path = dir.join("docker.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let (tx, rx) = std_mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let stream = stream.unwrap();
                let tx = tx.clone();
                std::thread::spawn(move || serve(stream, answer, &tx));
            }
        });
        (DockerHost::Unix(path), rx)
    }

    fn serve(stream: std::os::unix::net::UnixStream, answer: Answer, tx: &std_mpsc::Sender<Seen>) {
        let mut out = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        loop {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            if head.is_empty() {
                break;
            }
            if head.starts_with("GET /_ping") {
                out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                    .unwrap();
                continue;
            }
            let text = match answer {
                Answer::Early(text) => {
                    let _ = out.write_all(text.as_bytes());
                    // Gone without reading, like a daemon refusing the upload.
                    drop(reader);
                    drop(out);
                    let _ = tx.send(Seen {
                        head,
                        body: Vec::new(),
                        complete: false,
                    });
                    return;
                }
                Answer::Ok(text) => text,
            };
            let (body, complete) = read_chunked(&mut reader);
            if complete {
                let _ = out.write_all(text.as_bytes());
            }
            let _ = tx.send(Seen {
                head,
                body,
                complete,
            });
            return;
        }
    }

    fn read_chunked(reader: &mut impl BufRead) -> (Vec<u8>, bool) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                return (body, false);
            }
            let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
                return (body, false);
            };
            let mut chunk = vec![0; size + 2];
            if reader.read_exact(&mut chunk).is_err() {
                return (body, false);
            }
            if size == 0 {
                return (body, true);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    fn http_answer(status: &str, body: &str) -> &'static str {
        Box::leak(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        )
    }

    fn archive_bytes() -> Vec<u8> {
        (0..(3 * CHUNK + 12345)).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn an_archive_streams_into_the_daemon() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _entered = runtime.enter();
        let dir = tempfile::tempdir().unwrap();
        let answer = http_answer(
            "200 OK",
            "{\"stream\":\"Loaded image: hearth:test\\n\"}\r\n",
        );
        let (host, seen) = fake_daemon(dir.path(), Answer::Ok(answer));
        let mut loader = Loader::open(host).unwrap();
        let data = archive_bytes();
        // Odd-sized writes, as tar produces.
        for piece in data.chunks(7000) {
            loader.write_all(piece).unwrap();
        }
        assert_eq!(loader.finish().unwrap(), vec!["Loaded image: hearth:test"]);
        let seen = seen.recv().unwrap();
        assert!(seen.complete);
        assert!(
            seen.head
                .starts_with("POST /images/load?quiet=1 HTTP/1.1\r\n"),
            "{}",
            seen.head
        );
        assert!(
            seen.head
                .to_ascii_lowercase()
                .contains("content-type: application/x-tar\r\n"),
            "{}",
            seen.head
        );
        assert!(seen.body == data, "the daemon got different bytes");
    }

    #[test]
    fn an_error_inside_a_200_answer_fails_the_load() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _entered = runtime.enter();
        let dir = tempfile::tempdir().unwrap();
        let answer = http_answer(
            "200 OK",
            "{\"errorDetail\":{\"message\":\"archive/tar: invalid tar header\"},\"error\":\"archive/tar: invalid tar header\"}\r\n",
        );
        let (host, _seen) = fake_daemon(dir.path(), Answer::Ok(answer));
        let mut loader = Loader::open(host).unwrap();
        loader.write_all(b"not a tar").unwrap();
        assert_eq!(
            loader.finish().unwrap_err(),
            DockerError::Load("archive/tar: invalid tar header".into())
        );
    }

    #[test]
    fn an_error_status_fails_the_load_even_mid_archive() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _entered = runtime.enter();
        let dir = tempfile::tempdir().unwrap();
        let answer = http_answer("500 Internal Server Error", "{\"message\":\"disk full\"}");
        let (host, _seen) = fake_daemon(dir.path(), Answer::Early(answer));
        let mut loader = Loader::open(host).unwrap();
        // Far more than the queue holds: the writer must not wait forever for a reader.
        let data = archive_bytes();
        let mut failure = None;
        for _ in 0..64 {
            if let Err(e) = loader.write_all(&data) {
                failure = Some(e);
                break;
            }
        }
        let failure = match failure {
            Some(e) => e.to_string(),
            None => loader.finish().unwrap_err().to_string(),
        };
        assert!(
            failure.contains("disk full") || failure.contains("talking to the Docker daemon"),
            "{failure}"
        );
    }

    #[test]
    fn a_dropped_loader_aborts_the_upload() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _entered = runtime.enter();
        let dir = tempfile::tempdir().unwrap();
        let answer = http_answer("200 OK", "{\"stream\":\"Loaded image: x:y\\n\"}\r\n");
        let (host, seen) = fake_daemon(dir.path(), Answer::Ok(answer));
        let mut loader = Loader::open(host).unwrap();
        loader.write_all(&archive_bytes()).unwrap();
        drop(loader);
        let seen = seen.recv().unwrap();
        assert!(!seen.complete, "a truncated archive must not end cleanly");
    }

    #[test]
    fn a_missing_socket_says_how_to_fix_it() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _entered = runtime.enter();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nonexistent.sock");
        let Err(e) = Loader::open(DockerHost::Unix(path.clone())) else {
            panic!("opened a missing socket");
        };
        assert!(matches!(e, DockerError::Connect { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot connect to the Docker daemon at unix://{}: ",
                path.display()
            )),
            "{text}"
        );
        assert!(
            text.ends_with("(is dockerd running? set DOCKER_HOST to its socket)"),
            "{text}"
        );
    }
}
