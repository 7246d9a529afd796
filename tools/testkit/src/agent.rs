//! An OpenSSH `ssh-agent` holding one fresh ed25519 key that exists nowhere else: the
//! key file is deleted once the agent has it, so anything that can sign with it went
//! through the agent's socket.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::process::{require, run_within};

const TOOL_LIMIT: Duration = Duration::from_secs(30);

/// A running `ssh-agent -D` with one key loaded; stopped and its directory removed when
/// dropped.
pub struct SshAgent {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    public_key: String,
    comment: String,
    private_key: Vec<u8>,
}

impl SshAgent {
    /// Starts an agent on a socket in a temporary directory, generates an ed25519 key
    /// with a unique comment (`hearth-test-comment-…`), adds it and deletes the key file.
    pub fn start() -> Result<Self, String> {
        let agent = require("ssh-agent", "openssh-client").map_err(|e| e.to_string())?;
        let keygen = require("ssh-keygen", "openssh-client").map_err(|e| e.to_string())?;
        let add = require("ssh-add", "openssh-client").map_err(|e| e.to_string())?;
        let dir = tempfile::Builder::new()
            .prefix("hearth-agent-")
            .tempdir()
            .map_err(|e| format!("creating the agent directory: {e}"))?;
        let socket = dir.path().join("agent.sock");
        let log = std::fs::File::create(dir.path().join("agent.log"))
            .map_err(|e| format!("creating the agent log: {e}"))?;
        let child = Command::new(agent)
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting ssh-agent: {e}"))?;
        let comment = format!("hearth-test-comment-{}", unique_suffix());
        let mut this = Self {
            child,
            dir,
            socket,
            public_key: String::new(),
            comment,
            private_key: Vec::new(),
        };
        this.wait_ready()?;

        let key = this.dir.path().join("id_ed25519");
        run_within(
            Command::new(keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-C", &this.comment, "-f"])
                .arg(&key),
            TOOL_LIMIT,
        )?;
        this.private_key =
            std::fs::read(&key).map_err(|e| format!("reading {}: {e}", key.display()))?;
        let public = key.with_extension("pub");
        this.public_key = std::fs::read_to_string(&public)
            .map_err(|e| format!("reading {}: {e}", public.display()))?
            .trim()
            .to_owned();
        let added = run_within(
            Command::new(add)
                .arg("-q")
                .arg(&key)
                .env("SSH_AUTH_SOCK", &this.socket)
                // Never ask for anything: the key has no passphrase.
                .env_remove("SSH_ASKPASS")
                .env_remove("DISPLAY"),
            TOOL_LIMIT,
        );
        // Delete the key whether or not ssh-add took it: it must not outlive this call.
        let removed = std::fs::remove_file(&key);
        added?;
        removed.map_err(|e| format!("deleting {}: {e}", key.display()))?;
        Ok(this)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("ssh-agent exited ({status}): {}", self.log()));
            }
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "ssh-agent did not listen on {} within 10s: {}",
                    self.socket.display(),
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The agent's socket, for `SSH_AUTH_SOCK`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The key's `authorized_keys` / `.pub` line: `ssh-ed25519 AAAA… <comment>`.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The key's comment, unique to this agent: it appears in the agent protocol's key
    /// listings, so output must not show it either.
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// The private key file's bytes (OpenSSH PEM-like format), read before it was deleted.
    pub fn private_key(&self) -> &[u8] {
        &self.private_key
    }

    /// Byte strings whose presence anywhere (a layer, a record, a log) means the private
    /// key leaked: each full-length base64 line of the key file (a short last line could
    /// match by chance), the raw 32-byte ed25519 seed, the seed in base64, and the comment.
    pub fn secret_needles(&self) -> Result<Vec<Vec<u8>>, String> {
        let text = String::from_utf8_lossy(&self.private_key);
        let lines: Vec<&str> = text
            .lines()
            .filter(|line| !line.starts_with("-----") && !line.is_empty())
            .collect();
        let body = STANDARD
            .decode(lines.concat())
            .map_err(|e| format!("the private key file is not base64: {e}"))?;
        let seed = ed25519_seed(&body)
            .ok_or("the private key file is not an unencrypted OpenSSH ed25519 key")?;
        let mut needles: Vec<Vec<u8>> = lines
            .iter()
            .filter(|line| line.len() >= 40)
            .map(|line| line.as_bytes().to_vec())
            .collect();
        needles.push(STANDARD.encode(seed).into_bytes());
        needles.push(seed.to_vec());
        needles.push(self.comment.as_bytes().to_vec());
        Ok(needles)
    }

    /// The agent's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }
}

/// The 32-byte seed of the one unencrypted ed25519 key in an `openssh-key-v1` blob
/// (OpenSSH's PROTOCOL.key): the first half of the 64-byte private key field.
fn ed25519_seed(blob: &[u8]) -> Option<[u8; 32]> {
    let mut reader = blob.strip_prefix(b"openssh-key-v1\0".as_slice())?;
    let cipher = read_string(&mut reader)?;
    let _kdf = read_string(&mut reader)?;
    let _kdf_options = read_string(&mut reader)?;
    let keys = read_u32(&mut reader)?;
    if cipher != b"none" || keys != 1 {
        return None;
    }
    let _public = read_string(&mut reader)?;
    let mut private = read_string(&mut reader)?;
    let _check1 = read_u32(&mut private)?;
    let _check2 = read_u32(&mut private)?;
    let kind = read_string(&mut private)?;
    let _public = read_string(&mut private)?;
    let secret = read_string(&mut private)?;
    if kind != b"ssh-ed25519" {
        return None;
    }
    secret.get(..32)?.try_into().ok()
}

fn read_u32(reader: &mut &[u8]) -> Option<u32> {
    let (head, rest) = reader.split_first_chunk::<4>()?;
    *reader = rest;
    Some(u32::from_be_bytes(*head))
}

fn read_string<'a>(reader: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(read_u32(reader)?).ok()?;
    if reader.len() < len {
        return None;
    }
    let (value, rest) = reader.split_at(len);
    *reader = rest;
    Some(value)
}

/// Distinct per process and call: the comment must not match anything by chance.
pub(crate) fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos:x}", std::process::id())
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
