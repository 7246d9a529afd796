//! HTTP(S) sources (`ADD https://…`): one downloaded file in a layer of its own,
//! verified against `--checksum` when given. The file is mode 0600, as BuildKit makes
//! downloads.
//!
//! The body streams into the pending layer while it is hashed, so a download holds a
//! buffer's worth of memory whatever its size. Every download is bounded
//! ([`DownloadLimits`]): time to connect, time without data, time in all, and size.
//! BuildKit has no size limit; for hearth an endless body is an error, not a full disk.

use std::io;
use std::path::{Component, Path};
use std::sync::Arc;
use std::time::Duration;

use hearth_core::Digest;
use hearth_graph::op::HttpSource;
use hearth_solver::Job;
use hearth_store::LayerOrigin;
use rustix::fs::{Mode, OFlags};
use sha2::Digest as _;
use tokio::io::AsyncWriteExt;

use crate::{Error, Host, Ref, records};

/// How long and how large one `ADD <url>` download may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadLimits {
    /// Longest wait for the connection to the server.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes from the server, for its headers and then between
    /// reads of the body.
    pub stall_timeout: Duration,
    /// Longest time a whole download may take.
    pub deadline: Duration,
    /// Largest body accepted, in bytes.
    pub max_size: u64,
}

impl DownloadLimits {
    /// The largest body a download may have by default: 16 GiB. The largest files builds
    /// commonly download in one piece (toolchain installers, model weights) are a few GiB,
    /// so this stops only bodies that were never going to end, at a size any builder's
    /// disk holds.
    pub const DEFAULT_MAX_SIZE: u64 = 16 << 30;
    /// The dial timeout of Go's default HTTP transport.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
    /// The registry client's: a minute without a byte is a dead connection.
    pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);
    /// Two hours: the largest default download at 2.3 MB/s, while a server dripping bytes
    /// just often enough to pass the stall timeout cannot hold a build forever.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(2 * 60 * 60);
}

impl Default for DownloadLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            stall_timeout: Self::DEFAULT_STALL_TIMEOUT,
            deadline: Self::DEFAULT_DEADLINE,
            max_size: Self::DEFAULT_MAX_SIZE,
        }
    }
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The URL names no file to create (its last path segment is `..` or empty).
    #[error(
        "the URL does not end in a file name (it gives {0:?}); add a URL whose path ends in the file's name"
    )]
    FileName(String),
    /// No connection within the connect timeout.
    #[error("could not connect within {} (the connect timeout)", Human(*.0))]
    ConnectTimeout(Duration),
    /// The server sent nothing for the stall timeout.
    #[error("the server sent nothing for {} (the stall timeout)", Human(*.0))]
    Stalled(Duration),
    /// The download took longer than the deadline.
    #[error("not complete after {} (the download deadline)", Human(*.0))]
    Deadline(Duration),
    /// The body is larger than the size limit.
    #[error("{}", too_large(*.limit, *.announced))]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
        /// The size the server announced, when it was over the limit.
        announced: Option<u64>,
    },
    /// The server did not answer with success.
    #[error("server answered {0}")]
    Status(reqwest::StatusCode),
    /// The body is not what `--checksum` pins.
    #[error("checksum mismatch: expected {expected}, got {actual}")]
    Checksum {
        /// The pinned digest.
        expected: Digest,
        /// The body's digest.
        actual: Digest,
    },
    /// The connection failed.
    #[error("{0}")]
    Transport(String),
    /// Writing the file failed.
    #[error("writing the downloaded file: {0}")]
    Write(#[source] io::Error),
}

fn too_large(limit: u64, announced: Option<u64>) -> String {
    match announced {
        Some(size) => format!(
            "the server announces {}, more than the {} a download may have",
            ByteSize(size),
            ByteSize(limit)
        ),
        None => format!(
            "the body is larger than the {} a download may have",
            ByteSize(limit)
        ),
    }
}

/// A duration as people write it in limits: `2h`, `30s`, `1.5s`.
struct Human(Duration);

impl std::fmt::Display for Human {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.0.as_secs();
        if self.0.subsec_nanos() != 0 {
            write!(f, "{}s", self.0.as_secs_f64())
        } else if secs >= 3600 && secs % 3600 == 0 {
            write!(f, "{}h", secs / 3600)
        } else if secs >= 60 && secs % 60 == 0 {
            write!(f, "{}m", secs / 60)
        } else {
            write!(f, "{secs}s")
        }
    }
}

/// A byte count in the largest binary unit that divides it (`16 GiB`, `1000 bytes`).
struct ByteSize(u64);

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            if self.0 >= 1 << shift && self.0 % (1 << shift) == 0 {
                return write!(f, "{} {unit}", self.0 >> shift);
            }
        }
        write!(f, "{} bytes", self.0)
    }
}

/// The HTTP client every download on this host shares, with its limits.
pub(crate) struct Downloader {
    client: reqwest::Client,
    limits: DownloadLimits,
}

/// Bytes gathered before a write to the file: few, large writes, in bounded memory.
const WRITE_BUFFER: usize = 1 << 20;

impl Downloader {
    /// A client that follows redirects and proxy variables as reqwest's defaults do.
    pub(crate) fn new(limits: DownloadLimits) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(limits.connect_timeout)
            .read_timeout(limits.stall_timeout)
            .build()
            .map_err(|e| Error::HttpClient(innermost(&e)))?;
        Ok(Self { client, limits })
    }

    /// Streams `url` into `file`, returning the body's digest.
    async fn download(&self, url: &str, file: std::fs::File) -> Result<Digest, DownloadError> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| self.failure(&e))?;
        if !response.status().is_success() {
            return Err(DownloadError::Status(response.status()));
        }
        let limit = self.limits.max_size;
        if let Some(announced) = response.content_length().filter(|&n| n > limit) {
            return Err(DownloadError::TooLarge {
                limit,
                announced: Some(announced),
            });
        }
        let mut out =
            tokio::io::BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file));
        let mut hasher = sha2::Sha256::new();
        let mut received: u64 = 0;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.failure(&e))? {
            received = received.saturating_add(chunk.len() as u64);
            if received > limit {
                return Err(DownloadError::TooLarge {
                    limit,
                    announced: None,
                });
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(DownloadError::Write)?;
        }
        out.flush().await.map_err(DownloadError::Write)?;
        Ok(Digest::from_sha256_bytes(hasher.finalize().into()))
    }

    fn failure(&self, error: &reqwest::Error) -> DownloadError {
        match (error.is_timeout(), error.is_connect()) {
            (true, true) => DownloadError::ConnectTimeout(self.limits.connect_timeout),
            (true, false) => DownloadError::Stalled(self.limits.stall_timeout),
            (false, _) => DownloadError::Transport(innermost(error)),
        }
    }
}

/// The most specific message in an error's chain: reqwest's own is only "error sending
/// request".
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    deepest.to_string()
}

pub(crate) async fn fetch(host: &Host, source: &HttpSource, job: &Job) -> Result<Ref, Error> {
    let failed = |reason: DownloadError| Error::Download {
        url: source.url.clone(),
        source: reason,
    };
    let name = file_name(&source.filename).map_err(failed)?;
    job.progress.status(format!("downloading {}", source.url));
    let pending = host.store.new_layer()?;
    let diff = pending.diff_dir();
    let file = create_file(&diff, name).map_err(|e| Error::io(&diff.join(name), e))?;
    let downloader = &host.downloader;
    let deadline = downloader.limits.deadline;
    let actual = tokio::time::timeout(deadline, downloader.download(&source.url, file))
        .await
        .map_err(|_| failed(DownloadError::Deadline(deadline)))?
        .map_err(failed)?;
    if let Some(expected) = source.checksum.filter(|expected| *expected != actual) {
        return Err(failed(DownloadError::Checksum { expected, actual }));
    }
    let id = records::commit_layer(host, pending, LayerOrigin::Built)?;
    Ok(Ref::Layers(Arc::new(vec![id])))
}

/// `name` if it names one file in a directory: not empty, `.`, `..` or a path.
fn file_name(name: &str) -> Result<&str, DownloadError> {
    let mut components = Path::new(name).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(_)), None) if !name.contains(['/', '\0']) => Ok(name),
        _ => Err(DownloadError::FileName(name.to_owned())),
    }
}

/// Creates `name` in `dir`, mode 0600, refusing to reuse or follow anything already there.
fn create_file(dir: &Path, name: &str) -> io::Result<std::fs::File> {
    let dir = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let file = rustix::fs::openat(
        &dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::RUSR | Mode::WUSR,
    )?;
    // The umask may have taken bits from the mode asked for; BuildKit's file is 0600.
    rustix::fs::fchmod(&file, Mode::RUSR | Mode::WUSR)?;
    Ok(std::fs::File::from(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_is_named_by_one_plain_path_component() {
        for good in ["tool.txt", "archive.tar.gz", "...", "a b", "%2F"] {
            assert_eq!(file_name(good).unwrap(), good);
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a/",
            "/",
            "/etc/passwd",
            "../x",
            "a\0b",
        ] {
            assert!(
                matches!(file_name(bad), Err(DownloadError::FileName(_))),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn limits_are_named_as_people_write_them() {
        assert_eq!(Human(Duration::from_secs(7200)).to_string(), "2h");
        assert_eq!(Human(Duration::from_secs(60)).to_string(), "1m");
        assert_eq!(Human(Duration::from_secs(30)).to_string(), "30s");
        assert_eq!(Human(Duration::from_millis(1500)).to_string(), "1.5s");
        assert_eq!(ByteSize(16 << 30).to_string(), "16 GiB");
        assert_eq!(ByteSize(8 << 20).to_string(), "8 MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000 bytes");
        assert_eq!(
            DownloadError::TooLarge {
                limit: 1 << 20,
                announced: Some(3 << 20)
            }
            .to_string(),
            "the server announces 3 MiB, more than the 1 MiB a download may have"
        );
    }
}
