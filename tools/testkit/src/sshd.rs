//! Debian's OpenSSH server on a loopback port of its own, serving one bare git
//! repository to one public key and logging every git command it serves.
//!
//! Everything lives in a temporary directory: the configuration (`sshd -f`), the host
//! key, `authorized_keys`, the repository, the work tree commits are made in, and the
//! logs. The key may only run git: `authorized_keys` forces a wrapper that records the
//! command and hands it to `git-shell`, with git's packet trace on so a ref listing
//! (`git ls-remote`, or the first half of a fetch) can be told from a fetch of objects.

use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_port, require, run_within};

const TOOL_LIMIT: Duration = Duration::from_secs(30);
const BRANCH: &str = "main";

/// A running sshd serving `repo.git`; stopped and its directory removed when dropped.
pub struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    user: String,
    git: PathBuf,
}

/// What a served git command did, judged from the server side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitCallKind {
    /// `git-upload-pack` that only listed refs (what `git ls-remote` does).
    ListRefs,
    /// `git-upload-pack` that was asked for objects (`want`): a clone or fetch.
    Fetch,
    /// Any other command (`git-receive-pack`, `git-upload-archive`, or one git-shell
    /// refused).
    Other,
}

/// One command the key ran, in the order served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitCall {
    /// `SSH_ORIGINAL_COMMAND`, e.g. `git-upload-pack '/tmp/…/repo.git'`.
    pub command: String,
    /// What it did.
    pub kind: GitCallKind,
}

impl Sshd {
    /// Starts sshd on `127.0.0.1:<free port>` for `root`, authorizing `authorized_key`
    /// (an `ssh-ed25519 AAAA…` line, e.g. [`crate::SshAgent::public_key`]), with a bare
    /// repository whose branch `main` has one commit holding `files` (relative path,
    /// contents).
    pub fn start(authorized_key: &str, files: &[(&str, &[u8])]) -> Result<Self, String> {
        let sshd = require("sshd", "openssh-server").map_err(|e| e.to_string())?;
        let keygen = require("ssh-keygen", "openssh-client").map_err(|e| e.to_string())?;
        let git = require("git", "git").map_err(|e| e.to_string())?;
        let git_shell = require("git-shell", "git").map_err(|e| e.to_string())?;
        let dir = tempfile::Builder::new()
            .prefix("hearth-sshd-")
            .tempdir()
            .map_err(|e| format!("creating the sshd directory: {e}"))?;
        let root = dir.path();
        let write = |name: &str, contents: String| {
            let path = root.join(name);
            std::fs::write(&path, contents).map_err(|e| format!("writing {}: {e}", path.display()))
        };

        run_within(
            Command::new(keygen)
                .args([
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "hearth-test-host",
                    "-f",
                ])
                .arg(root.join("host_ed25519")),
            TOOL_LIMIT,
        )?;

        let traces = root.join("trace");
        std::fs::create_dir(&traces).map_err(|e| format!("creating {}: {e}", traces.display()))?;
        let serve = root.join("serve");
        write(
            "serve",
            format!(
                "#!/bin/sh\n\
                 # Forced command: record what the key asked for, then let git-shell run it\n\
                 # (git commands only) with the packet trace telling listings from fetches.\n\
                 printf '%s\\t%s\\n' \"$$\" \"$SSH_ORIGINAL_COMMAND\" >> '{calls}'\n\
                 GIT_TRACE_PACKET='{traces}/'$$ exec '{git_shell}' -c \"$SSH_ORIGINAL_COMMAND\"\n",
                calls = root.join("calls.log").display(),
                traces = traces.display(),
                git_shell = git_shell.display(),
            ),
        )?;
        set_mode(&serve, 0o755)?;
        let authorized_key = authorized_key.trim();
        if authorized_key.contains('\n') || authorized_key.is_empty() {
            return Err("the authorized key must be one public key line".to_owned());
        }
        write(
            "authorized_keys",
            format!(
                "command=\"{}\",restrict {authorized_key}\n",
                serve.display()
            ),
        )?;

        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let user = "root".to_owned();
        write(
            "sshd_config",
            format!(
                "ListenAddress 127.0.0.1:{port}\n\
                 HostKey {root}/host_ed25519\n\
                 PidFile {root}/sshd.pid\n\
                 AuthorizedKeysFile {root}/authorized_keys\n\
                 # The files live under /tmp, which is world-writable.\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\n\
                 AllowUsers {user}\n\
                 # Git clients ask for protocol v2 this way, as real git hosts accept.\n\
                 AcceptEnv GIT_PROTOCOL\n\
                 PrintMotd no\n\
                 LoginGraceTime 30\n\
                 LogLevel VERBOSE\n",
                root = root.display(),
            ),
        )?;
        // The privilege-separation directory sshd insists on when started as root.
        std::fs::create_dir_all("/run/sshd").map_err(|e| {
            format!("creating /run/sshd (sshd's privilege-separation directory): {e}")
        })?;

        let log = std::fs::File::create(root.join("sshd.log"))
            .map_err(|e| format!("creating the sshd log: {e}"))?;
        // sshd re-executes itself by this path, so it must be absolute.
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(root.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting sshd: {e}"))?;
        let mut this = Self {
            child,
            dir,
            port,
            user,
            git,
        };
        this.wait_ready()?;
        this.create_repository(files)?;
        Ok(this)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("sshd exited ({status}): {}", self.log()));
            }
            if self.log().contains("Server listening on") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "sshd did not listen on 127.0.0.1:{} within 10s: {}",
                    self.port,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn create_repository(&self, files: &[(&str, &[u8])]) -> Result<(), String> {
        self.git(&["init", "-q", "--bare", "--initial-branch", BRANCH])
            .arg(self.repo_path())
            .output_ok()?;
        self.git(&["init", "-q", "--initial-branch", BRANCH])
            .arg(self.work_tree())
            .output_ok()?;
        self.commit(files, "first commit")?;
        Ok(())
    }

    /// Writes `files` (relative path, contents) into the repository's work tree, commits
    /// them on `main` and pushes the commit to the served repository; returns its id.
    /// Paths not named keep their contents.
    pub fn commit(&self, files: &[(&str, &[u8])], message: &str) -> Result<String, String> {
        let work = self.work_tree();
        for (name, contents) in files {
            let relative = Path::new(name);
            if !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
            {
                return Err(format!(
                    "repository file {name:?} must be a relative path without `..`"
                ));
            }
            let path = work.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("creating {}: {e}", parent.display()))?;
            }
            std::fs::write(&path, contents)
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        self.git(&["-C"])
            .arg(&work)
            .args(["add", "-A"])
            .output_ok()?;
        self.git(&["-C"])
            .arg(&work)
            .args(["commit", "-q", "--allow-empty", "-m", message])
            .output_ok()?;
        self.git(&["-C"])
            .arg(&work)
            .args(["push", "-q"])
            .arg(self.repo_path())
            .arg(BRANCH)
            .output_ok()?;
        self.head()
    }

    /// The commit `main` points at in the served repository.
    pub fn head(&self) -> Result<String, String> {
        let out = self
            .git(&["--git-dir"])
            .arg(self.repo_path())
            .args(["rev-parse", BRANCH])
            .output_ok()?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// `ssh://root@127.0.0.1:PORT/<dir>/repo.git`.
    pub fn url(&self) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            self.repo_path().display()
        )
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The served bare repository.
    pub fn repo_path(&self) -> PathBuf {
        self.dir.path().join("repo.git")
    }

    /// The server's line for a `known_hosts` file: `[127.0.0.1]:PORT ssh-ed25519 AAAA…`.
    pub fn known_hosts_line(&self) -> Result<String, String> {
        let path = self.dir.path().join("host_ed25519.pub");
        let public = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let mut fields = public.split_whitespace();
        match (fields.next(), fields.next()) {
            (Some(kind), Some(key)) => Ok(format!("[127.0.0.1]:{} {kind} {key}", self.port)),
            _ => Err(format!("{} is not a public key line", path.display())),
        }
    }

    /// Writes a `known_hosts` file holding only [`Sshd::known_hosts_line`] to `path`.
    pub fn write_known_hosts(&self, path: &Path) -> Result<(), String> {
        let line = self.known_hosts_line()?;
        std::fs::write(path, format!("{line}\n"))
            .map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// Every git command served so far, in order.
    pub fn calls(&self) -> Vec<GitCall> {
        let log = std::fs::read_to_string(self.dir.path().join("calls.log")).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let (pid, command) = line.split_once('\t')?;
                let trace = std::fs::read_to_string(self.dir.path().join("trace").join(pid))
                    .unwrap_or_default();
                Some(GitCall {
                    command: command.to_owned(),
                    kind: call_kind(command, &trace),
                })
            })
            .collect()
    }

    /// How many served commands fetched objects.
    pub fn fetches(&self) -> usize {
        self.count(GitCallKind::Fetch)
    }

    /// How many served commands only listed refs.
    pub fn ref_listings(&self) -> usize {
        self.count(GitCallKind::ListRefs)
    }

    fn count(&self, kind: GitCallKind) -> usize {
        self.calls().iter().filter(|c| c.kind == kind).count()
    }

    /// sshd's log so far (it logs each connection and accepted key at `VERBOSE`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    fn work_tree(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// `git` isolated from the machine's and the user's configuration.
    fn git(&self, args: &[&str]) -> GitCommand {
        let mut command = Command::new(&self.git);
        command
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "hearth test")
            .env("GIT_AUTHOR_EMAIL", "test@hearth.invalid")
            .env("GIT_COMMITTER_NAME", "hearth test")
            .env("GIT_COMMITTER_EMAIL", "test@hearth.invalid");
        GitCommand(command)
    }
}

struct GitCommand(Command);

impl GitCommand {
    fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.0.arg(arg);
        self
    }

    fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, args: I) -> Self {
        self.0.args(args);
        self
    }

    fn output_ok(mut self) -> Result<Vec<u8>, String> {
        run_within(&mut self.0, TOOL_LIMIT)
    }
}

/// Judges a served command by the packets upload-pack received: protocol v0 clients send
/// `want` lines only to fetch, v2 clients a `command=fetch` request.
fn call_kind(command: &str, trace: &str) -> GitCallKind {
    if !command.starts_with("git-upload-pack ") && !command.starts_with("git upload-pack ") {
        return GitCallKind::Other;
    }
    let received = |payload: &str| {
        trace
            .lines()
            .any(|line| line.contains(&format!("upload-pack< {payload}")))
    };
    if received("want ") || received("command=fetch") {
        GitCallKind::Fetch
    } else {
        GitCallKind::ListRefs
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("making {} executable: {e}", path.display()))
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Let connections that are closing end first, so the listener reaps them instead
        // of leaving them to PID 1 (bounded: a stuck session is killed with it anyway).
        let children = format!("/proc/{0}/task/{0}/children", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && std::fs::read_to_string(&children).is_ok_and(|c| !c.trim().is_empty())
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
