//! A private dockerd (Debian `docker.io`): its own socket, data and exec roots, no
//! network bridge, so it disturbs nothing on the machine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::process::require;

/// A running dockerd; stopped when dropped.
pub struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
    docker: PathBuf,
}

impl Dockerd {
    /// Starts dockerd with its state under a temporary directory.
    pub fn start() -> Result<Self, String> {
        let dockerd = require("dockerd", "docker.io").map_err(|e| e.to_string())?;
        let docker = require("docker", "docker.io").map_err(|e| e.to_string())?;
        // Short paths: the socket path must fit in sun_path.
        let dir = tempfile::Builder::new()
            .prefix("hd-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("creating the dockerd directory: {e}"))?;
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).map_err(|e| e.to_string())?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(dockerd)
            .arg(format!("--host=unix://{}", d.join("docker.sock").display()))
            .arg(format!("--data-root={}", d.join("data").display()))
            .arg(format!("--exec-root={}", d.join("exec").display()))
            .arg(format!("--pidfile={}", d.join("docker.pid").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--storage-driver=overlay2",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("starting dockerd: {e}"))?;
        let mut this = Self { child, dir, docker };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = this.child.try_wait() {
                return Err(format!("dockerd exited ({status}): {}", this.log()));
            }
            if this.docker(&["version"]).is_ok_and(|o| o.status.success()) {
                return Ok(this);
            }
            if Instant::now() > deadline {
                return Err(format!("dockerd did not answer within 60s: {}", this.log()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs the docker client against this daemon.
    pub fn docker(&self, args: &[&str]) -> std::io::Result<Output> {
        Command::new(&self.docker)
            .arg(format!("--host=unix://{}", self.socket().display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
    }

    /// `docker load -i archive`.
    pub fn load(&self, archive: &Path) -> std::io::Result<Output> {
        Command::new(&self.docker)
            .arg(format!("--host=unix://{}", self.socket().display()))
            .args(["load", "-i"])
            .arg(archive)
            .output()
    }

    /// The `DOCKER_HOST` value that reaches this daemon.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd unmount its overlay2 layers before the directory goes.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
