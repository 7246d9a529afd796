//! The signals that stop a build: Ctrl-C (`SIGINT`), `SIGTERM` (`kill`, a service
//! manager) and `SIGHUP` (the terminal went away). Each cancels the build the same way,
//! so its containers are killed and its mounts released before hearth exits, which the
//! signal's default action would skip. The exit code is then 128 plus the signal's
//! number, as a shell reports a process the signal ended.

use std::process::ExitCode;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A signal that stopped a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StopSignal {
    Interrupt,
    Terminate,
    Hangup,
}

impl StopSignal {
    fn number(self) -> u8 {
        match self {
            Self::Hangup => 1,
            Self::Interrupt => 2,
            Self::Terminate => 15,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Hangup => "SIGHUP",
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    /// Says that the build was cancelled and by what; the exit code to end with.
    pub(super) fn report(self) -> ExitCode {
        use std::io::Write as _;
        // After SIGHUP the terminal may be gone; the exit code still tells.
        let _ = writeln!(
            std::io::stderr().lock(),
            "error: build canceled by {}",
            self.name()
        );
        ExitCode::from(128 + self.number())
    }
}

/// Watches for the stop signals while a build runs and cancels its token on the first.
pub(super) struct SignalWatch {
    token: CancellationToken,
    task: JoinHandle<StopSignal>,
}

impl SignalWatch {
    /// Starts watching. The handlers are in place when this returns, so a signal that
    /// comes at once is not left to its default action.
    pub(super) fn start() -> anyhow::Result<Self> {
        let listen = |kind: SignalKind| signal(kind).context("installing a signal handler");
        let mut interrupt = listen(SignalKind::interrupt())?;
        let mut terminate = listen(SignalKind::terminate())?;
        let mut hangup = listen(SignalKind::hangup())?;
        let token = CancellationToken::new();
        let cancel = token.clone();
        let task = tokio::spawn(async move {
            let received = tokio::select! {
                _ = interrupt.recv() => StopSignal::Interrupt,
                _ = terminate.recv() => StopSignal::Terminate,
                _ = hangup.recv() => StopSignal::Hangup,
            };
            cancel.cancel();
            received
        });
        Ok(Self { token, task })
    }

    /// Cancelled when a stop signal arrives.
    pub(super) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Stops watching; the signal that cancelled the build, if one did.
    pub(super) async fn finish(self) -> Option<StopSignal> {
        if self.token.is_cancelled() {
            self.task.await.ok()
        } else {
            self.task.abort();
            None
        }
    }
}
