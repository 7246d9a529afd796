//! `hearth login` / `hearth logout`: docker's commands, writing docker's credential file
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) or its credential helper,
//! so docker, buildx and hearth share one login.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use hearth_auth::AuthFiles;
use hearth_registry::{Client, Credentials, RegistryError, Secret, StaticCredentials};

use super::engine::{self, GlobalArgs};

/// `hearth login [OPTIONS] [SERVER]`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoginArgs {
    /// The registry (`host[:port]`); Docker Hub when omitted.
    server: Option<String>,
    /// User name.
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Password or token (prefer --password-stdin: arguments are visible to other users).
    #[arg(short = 'p', long)]
    password: Option<String>,
    /// Read the password or token from standard input.
    #[arg(long)]
    password_stdin: bool,
}

/// `hearth logout [SERVER]`.
#[derive(Debug, clap::Args)]
pub(crate) struct LogoutArgs {
    /// The registry (`host[:port]`); Docker Hub when omitted.
    server: Option<String>,
}

/// The registry host a `SERVER` argument names (`https://index.docker.io/v1/` and
/// `docker.io` are both Docker Hub).
fn host_of(server: Option<&str>) -> String {
    server.map_or_else(
        || hearth_auth::DOCKER_HUB_HOST.to_owned(),
        hearth_auth::registry_host,
    )
}

pub(crate) fn login(global: &GlobalArgs, args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let host = host_of(args.server.as_deref());
    let mut stderr = std::io::stderr().lock();
    if args.password.is_some() {
        if args.password_stdin {
            bail!("--password and --password-stdin are mutually exclusive");
        }
        let _ = writeln!(
            stderr,
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
        );
    }
    let username = match &args.username {
        Some(u) => u.clone(),
        None if args.password_stdin => {
            bail!("--password-stdin needs --username (-u)")
        }
        None => prompt_line("Username: ")?,
    };
    if username.trim().is_empty() {
        bail!("login to {host} needs a user name: pass -u NAME");
    }
    let password = match (&args.password, args.password_stdin) {
        (Some(p), _) => Secret::new(p.clone()),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            Secret::new(line.trim_end_matches(['\n', '\r']).to_owned())
        }
        (None, false) => prompt_password()?,
    };
    if password.is_empty() {
        bail!("login to {host} needs a password or token");
    }

    let config = engine::load_config(global)?;
    let registry = engine::registry_config(&config)?;
    let credentials = StaticCredentials::new().with(
        host.clone(),
        Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        },
    );
    let client = Client::new(registry, Arc::new(credentials))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match runtime.block_on(client.check_login(&host)) {
        Ok(()) => {}
        Err(RegistryError::Unauthorized { detail, .. }) => {
            bail!("login to {host} failed: the registry refused user {username:?} ({detail})")
        }
        Err(e) => return Err(e).with_context(|| format!("login to {host} failed")),
    }

    let files = AuthFiles::from_env()?;
    let outcome = files.login(&host, &username, &password)?;
    if let Some(warning) = outcome.unencrypted_warning() {
        let _ = writeln!(stderr, "{warning}");
    }
    drop(stderr);
    let _ = writeln!(std::io::stdout().lock(), "Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn logout(args: &LogoutArgs) -> anyhow::Result<ExitCode> {
    let host = host_of(args.server.as_deref());
    let files = AuthFiles::from_env()?;
    let mut stdout = std::io::stdout().lock();
    if files.logout(&host)? {
        let _ = writeln!(stdout, "Removing login credentials for {host}");
    } else {
        let _ = writeln!(stdout, "Not logged in to {host}");
    }
    Ok(ExitCode::SUCCESS)
}

fn prompt_line(prompt: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the user name: pass -u NAME");
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the user name")?;
    Ok(line.trim().to_owned())
}

fn prompt_password() -> anyhow::Result<Secret> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password: pass --password-stdin and pipe it in");
    }
    let password = rpassword::prompt_password("Password: ").context("reading the password")?;
    Ok(Secret::new(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_named_as_docker_names_them() {
        assert_eq!(host_of(None), "docker.io");
        assert_eq!(host_of(Some("https://index.docker.io/v1/")), "docker.io");
        assert_eq!(host_of(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(host_of(Some("http://127.0.0.1:5000")), "127.0.0.1:5000");
    }
}
