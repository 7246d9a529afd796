//! Docker's credential file, `config.json`, read and written the way the docker CLI does,
//! so `hearth` pulls with the same registry credentials as `docker` and `buildctl`, and
//! `hearth login` / `hearth logout` leave the file exactly as `docker login` /
//! `docker logout` would.
//!
//! ```no_run
//! use hearth_auth::{AuthFiles, DockerConfigCredentials};
//! use hearth_registry::Secret;
//!
//! # fn demo() -> Result<(), hearth_auth::AuthError> {
//! let files = AuthFiles::from_env()?;
//! let outcome = files.login("registry.example.com:5000", "alice", &Secret::new("pw"))?;
//! if let Some(warning) = outcome.unencrypted_warning() {
//!     eprintln!("{warning}");
//! }
//! let source = DockerConfigCredentials::from_env();
//! let _creds = source.lookup("registry.example.com:5000");
//! for warning in source.warnings() {
//!     eprintln!("warning: {warning}");
//! }
//! # Ok(()) }
//! ```
//!
//! The modules each do one thing: [`location`](config_dir) finds the directory,
//! `server` maps registry hosts to the keys docker writes, `json` keeps the file's own
//! field order, `config` is the read-only view of the credential fields, `helper` runs
//! `docker-credential-*` programs, `write` replaces the file atomically, `credentials` is
//! the lookup for pulls and `files` is login and logout.
//!
//! Passwords and tokens are turned into [`Secret`](hearth_registry::Secret) as soon as
//! they are read, and no error, warning or `Debug` output ever contains one.

mod config;
mod credentials;
mod error;
mod files;
mod helper;
mod json;
mod location;
mod server;
mod write;

pub use credentials::DockerConfigCredentials;
pub use error::AuthError;
pub use files::{AuthFiles, LoginOutcome, login, logout};
pub use location::{CONFIG_FILE_NAME, DOCKER_CONFIG_ENV, config_dir, config_file};
pub use server::{DOCKER_HUB_HOST, DOCKER_HUB_SERVER_KEY, registry_host, server_key};
