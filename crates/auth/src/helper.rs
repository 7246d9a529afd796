//! Docker credential helpers: `docker-credential-<name> get|store|erase`, speaking the
//! docker-credential-helpers protocol over stdin and stdout.
//!
//! * `get`: the server URL on stdin; `{"ServerURL":..,"Username":..,"Secret":..}` on
//!   stdout. A `Username` of `<token>` means `Secret` is an identity token.
//! * `store`: `{"ServerURL":..,"Username":..,"Secret":..}` on stdin.
//! * `erase`: the server URL on stdin.
//!
//! A helper that has nothing for the server exits non-zero printing
//! `credentials not found in native keychain`; that is "no credentials", not a failure.

use std::ffi::OsString;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use hearth_registry::{Credentials, Secret};

use crate::json::{self, Json};

/// What helpers print when they hold nothing for the server.
const NOT_FOUND: &str = "credentials not found in native keychain";

/// The `Username` a helper returns with an identity token.
const TOKEN_USERNAME: &str = "<token>";

/// Longest helper output quoted in a message.
const MAX_QUOTED: usize = 300;

/// How long a helper may run. Some ask their user first (a keychain unlock), so this is
/// generous; it only keeps a hung helper from holding a build (in hearthd, for ever).
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);
/// Output read from a helper, per stream; its answer is a small JSON document.
const MAX_OUTPUT: u64 = 1 << 20;

/// Finds and runs credential helper programs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Helpers {
    /// A directory searched for `docker-credential-<name>` before `PATH`.
    pub(crate) dir: Option<PathBuf>,
}

impl Helpers {
    /// `get`: the credentials the helper `name` holds for `server`, or `None`.
    pub(crate) fn get(&self, name: &str, server: &str) -> Result<Option<Credentials>, String> {
        let output = self.run(name, "get", server.as_bytes(), None)?;
        if !output.status.success() {
            if is_not_found(&output) {
                return Ok(None);
            }
            return Err(failure(name, &output, None));
        }
        let doc = json::parse(&output.stdout).map_err(|e| {
            format!("docker-credential-{name} get printed something that is not JSON ({e})")
        })?;
        let field = |key: &str| {
            doc.as_object()
                .and_then(|o| o.get(key))
                .and_then(Json::as_str)
        };
        if doc.as_object().is_none() {
            return Err(format!(
                "docker-credential-{name} get printed {} where a JSON object was expected",
                doc.kind()
            ));
        }
        let username = field("Username").unwrap_or_default();
        let secret = Secret::new(field("Secret").unwrap_or_default());
        Ok(if username == TOKEN_USERNAME {
            (!secret.is_empty()).then_some(Credentials::IdentityToken(secret))
        } else if username.is_empty() && secret.is_empty() {
            None
        } else {
            Some(Credentials::Basic {
                username: username.to_owned(),
                password: secret,
            })
        })
    }

    /// `store`: hands `username` and `password` for `server` to the helper `name`.
    pub(crate) fn store(
        &self,
        name: &str,
        server: &str,
        username: &str,
        password: &Secret,
    ) -> Result<(), String> {
        let input = serde_json::json!({
            "ServerURL": server,
            "Username": username,
            "Secret": password.expose(),
        })
        .to_string();
        let output = self.run(name, "store", input.as_bytes(), Some(password))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(failure(name, &output, Some(password)))
        }
    }

    /// `erase`: removes what the helper `name` holds for `server`; `false` if it held
    /// nothing.
    pub(crate) fn erase(&self, name: &str, server: &str) -> Result<bool, String> {
        let output = self.run(name, "erase", server.as_bytes(), None)?;
        if output.status.success() {
            Ok(true)
        } else if is_not_found(&output) {
            Ok(false)
        } else {
            Err(failure(name, &output, None))
        }
    }

    /// The program to run for helper `name`: `<dir>/docker-credential-<name>` if that
    /// exists, else the bare name for a `PATH` lookup.
    fn program(&self, name: &str) -> Result<OsString, String> {
        if name.is_empty() || name.contains(['/', '\\', '\0']) || name.starts_with('.') {
            return Err(format!(
                "{name:?} is not a credential helper name (a helper is named like \"desktop\" \
                 or \"pass\", for a program docker-credential-<name> on PATH)"
            ));
        }
        let program = format!("docker-credential-{name}");
        let in_dir = self
            .dir
            .as_deref()
            .map(|dir| dir.join(&program))
            .filter(|path| path.is_file());
        Ok(in_dir.map_or_else(|| program.into(), PathBuf::into_os_string))
    }

    /// Runs `docker-credential-<name> <action>` with `input` on stdin and collects its
    /// output.
    fn run(
        &self,
        name: &str,
        action: &str,
        input: &[u8],
        secret: Option<&Secret>,
    ) -> Result<Output, String> {
        let program = self.program(name)?;
        let mut child = spawn(&program, action).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                format!(
                    "docker-credential-{name} was not found{}; install it, or remove it from \
                     the config file",
                    self.where_searched()
                )
            } else {
                format!("cannot run docker-credential-{name}: {e}")
            }
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper may exit without reading its input; its exit status then tells what
            // happened, so a broken pipe here is not an error of its own.
            let _ = stdin.write_all(input);
        }
        collect(child, HELPER_TIMEOUT).map_err(|e| {
            let message = format!("docker-credential-{name} {action} did not finish: {e}");
            redact(&message, secret)
        })
    }

    fn where_searched(&self) -> String {
        match &self.dir {
            Some(dir) => format!(" in {} or on PATH", dir.display()),
            None => " on PATH".to_owned(),
        }
    }
}

/// Waits for `child` at most `timeout` (killing it then), reading at most
/// [`MAX_OUTPUT`] bytes of each of its output streams.
fn collect(mut child: std::process::Child, timeout: Duration) -> io::Result<Output> {
    fn reader(stream: Option<impl io::Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(stream) = stream {
                let _ = io::Read::read_to_end(&mut io::Read::take(stream, MAX_OUTPUT), &mut bytes);
            }
            bytes
        })
    }
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?}; it was stopped"),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Starts the helper. A script that was just written may be briefly "busy" while another
/// thread's fork still holds the writer's descriptor; that is retried.
fn spawn(program: &OsString, action: &str) -> io::Result<std::process::Child> {
    let mut attempt = 0;
    loop {
        let result = Command::new(program)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        match result {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && attempt < 20 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10 * attempt));
            }
            other => return other,
        }
    }
}

fn is_not_found(output: &Output) -> bool {
    [&output.stdout, &output.stderr]
        .iter()
        .any(|text| String::from_utf8_lossy(text).trim() == NOT_FOUND)
}

/// Why a helper run failed, from its exit status and what it printed (helpers print their
/// errors on stdout), with `secret` masked should the helper have echoed it.
fn failure(name: &str, output: &Output, secret: Option<&Secret>) -> String {
    let printed = [&output.stdout, &output.stderr]
        .iter()
        .map(|text| String::from_utf8_lossy(text).trim().to_owned())
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let printed = redact(&printed, secret);
    let printed: String = if printed.chars().count() > MAX_QUOTED {
        printed
            .chars()
            .take(MAX_QUOTED)
            .chain("…".chars())
            .collect()
    } else {
        printed
    };
    let status = match output.status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "was killed by a signal".to_owned(),
    };
    if printed.is_empty() {
        format!("docker-credential-{name} {status}")
    } else {
        format!("docker-credential-{name} {status}: {printed}")
    }
}

/// `text` with every occurrence of `secret` replaced by `****`, both as it is and as it
/// appears inside a JSON string (a helper may echo the JSON it was given).
fn redact(text: &str, secret: Option<&Secret>) -> String {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return text.to_owned();
    };
    let quoted = serde_json::to_string(secret.expose()).unwrap_or_default();
    let escaped = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default();
    let text = text.replace(secret.expose(), "****");
    if escaped.is_empty() {
        text
    } else {
        text.replace(escaped, "****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_names_cannot_reach_outside_the_search_path() {
        let helpers = Helpers::default();
        for bad in ["", "../x", "/bin/sh", ".hidden"] {
            assert!(helpers.program(bad).is_err(), "{bad}");
        }
        assert_eq!(
            helpers.program("pass").unwrap(),
            OsString::from("docker-credential-pass")
        );
    }

    #[test]
    fn a_helper_that_never_answers_is_stopped() {
        let started = std::time::Instant::now();
        let child = Command::new("sleep")
            .arg("600")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = collect(child, Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(err.to_string(), "no answer within 200ms; it was stopped");
        // A safety net, not a timing assertion: `sleep 600` was killed, not awaited.
        assert!(started.elapsed() < Duration::from_secs(300));

        let child = Command::new("sh")
            .args(["-c", "echo out; echo err >&2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = collect(child, Duration::from_secs(60)).unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
    }

    #[test]
    fn redaction_masks_every_occurrence() {
        let secret = Secret::new("pw1");
        assert_eq!(redact("a pw1 b pw1", Some(&secret)), "a **** b ****");
        assert_eq!(redact("a pw1", None), "a pw1");
        let quoted = Secret::new("p\"w\\1");
        assert_eq!(
            redact(r#"{"Secret":"p\"w\\1"} p"w\1"#, Some(&quoted)),
            r#"{"Secret":"****"} ****"#
        );
    }
}
