//! `login` and `logout`: changing the credential file (or the helper holding the
//! credentials) exactly as `docker login` and `docker logout` do, leaving every other
//! field of the file as it was.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use hearth_registry::Secret;

use crate::config::{ConfigView, encode_auth};
use crate::credentials::DockerConfigCredentials;
use crate::error::AuthError;
use crate::helper::Helpers;
use crate::json::{self, Json, Object};
use crate::location::{config_dir, config_file};
use crate::server::{same_registry, server_key};
use crate::write::write_atomically;

/// Docker's credential files in one config directory, with an optional extra directory
/// to find credential helper programs in (before `PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFiles {
    dir: PathBuf,
    helper_dir: Option<PathBuf>,
}

/// Where [`AuthFiles::login`] put the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Into the config file itself, base64-encoded but not encrypted.
    File {
        /// The config file written.
        path: PathBuf,
    },
    /// Into a credential helper; the file only records that the registry has a login.
    Helper {
        /// The helper's name (the program is `docker-credential-<name>`).
        helper: String,
    },
}

impl LoginOutcome {
    /// Docker's warning for a password stored in the file itself, or `None` when a helper
    /// holds it. The CLI prints it on stderr, as docker does.
    pub fn unencrypted_warning(&self) -> Option<String> {
        match self {
            Self::File { path } => Some(format!(
                "WARNING! Your password will be stored unencrypted in {}.\n\
                 Configure a credential helper to remove this warning. See\n\
                 https://docs.docker.com/engine/reference/commandline/login/#credentials-store",
                path.display()
            )),
            Self::Helper { .. } => None,
        }
    }
}

impl AuthFiles {
    /// The files in config directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            helper_dir: None,
        }
    }

    /// The files in [`config_dir`]: `$DOCKER_CONFIG`, else `$HOME/.docker`.
    pub fn from_env() -> Result<Self, AuthError> {
        config_dir().map(Self::new)
    }

    /// Also looks for `docker-credential-<name>` programs in `dir` (before `PATH`).
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.helper_dir = Some(dir.into());
        self
    }

    /// The config directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The credential file, `<dir>/config.json`.
    pub fn config_file(&self) -> PathBuf {
        config_file(&self.dir)
    }

    /// A credential source reading these files, for pulls.
    pub fn credentials(&self) -> DockerConfigCredentials {
        let source = DockerConfigCredentials::from_dir(&self.dir);
        match &self.helper_dir {
            Some(dir) => source.with_helper_dir(dir.clone()),
            None => source,
        }
    }

    /// Stores `username` and `password` for `host` as `docker login` does.
    ///
    /// With a `credHelpers` entry for the host, or else a `credsStore`, the helper's
    /// `store` gets them and the file keeps only an empty `auths` entry; otherwise the
    /// entry becomes `{"auth": base64("user:password")}`. Other `auths` entries naming the
    /// same registry (`http://host`, `https://host/v2/`) are dropped so the file holds one
    /// login per registry; every other field is kept as it was. The file is replaced
    /// atomically with mode 0600.
    pub fn login(
        &self,
        host: &str,
        username: &str,
        password: &Secret,
    ) -> Result<LoginOutcome, AuthError> {
        let key = server_key(host);
        let invalid = |problem| AuthError::InvalidLogin {
            host: host.to_owned(),
            problem,
        };
        if key.is_empty() {
            return Err(invalid("no registry given"));
        }
        if username.is_empty() {
            return Err(invalid("a user name is required"));
        }
        if password.is_empty() {
            return Err(invalid("a password is required"));
        }

        let path = self.config_file();
        let mut doc = read_for_edit(&path)?.unwrap_or_default();
        let view = checked_view(&path, &doc)?;
        let (entry, outcome) = match view.store_for(host) {
            Some(helper) => {
                self.helpers()
                    .store(helper, &key, username, password)
                    .map_err(|reason| AuthError::Helper {
                        path: path.clone(),
                        action: "store",
                        server: key.clone(),
                        reason,
                    })?;
                (
                    Object::default(),
                    LoginOutcome::Helper {
                        helper: helper.to_owned(),
                    },
                )
            }
            None => {
                let mut entry = Object::default();
                entry.insert("auth", Json::string(encode_auth(username, password)));
                (entry, LoginOutcome::File { path: path.clone() })
            }
        };
        // `auths` is rebuilt and put back in its place (or added at the end).
        let mut auths = match doc.get("auths") {
            Some(Json::Object(auths)) => auths.clone(),
            _ => Object::default(),
        };
        auths.remove_where(|k| k != key && same_registry(k, host));
        auths.insert(&key, Json::Object(entry));
        doc.insert("auths", Json::Object(auths));
        write_atomically(&path, &json::to_pretty(&Json::Object(doc)))?;
        Ok(outcome)
    }

    /// Removes the login for `host` as `docker logout` does: every `auths` entry naming
    /// the registry, and the helper's copy (`erase`) when a helper is configured for it.
    ///
    /// Returns whether anything was removed; `false` is docker's "Not logged in to …".
    /// The file is only rewritten when an entry was removed.
    pub fn logout(&self, host: &str) -> Result<bool, AuthError> {
        let key = server_key(host);
        let path = self.config_file();
        let Some(mut doc) = read_for_edit(&path)? else {
            return Ok(false);
        };
        let view = checked_view(&path, &doc)?;
        let removed = match doc.get_mut("auths") {
            Some(Json::Object(auths)) => auths.remove_where(|k| same_registry(k, host)),
            _ => 0,
        };
        if removed > 0 {
            write_atomically(&path, &json::to_pretty(&Json::Object(doc)))?;
        }
        let erased = match view.store_for(host) {
            Some(helper) => {
                self.helpers()
                    .erase(helper, &key)
                    .map_err(|reason| AuthError::Helper {
                        path: path.clone(),
                        action: "erase",
                        server: key.clone(),
                        reason,
                    })?
            }
            None => false,
        };
        Ok(removed > 0 || erased)
    }

    fn helpers(&self) -> Helpers {
        Helpers {
            dir: self.helper_dir.clone(),
        }
    }
}

/// Stores credentials for `host` in config directory `dir`; see [`AuthFiles::login`].
pub fn login(
    dir: &Path,
    host: &str,
    username: &str,
    password: &Secret,
) -> Result<LoginOutcome, AuthError> {
    AuthFiles::new(dir).login(host, username, password)
}

/// Removes the login for `host` from config directory `dir`; see [`AuthFiles::logout`].
pub fn logout(dir: &Path, host: &str) -> Result<bool, AuthError> {
    AuthFiles::new(dir).logout(host)
}

/// The file's top-level object, or `None` if there is no file yet.
fn read_for_edit(path: &Path) -> Result<Option<Object>, AuthError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuthError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    match json::parse(&bytes) {
        Ok(Json::Object(root)) => Ok(Some(root)),
        Ok(other) => Err(AuthError::Invalid {
            path: path.to_path_buf(),
            problem: format!(
                "the file holds {} where a JSON object was expected",
                other.kind()
            ),
        }),
        Err(e) => Err(AuthError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// The credential fields, refusing a file whose `auths`, `credsStore` or `credHelpers`
/// has the wrong shape: writing past a helper setting we cannot read could put a password
/// in the file that the user meant for the helper.
fn checked_view(path: &Path, root: &Object) -> Result<ConfigView, AuthError> {
    let view = ConfigView::from_json(&Json::Object(root.clone()));
    if view.problems.is_empty() {
        Ok(view)
    } else {
        Err(AuthError::Invalid {
            path: path.to_path_buf(),
            problem: view.problems.join("; "),
        })
    }
}
