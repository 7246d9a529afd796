//! Real components for the registry tests: a `docker-registry` (the Distribution
//! registry, Debian package) on a free loopback port with its own storage and config,
//! and OCI layouts built here and pushed to it with `skopeo`.
//!
//! Nothing is mocked: a test that cannot start these tools fails and says which package
//! to install, rather than skipping.

#![allow(dead_code, unreachable_pub)]

pub mod token;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearth_core::Digest;
use serde_json::json;

const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A running `docker-registry serve`, killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    /// A registry without authentication.
    pub fn start() -> Registry {
        Self::start_with("")
    }

    /// A registry requiring HTTP basic auth for `user`/`password` (bcrypt htpasswd, the
    /// only format the registry accepts).
    pub fn start_with_basic_auth(user: &str, password: &str) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(&htpasswd, bcrypt_line(user, password)).expect("write htpasswd");
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: hearth-test\n    path: {}\n",
            htpasswd.display()
        );
        Self::start_in(dir, &auth)
    }

    /// A registry delegating authentication to `server` (`auth: token`).
    pub fn start_with_token(server: &token::TokenServer) -> Registry {
        Self::start_with(&server.registry_auth())
    }

    /// A registry that still accepts Docker schema 1 manifests, as old registries do.
    pub fn start_with_schema1() -> Registry {
        Self::start_with("compatibility:\n  schema1:\n    enabled: true\n")
    }

    /// A registry with this `auth:` section (or any other extra configuration).
    pub fn start_with(auth: &str) -> Registry {
        Self::start_in(tempfile::tempdir().expect("tempdir"), auth)
    }

    /// A registry serving HTTPS with `tls`'s server certificate and requiring a client
    /// certificate signed by its CA (mTLS).
    pub fn start_tls(tls: &TlsFiles) -> Registry {
        let section = format!(
            "  tls:\n    certificate: {}\n    key: {}\n    clientcas:\n      - {}\n",
            tls.server_cert.display(),
            tls.server_key.display(),
            tls.ca_cert.display()
        );
        Self::start_in(tempfile::tempdir().expect("tempdir"), &section)
    }

    fn start_in(mut dir: tempfile::TempDir, auth: &str) -> Registry {
        assert!(
            Path::new(DOCKER_REGISTRY).exists(),
            "{DOCKER_REGISTRY} is missing: install the Debian package docker-registry (apt-get install docker-registry)"
        );
        // Our own config: the package's default enables htpasswd auth and listens on :5000.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let storage = dir.path().join("storage");
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                    storage.display()
                ),
            )
            .expect("write registry config");
            let child = spawn(dir.path());
            let mut registry = Registry { child, port, dir };
            match registry.wait_ready() {
                Ok(()) => return registry,
                Err(e) => {
                    last_error = e;
                    let _ = registry.child.kill();
                    let _ = registry.child.wait();
                    // Keep the directory for the next try (the port may have been taken).
                    dir =
                        std::mem::replace(&mut registry.dir, tempfile::tempdir().expect("tempdir"));
                }
            }
        }
        panic!("docker-registry did not start: {last_error}");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.path().join("registry.log"))
                    .unwrap_or_default();
                return Err(format!("exited with {status}: {log}"));
            }
            // Any HTTP answer means it listens (a TLS registry answers plain HTTP with 400).
            if http_status(self.port, "/v2/").is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("port {} did not answer /v2/ within 15s", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the registry process (as a crash would), keeping its storage.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the registry again on the same port and storage after [`Registry::kill`].
    pub fn restart(&mut self) {
        self.child = spawn(self.dir.path());
        self.wait_ready().expect("registry restarts");
    }

    /// Every request in the access log so far, as (method, path with query, status).
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        hearth_testkit::access_log_requests(&log)
    }

    /// The registry's filesystem storage root.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `docker-registry serve` on `dir`'s config, appending to its log (the access
/// log goes there too: tests count requests in it).
fn spawn(dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("registry.log"))
        .expect("log file");
    Command::new(DOCKER_REGISTRY)
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {DOCKER_REGISTRY}: {e}"))
}

/// The status code of a plain HTTP/1.0 GET to the loopback port, if it answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// One `user:bcrypt-hash` line, from `htpasswd -nbB` (apache2-utils) or, failing that,
/// Python's `crypt` module (libxcrypt's bcrypt).
fn bcrypt_line(user: &str, password: &str) -> String {
    if let Ok(out) = Command::new("htpasswd")
        .args(["-nbB", user, password])
        .output()
    {
        if out.status.success() {
            return String::from_utf8(out.stdout).expect("htpasswd output is utf-8");
        }
    }
    let script = "import crypt,sys; print(sys.argv[1] + ':' + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))";
    let out = Command::new("python3")
        .args(["-W", "ignore", "-c", script, user, password])
        .output()
        .unwrap_or_else(|e| {
            panic!("need htpasswd (apt-get install apache2-utils) or python3 for bcrypt: {e}")
        });
    assert!(
        out.status.success(),
        "need htpasswd (apt-get install apache2-utils) or python3 with crypt for bcrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("python output is utf-8")
}

/// A blob written to a layout.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

impl Blob {
    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest.to_string(), "size": self.bytes.len()})
    }
}

/// One single-platform image in a layout.
#[derive(Debug, Clone)]
pub struct Image {
    pub os: String,
    pub architecture: String,
    pub variant: String,
    pub layer: Blob,
    pub config: Blob,
    pub manifest: Blob,
}

/// An OCI image layout directory under construction.
pub struct Layout {
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Layout {
    pub fn new() -> Layout {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("layout");
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir blobs");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("write oci-layout");
        Layout { dir, _tmp: tmp }
    }

    pub fn write_blob(&self, media_type: &str, bytes: Vec<u8>) -> Blob {
        let digest = Digest::of(&bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(digest.hex()), &bytes)
            .expect("write blob");
        Blob {
            media_type: media_type.to_owned(),
            digest,
            bytes,
        }
    }

    /// A one-layer image whose layer holds `hello.txt` with `text`.
    pub fn image(&self, platform: &str, text: &str) -> Image {
        let mut parts = platform.split('/');
        let os = parts.next().unwrap_or_default().to_owned();
        let architecture = parts.next().unwrap_or_default().to_owned();
        let variant = parts.next().unwrap_or_default().to_owned();
        let layer = self.write_blob(
            "application/vnd.oci.image.layer.v1.tar",
            tar_with_file("hello.txt", text.as_bytes()),
        );
        let mut config = json!({
            "architecture": architecture,
            "os": os,
            "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["cat", "/hello.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest.to_string()]},
            "history": [{"created_by": format!("test layer for {platform}")}],
        });
        if !variant.is_empty() {
            config["variant"] = json!(variant);
        }
        let config = self.write_blob(
            "application/vnd.oci.image.config.v1+json",
            serde_json::to_vec(&config).expect("config json"),
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config.descriptor(),
            "layers": [layer.descriptor()],
        });
        let manifest = self.write_blob(
            "application/vnd.oci.image.manifest.v1+json",
            serde_json::to_vec(&manifest).expect("manifest json"),
        );
        Image {
            os,
            architecture,
            variant,
            layer,
            config,
            manifest,
        }
    }

    /// An index over `images`, each entry carrying its platform.
    pub fn index(&self, images: &[Image]) -> Blob {
        let manifests: Vec<serde_json::Value> = images
            .iter()
            .map(|i| {
                let mut d = i.manifest.descriptor();
                let mut platform = json!({"os": i.os, "architecture": i.architecture});
                if !i.variant.is_empty() {
                    platform["variant"] = json!(i.variant);
                }
                d["platform"] = platform;
                d
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        self.write_blob(
            "application/vnd.oci.image.index.v1+json",
            serde_json::to_vec(&index).expect("index json"),
        )
    }

    /// Writes `index.json` naming `top` (a manifest or an index) as `tag`.
    pub fn tag(&self, tag: &str, top: &Blob) {
        let mut d = top.descriptor();
        d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        let index = json!({"schemaVersion": 2, "manifests": [d]});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).expect("index.json"),
        )
        .expect("write index.json");
    }

    /// Pushes `tag` of this layout to `docker://<destination>` with skopeo, keeping the
    /// manifests byte for byte (`--preserve-digests`) and copying every platform.
    pub fn push(&self, tag: &str, destination: &str) {
        self.push_with(tag, destination, &["--preserve-digests"]);
    }

    pub fn push_with(&self, tag: &str, destination: &str, extra: &[&str]) {
        let out = Command::new("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "--quiet",
                "--all",
                "--dest-tls-verify=false",
            ])
            .args(extra)
            .arg(format!("oci:{}:{tag}", self.dir.display()))
            .arg(format!("docker://{destination}"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run skopeo (apt-get install skopeo): {e}"));
        assert!(
            out.status.success(),
            "skopeo copy to {destination} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A tar archive with one regular file.
pub fn tar_with_file(name: &str, contents: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(contents.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, name, contents)
        .expect("append tar entry");
    builder.into_inner().expect("finish tar")
}

/// Reads the first file's contents out of a tar archive.
pub fn first_file(archive: &[u8]) -> (String, Vec<u8>) {
    let mut archive = tar::Archive::new(archive);
    let mut entry = archive
        .entries()
        .expect("tar entries")
        .next()
        .expect("one entry")
        .expect("entry");
    let name = entry.path().expect("path").display().to_string();
    let mut contents = Vec::new();
    entry.read_to_end(&mut contents).expect("read entry");
    (name, contents)
}

/// A stand-in for a captive portal or proxy login page: answers every request with
/// `200 text/html`. This one is a fake by necessity (the real thing is a network
/// appliance); it speaks real HTTP over a real socket. Returns its port.
pub async fn start_html_server() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind html server");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "<html><body><h1>Sign in to continue</h1></body></html>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    port
}

pub use hearth_testkit::TlsFiles;

/// A CA, a server certificate for IP 127.0.0.1 and a client certificate (P-256 keys).
pub fn tls_files() -> TlsFiles {
    hearth_testkit::tls_files().unwrap_or_else(|e| panic!("making test certificates: {e}"))
}
