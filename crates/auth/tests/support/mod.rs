//! A throwaway docker config directory and real credential helper programs for tests.
//!
//! Nothing is mocked: the config is a real `config.json` in a temporary directory, and a
//! credential helper is a real executable shell script speaking docker's helper protocol
//! (`get`/`store`/`erase`, input on stdin, JSON on stdout), storing what it is given in a
//! file next to itself. Helpers are found through `with_helper_dir`, so tests running in
//! parallel never touch `PATH` or the real `~/.docker`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use hearth_auth::{AuthFiles, DockerConfigCredentials};
use tempfile::TempDir;

/// A real credential helper: docker-credential-helpers' protocol in POSIX sh. It keeps
/// one `ServerURL<TAB>JSON` line per server in `<itself>.db` and logs each call as
/// `<action> <server>` in `<itself>.log`. Holding nothing, it prints docker's
/// "credentials not found in native keychain" and exits 1, as real helpers do.
const STORE_HELPER: &str = r#"#!/bin/sh
set -u
db="$0.db"
log="$0.log"
touch "$db"
input=$(cat)
case "${1:-}" in
get)
    printf 'get %s\n' "$input" >> "$log"
    found=$(awk -F '\t' -v u="$input" '$1 == u { print $2 }' "$db")
    if [ -z "$found" ]; then
        echo "credentials not found in native keychain"
        exit 1
    fi
    printf '%s\n' "$found"
    ;;
store)
    url=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
    printf 'store %s\n' "$url" >> "$log"
    awk -F '\t' -v u="$url" '$1 != u' "$db" > "$db.tmp" && mv "$db.tmp" "$db"
    printf '%s\t%s\n' "$url" "$input" >> "$db"
    ;;
erase)
    printf 'erase %s\n' "$input" >> "$log"
    if ! awk -F '\t' -v u="$input" '$1 == u { found = 1 } END { exit !found }' "$db"; then
        echo "credentials not found in native keychain"
        exit 1
    fi
    awk -F '\t' -v u="$input" '$1 != u' "$db" > "$db.tmp" && mv "$db.tmp" "$db"
    ;;
*)
    echo "unknown action ${1:-}"
    exit 1
    ;;
esac
"#;

/// A real helper that fails every action, as a locked or broken keychain does, and
/// carelessly echoes its input (which, for `store`, holds the password).
const FAILING_HELPER: &str = r#"#!/bin/sh
input=$(cat)
echo "keychain is locked (input was: $input)"
exit 1
"#;

/// A docker config directory (not yet created) and a helper directory in a temp dir.
pub(crate) struct Env {
    _tmp: TempDir,
    /// The docker config directory (`$DOCKER_CONFIG`).
    pub(crate) dir: PathBuf,
    /// Where the helper scripts live.
    pub(crate) bin: PathBuf,
}

impl Env {
    pub(crate) fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("docker");
        let bin = tmp.path().join("bin");
        fs::create_dir(&bin).unwrap();
        Self {
            _tmp: tmp,
            dir,
            bin,
        }
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub(crate) fn write_config(&self, text: &str) {
        fs::create_dir_all(&self.dir).unwrap();
        fs::write(self.config_path(), text).unwrap();
    }

    pub(crate) fn config_text(&self) -> String {
        fs::read_to_string(self.config_path()).unwrap()
    }

    pub(crate) fn config_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.config_text()).unwrap()
    }

    /// A fresh credential source over the directory, finding helpers in `bin`.
    pub(crate) fn source(&self) -> DockerConfigCredentials {
        DockerConfigCredentials::from_dir(&self.dir).with_helper_dir(&self.bin)
    }

    /// Login/logout over the directory, finding helpers in `bin`.
    pub(crate) fn files(&self) -> AuthFiles {
        AuthFiles::new(&self.dir).with_helper_dir(&self.bin)
    }

    /// Installs the storing helper as `docker-credential-<name>`.
    pub(crate) fn install_helper(&self, name: &str) {
        self.install(name, STORE_HELPER);
    }

    /// Installs the always-failing helper as `docker-credential-<name>`.
    pub(crate) fn install_failing_helper(&self, name: &str) {
        self.install(name, FAILING_HELPER);
    }

    /// Puts credentials into helper `name`'s store, as an earlier `store` would have.
    pub(crate) fn seed_helper(&self, name: &str, server: &str, username: &str, secret: &str) {
        let json = serde_json::json!({"ServerURL": server, "Username": username, "Secret": secret});
        let mut db = fs::read_to_string(self.db_path(name)).unwrap_or_default();
        db.push_str(&format!("{server}\t{json}\n"));
        fs::write(self.db_path(name), db).unwrap();
    }

    /// The calls helper `name` received, as `<action> <server>` lines.
    pub(crate) fn helper_calls(&self, name: &str) -> Vec<String> {
        fs::read_to_string(self.log_path(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Everything helper `name` holds, raw.
    pub(crate) fn helper_store(&self, name: &str) -> String {
        fs::read_to_string(self.db_path(name)).unwrap_or_default()
    }

    fn helper_path(&self, name: &str) -> PathBuf {
        self.bin.join(format!("docker-credential-{name}"))
    }

    fn db_path(&self, name: &str) -> PathBuf {
        suffixed(&self.helper_path(name), ".db")
    }

    fn log_path(&self, name: &str) -> PathBuf {
        suffixed(&self.helper_path(name), ".log")
    }

    fn install(&self, name: &str, script: &str) {
        let path = self.helper_path(name);
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
