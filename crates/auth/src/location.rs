//! Where docker keeps `config.json`: `$DOCKER_CONFIG`, else `$HOME/.docker`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::AuthError;

/// The name of docker's credential file inside the config directory.
pub const CONFIG_FILE_NAME: &str = "config.json";

/// The environment variable that overrides docker's config directory.
pub const DOCKER_CONFIG_ENV: &str = "DOCKER_CONFIG";

/// Docker's config directory: `$DOCKER_CONFIG` if it is set and not empty, else
/// `$HOME/.docker`.
///
/// Fails only when neither variable is set.
pub fn config_dir() -> Result<PathBuf, AuthError> {
    resolve(
        std::env::var_os(DOCKER_CONFIG_ENV),
        std::env::var_os("HOME"),
    )
    .ok_or(AuthError::NoConfigDir)
}

/// The credential file inside the config directory `dir`: `dir/config.json`.
pub fn config_file(dir: &Path) -> PathBuf {
    dir.join(CONFIG_FILE_NAME)
}

/// The directory from the two variables' values, as docker's `config.Dir()` picks it.
fn resolve(docker_config: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    match docker_config {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => home
            .filter(|home| !home.is_empty())
            .map(|home| PathBuf::from(home).join(".docker")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_wins_over_home_and_empty_means_unset() {
        assert_eq!(
            resolve(Some("/cfg".into()), Some("/home/u".into())),
            Some(PathBuf::from("/cfg"))
        );
        assert_eq!(
            resolve(Some("".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.docker"))
        );
        assert_eq!(
            resolve(None, Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.docker"))
        );
        assert_eq!(resolve(None, None), None);
        assert_eq!(
            config_file(Path::new("/cfg")),
            PathBuf::from("/cfg/config.json")
        );
    }
}
