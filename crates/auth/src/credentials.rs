//! [`DockerConfigCredentials`]: registry credentials looked up in `config.json` the way
//! docker and BuildKit look them up.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use hearth_registry::{CredentialSource, Credentials, CredentialsFuture};

use crate::config::ConfigView;
use crate::helper::Helpers;
use crate::location::{config_dir, config_file};
use crate::server::{registry_host, server_key};

/// A [`CredentialSource`] reading docker's `config.json`.
///
/// For a host it asks, in order: the `credHelpers` helper for that host; else the `auths`
/// entry (`identitytoken`, `auth` or `username`/`password`); else the `credsStore`
/// helper. The file is read on the first lookup, not before, so an anonymous pull never
/// touches it; every answer is cached for the value's lifetime, since helpers can be slow
/// or prompt the user.
///
/// Nothing here fails: a missing file means no credentials, and a broken file, bad
/// `auth` value or failing helper means no credentials for the hosts concerned plus a
/// warning in [`warnings`](Self::warnings) naming the file and host (never the secret).
pub struct DockerConfigCredentials {
    /// The credential file, or `None` if no config directory could be found.
    file: Option<PathBuf>,
    helpers: Helpers,
    view: OnceLock<ConfigView>,
    /// Answers by [`registry_host`]; the lock is held while a helper runs so each host's
    /// helper runs once even when several pulls ask at the same time.
    cache: Mutex<HashMap<String, Option<Credentials>>>,
    warnings: Mutex<Vec<String>>,
}

impl DockerConfigCredentials {
    /// Reads `config.json` in [`config_dir`]: `$DOCKER_CONFIG`, else `$HOME/.docker`.
    ///
    /// With neither variable set there are no credentials, and a warning says so.
    pub fn from_env() -> Self {
        match config_dir() {
            Ok(dir) => Self::from_dir(&dir),
            Err(e) => {
                let source = Self::with_file(None);
                source.warn(e.to_string());
                source
            }
        }
    }

    /// Reads `dir/config.json`.
    pub fn from_dir(dir: &Path) -> Self {
        Self::with_file(Some(config_file(dir)))
    }

    /// Also looks for `docker-credential-<name>` programs in `dir` (before `PATH`).
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.helpers.dir = Some(dir.into());
        self
    }

    /// The credential file read, if a config directory was found.
    pub fn config_file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// What went wrong so far, one human-readable line each, naming the config file and
    /// the host concerned; never containing a password or token.
    pub fn warnings(&self) -> Vec<String> {
        lock(&self.warnings).clone()
    }

    fn with_file(file: Option<PathBuf>) -> Self {
        Self {
            file,
            helpers: Helpers::default(),
            view: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
            warnings: Mutex::new(Vec::new()),
        }
    }

    fn warn(&self, warning: String) {
        lock(&self.warnings).push(warning);
    }

    /// The file's credential fields, read once.
    fn view(&self) -> &ConfigView {
        self.view.get_or_init(|| {
            let Some(path) = &self.file else {
                return ConfigView::default();
            };
            let (view, problems) = load(path);
            for problem in problems {
                self.warn(format!("{}: {problem}", path.display()));
            }
            view
        })
    }

    /// Looks `host` up without the cache; failures become warnings.
    fn resolve(&self, host: &str) -> Option<Credentials> {
        let view = self.view();
        let key = server_key(host);
        let file = self
            .file
            .as_deref()
            .map_or_else(|| "docker config".to_owned(), |p| p.display().to_string());
        let from_helper = |helper: &str, field: &str| match self.helpers.get(helper, &key) {
            Ok(credentials) => credentials,
            Err(reason) => {
                self.warn(format!(
                    "{file}: credentials for {host} from the {field} helper {helper:?}: \
                     {reason}; using none"
                ));
                None
            }
        };
        if let Some(helper) = view.helper_for(host) {
            return from_helper(helper, "credHelpers");
        }
        if let Some(entry) = view.auth_entry(host) {
            match entry.credentials() {
                Ok(Some(credentials)) => return Some(credentials),
                Ok(None) => {}
                Err(problem) => {
                    self.warn(format!(
                        "{file}: credentials for {host} in \"auths\": {problem}; using none"
                    ));
                    return None;
                }
            }
        }
        view.creds_store()
            .and_then(|helper| from_helper(helper, "credsStore"))
    }
}

impl DockerConfigCredentials {
    /// The credentials for `host` (`docker.io`, `registry.example.com:5000`), or `None`;
    /// may run a credential helper, so it blocks.
    pub fn lookup(&self, host: &str) -> Option<Credentials> {
        let mut cache = lock(&self.cache);
        let cache_key = registry_host(host);
        if let Some(answer) = cache.get(&cache_key) {
            return answer.clone();
        }
        let answer = self.resolve(host);
        cache.insert(cache_key, answer.clone());
        answer
    }
}

impl CredentialSource for DockerConfigCredentials {
    /// Answers inline: a helper runs on the calling thread, as docker's own lookup does
    /// (helpers are bounded by their own timeout). Callers that must not block, such as
    /// a daemon answering many builds, look up on a blocking thread instead.
    fn credentials<'a>(&'a self, host: &'a str) -> CredentialsFuture<'a> {
        Box::pin(std::future::ready(Ok(self.lookup(host))))
    }
}

impl fmt::Debug for DockerConfigCredentials {
    /// Shows the file, helper directory, which hosts were looked up and the warnings —
    /// never a credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hosts: Vec<String> = lock(&self.cache).keys().cloned().collect();
        hosts.sort();
        f.debug_struct("DockerConfigCredentials")
            .field("file", &self.file)
            .field("helper_dir", &self.helpers.dir)
            .field("looked_up", &hosts)
            .field("warnings", &*lock(&self.warnings))
            .finish()
    }
}

/// Reads and parses the file: missing means empty; unreadable or malformed means empty
/// plus problems (which never quote the file's contents).
pub(crate) fn load(path: &Path) -> (ConfigView, Vec<String>) {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (ConfigView::default(), vec![]),
        Err(e) => {
            return (
                ConfigView::default(),
                vec![format!(
                    "cannot read it ({e}); using no credentials from it"
                )],
            );
        }
    };
    match crate::json::parse(&bytes) {
        Ok(doc) => {
            let mut view = ConfigView::from_json(&doc);
            let problems = std::mem::take(&mut view.problems)
                .into_iter()
                .map(|p| format!("{p}; ignoring it"))
                .collect();
            (view, problems)
        }
        Err(e) => (
            ConfigView::default(),
            vec![format!(
                "not valid JSON ({e}); using no credentials from it (fix the file or move it away)"
            )],
        ),
    }
}

/// Locks `mutex`, recovering the data if a panicking thread poisoned it (the data is a
/// cache and a list of messages, valid at every point).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
