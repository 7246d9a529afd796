//! Debian's `docker-registry` (Distribution v2) on a loopback port of its own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_port, require};

/// A running registry; stopped and its data removed when dropped.
pub struct Registry {
    addr: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry on `127.0.0.1:<free port>` with storage in a temporary directory.
    pub fn start() -> Result<Self, String> {
        Self::start_with(|_| Ok(String::new()))
    }

    /// Starts a registry that requires HTTP basic auth for `user`/`password` (an htpasswd
    /// file with a bcrypt hash, the only kind the registry accepts).
    pub fn start_with_basic_auth(user: &str, password: &str) -> Result<Self, String> {
        Self::start_with(|dir| {
            let hash = bcrypt::hash(password, 4).map_err(|e| format!("bcrypt: {e}"))?;
            let htpasswd = dir.join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n"))
                .map_err(|e| format!("writing {}: {e}", htpasswd.display()))?;
            Ok(format!(
                "auth:\n  htpasswd:\n    realm: hearth-test\n    path: {}\n",
                htpasswd.display()
            ))
        })
    }

    fn start_with(extra: impl FnOnce(&Path) -> Result<String, String>) -> Result<Self, String> {
        let exe = require("docker-registry", "docker-registry").map_err(|e| e.to_string())?;
        let dir = tempfile::Builder::new()
            .prefix("hearth-registry-")
            .tempdir()
            .map_err(|e| format!("creating the registry directory: {e}"))?;
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        let extra = extra(dir.path())?;
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .map_err(|e| format!("writing {}: {e}", config.display()))?;
        let log = std::fs::File::create(dir.path().join("registry.log"))
            .map_err(|e| format!("creating the registry log: {e}"))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("starting docker-registry: {e}"))?;
        let mut registry = Self { addr, child, dir };
        registry.wait_ready()?;
        Ok(registry)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("docker-registry exited ({status}): {}", self.log()));
            }
            if v2_answers(&self.addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "docker-registry did not answer on {} within 15s: {}",
            self.addr,
            self.log()
        ))
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Where the registry keeps its files.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Every request in the registry's access log so far, as (method, path with query,
    /// status): how tests count what crossed the wire.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        access_log_requests(&self.log())
    }

    /// Blob uploads completed so far (the `PUT` that ends each upload session).
    pub fn blob_uploads(&self) -> usize {
        self.requests()
            .iter()
            .filter(|(m, p, s)| m == "PUT" && p.contains("/blobs/uploads/") && *s == 201)
            .count()
    }

    /// A hearth configuration file that sends `docker.io` to this registry over plain
    /// HTTP, written to `path`.
    pub fn write_hearth_config(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            format!(
                "[registry.\"docker.io\"]\n  mirrors = [\"{0}\"]\n\n[registry.\"{0}\"]\n  http = true\n",
                self.addr
            ),
        )
    }
}

/// The requests in a Distribution registry's access log (combined log format:
/// `… "METHOD /path HTTP/1.1" STATUS SIZE "referer" "agent"`), as (method, path, status).
pub fn access_log_requests(log: &str) -> Vec<(String, String, u16)> {
    log.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once('"')?;
            let (request, rest) = rest.split_once('"')?;
            let mut parts = request.split(' ');
            let method = parts.next()?.to_owned();
            let path = parts.next()?.to_owned();
            let status = rest.split_whitespace().next()?.parse().ok()?;
            Some((method, path, status))
        })
        .collect()
}

fn v2_answers(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(
            format!("GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok()
        && (head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.1 401"))
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
