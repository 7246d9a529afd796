//! A real `hearthd` process on a temporary root and socket, and the workspace's own
//! binaries for tests that need one built by another package.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace binary `name` (`hearth`, `hearthd`) of this build profile, building it
/// with cargo first: a package's tests only get their own package's binaries built.
pub fn workspace_bin(name: &str, package: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected test binary location {}", exe.display()))?;
    let bin = profile_dir.join(name);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", package, "--bin", name]);
    if release {
        build.arg("--release");
    }
    // Cheap when up to date, and it keeps a stale binary from being tested.
    let status = build
        .status()
        .map_err(|e| format!("building {name}: {e}"))?;
    if !status.success() || !bin.is_file() {
        return Err(format!("building {name} with cargo failed ({status})"));
    }
    Ok(bin)
}

/// A running hearthd; killed when dropped.
pub struct Hearthd {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    args: Vec<String>,
    env: Vec<(String, PathBuf)>,
}

impl Hearthd {
    /// Starts hearthd with `config` (may be absent), state in `root`, listening on
    /// `socket`, and waits until it answers.
    pub fn start(root: &Path, socket: &Path, config: Option<&Path>) -> Result<Self, String> {
        Self::start_with(
            root,
            socket,
            config,
            &[format!("--addr=unix://{}", socket.display())],
        )
    }

    /// Like [`Hearthd::start`] with other listening flags (none: the config's `[grpc]`);
    /// `socket` then only names the log file and [`Hearthd::address`].
    pub fn start_with(
        root: &Path,
        socket: &Path,
        config: Option<&Path>,
        listen: &[String],
    ) -> Result<Self, String> {
        Self::launch(root, socket, config, listen, Vec::new())
    }

    /// Like [`Hearthd::start`] with environment variables of its own, e.g. a
    /// `DOCKER_CONFIG` holding the daemon's (root's) registry logins.
    pub fn start_with_env(
        root: &Path,
        socket: &Path,
        config: Option<&Path>,
        env: &[(&str, &Path)],
    ) -> Result<Self, String> {
        let env = env
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.to_path_buf()))
            .collect();
        Self::launch(
            root,
            socket,
            config,
            &[format!("--addr=unix://{}", socket.display())],
            env,
        )
    }

    fn launch(
        root: &Path,
        socket: &Path,
        config: Option<&Path>,
        listen: &[String],
        env: Vec<(String, PathBuf)>,
    ) -> Result<Self, String> {
        let bin = workspace_bin("hearthd", "hearth-daemon")?;
        let mut args = vec![format!("--root={}", root.display())];
        args.extend(listen.iter().cloned());
        if let Some(config) = config {
            args.push(format!("--config={}", config.display()));
        }
        let log = socket.with_extension("log");
        let child = spawn(&bin, &args, &env, &log)?;
        let mut this = Self {
            child,
            socket: socket.to_path_buf(),
            log,
            bin,
            args,
            env,
        };
        this.wait_ready()?;
        Ok(this)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("hearthd exited ({status}): {}", self.log()));
            }
            if self.log().contains("is ready") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("hearthd not ready within 60s: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `unix://…`, for `hearth --addr`.
    pub fn address(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and the exit status once it stopped (within `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Result<std::process::ExitStatus, String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!("hearthd still running {timeout:?} after SIGTERM"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts it again with the same arguments after [`Hearthd::kill`].
    pub fn restart(&mut self) -> Result<(), String> {
        self.child = spawn(&self.bin, &self.args, &self.env, &self.log)?;
        self.wait_ready_after_restart()
    }

    fn wait_ready_after_restart(&mut self) -> Result<(), String> {
        let seen = self.log().matches("is ready").count();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("hearthd exited ({status}): {}", self.log()));
            }
            if self.log().matches("is ready").count() > seen {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("hearthd not ready within 60s: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn spawn(
    bin: &Path,
    args: &[String],
    env: &[(String, PathBuf)],
    log: &Path,
) -> Result<Child, String> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("opening {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    Command::new(bin)
        .args(args)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting hearthd: {e}"))
}

impl Drop for Hearthd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
