//! Running a step with the runc binary (or any OCI runtime with runc's command line).
//!
//! One `runc run` per step, in the foreground, as BuildKit's OCI worker does: the
//! runtime creates, starts, waits for and deletes the container. The runtime's own
//! messages go to a log file (`--log`), so the step's stdout and stderr stay exactly
//! what the command printed, and a runtime failure ("executable file not found") can be
//! told apart from the command's own exit code.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::RunSpec;
use crate::spec::{SpecError, generate};

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How a step's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit code; 128 + N when killed by signal N, as shells report it.
    pub code: i32,
}

/// Why a step could not be run to completion.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The runtime binary could not be started.
    #[error("cannot start the OCI runtime {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bundle could not be written.
    #[error("cannot write the container bundle at {path}: {source}")]
    Bundle {
        /// The bundle directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The spec could not be generated.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The runtime refused or failed to start the process.
    #[error("the OCI runtime failed to run the step: {message}")]
    Runtime {
        /// The runtime's error message.
        message: String,
    },
    /// The step was cancelled; its container was killed.
    #[error("cancelled")]
    Cancelled,
    /// Waiting for the runtime failed.
    #[error("waiting for the OCI runtime: {0}")]
    Wait(#[source] std::io::Error),
}

/// A configured OCI runtime.
#[derive(Debug, Clone)]
pub struct Runc {
    binary: PathBuf,
    state_root: PathBuf,
    bundles: PathBuf,
}

impl Runc {
    /// A runtime invoked as `binary`, keeping container state in `state_root` and
    /// writing bundles under `bundles` (both are created when missing).
    pub fn new(
        binary: impl Into<PathBuf>,
        state_root: impl Into<PathBuf>,
        bundles: impl Into<PathBuf>,
    ) -> Self {
        Self {
            binary: binary.into(),
            state_root: state_root.into(),
            bundles: bundles.into(),
        }
    }

    /// The runtime binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root").arg(&self.state_root);
        cmd
    }

    /// Runs the step described by `spec`, passing output chunks to `on_output` as they
    /// arrive, until it exits or `cancel` completes (then the container is killed).
    pub async fn run(
        &self,
        spec: &RunSpec,
        on_output: &mut (dyn FnMut(Stream, &[u8]) + Send),
        cancel: impl Future<Output = ()>,
    ) -> Result<Exit, RunError> {
        let config = generate(spec)?;
        let bundle = self.bundles.join(&spec.id);
        let bundle_err = |source| RunError::Bundle {
            path: bundle.clone(),
            source,
        };
        tokio::fs::create_dir_all(&self.state_root)
            .await
            .map_err(bundle_err)?;
        tokio::fs::create_dir_all(&bundle)
            .await
            .map_err(bundle_err)?;
        let json = serde_json::to_vec(&config).map_err(|e| bundle_err(std::io::Error::other(e)))?;
        tokio::fs::write(bundle.join("config.json"), json)
            .await
            .map_err(bundle_err)?;
        let log = bundle.join("runtime.log");

        let result = self
            .run_bundle(&spec.id, &bundle, &log, on_output, cancel)
            .await;
        let doomed = bundle.clone();
        let _ = tokio::task::spawn_blocking(move || hearth_fsroot::remove_tree(&doomed)).await;
        result
    }

    async fn run_bundle(
        &self,
        id: &str,
        bundle: &Path,
        log: &Path,
        on_output: &mut (dyn FnMut(Stream, &[u8]) + Send),
        cancel: impl Future<Output = ()>,
    ) -> Result<Exit, RunError> {
        let mut cmd = self.command();
        cmd.arg("--log")
            .arg(log)
            .arg("--log-format")
            .arg("json")
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| RunError::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        let (tx, mut rx) = mpsc::channel::<(Stream, Vec<u8>)>(64);
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(forward(stdout, Stream::Stdout, tx.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward(stderr, Stream::Stderr, tx.clone()));
        }
        drop(tx);

        tokio::pin!(cancel);
        let mut cancelled = false;
        let mut output_open = true;
        let status = loop {
            tokio::select! {
                chunk = rx.recv(), if output_open => match chunk {
                    Some((stream, data)) => on_output(stream, &data),
                    None => output_open = false,
                },
                status = child.wait() => break status.map_err(RunError::Wait)?,
                () = &mut cancel, if !cancelled => {
                    cancelled = true;
                    self.kill(id).await;
                }
            }
        };
        // Drain what the process wrote just before exiting.
        while let Some((stream, data)) = rx.recv().await {
            on_output(stream, &data);
        }
        if cancelled {
            self.delete(id).await;
            return Err(RunError::Cancelled);
        }
        let code = match status.code() {
            Some(code) => code,
            None => {
                use std::os::unix::process::ExitStatusExt;
                128 + status.signal().unwrap_or(0)
            }
        };
        if code != 0
            && let Some(message) = runtime_error(log).await
        {
            self.delete(id).await;
            return Err(RunError::Runtime { message });
        }
        Ok(Exit { code })
    }

    async fn kill(&self, id: &str) {
        let _ = self
            .command()
            .args(["kill", "--all", id, "KILL"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }

    async fn delete(&self, id: &str) {
        let _ = self
            .command()
            .args(["delete", "--force", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }

    /// Kills and deletes containers left by a process that died while running steps.
    /// Returns their ids.
    pub async fn remove_stale(&self) -> Vec<String> {
        let Ok(output) = self.command().args(["list", "--quiet"]).output().await else {
            return Vec::new();
        };
        let ids: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        for id in &ids {
            self.kill(id).await;
            self.delete(id).await;
        }
        ids
    }
}

async fn forward(
    mut reader: impl tokio::io::AsyncRead + Unpin,
    stream: Stream,
    tx: mpsc::Sender<(Stream, Vec<u8>)>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send((stream, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The last error the runtime logged, if any (runc writes JSON lines with
/// `level` and `msg`).
async fn runtime_error(log: &Path) -> Option<String> {
    let text = tokio::fs::read_to_string(log).await.ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "error" || v["level"] == "fatal")
        .find_map(|v| v["msg"].as_str().map(str::to_owned))
        .map(|m| clean_runtime_message(&m))
}

/// runc prefixes the interesting part with layers of context; keep the innermost.
fn clean_runtime_message(message: &str) -> String {
    match message.rfind("exec: ") {
        Some(i) => message[i..].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_messages_keep_the_cause() {
        assert_eq!(
            clean_runtime_message(
                "runc run failed: unable to start container process: exec: \"nope\": executable file not found in $PATH"
            ),
            "exec: \"nope\": executable file not found in $PATH"
        );
        assert_eq!(clean_runtime_message("something else"), "something else");
    }
}
