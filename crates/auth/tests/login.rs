//! `login` and `logout` on real files (and real helper scripts, see `support`): what is
//! written, what is kept, file modes, and that passwords go only where they belong.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use hearth_auth::{AuthError, AuthFiles, LoginOutcome, login, logout};
use hearth_registry::{Credentials, Secret};
use support::Env;

fn basic(username: &str, password: &str) -> Option<Credentials> {
    Some(Credentials::Basic {
        username: username.into(),
        password: Secret::new(password),
    })
}

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn login_then_reading_back_gives_the_same_credentials() {
    let env = Env::new();
    let outcome = login(
        &env.dir,
        "registry.example.com:5000",
        "alice",
        &Secret::new("pw"),
    )
    .unwrap();
    assert_eq!(
        outcome,
        LoginOutcome::File {
            path: env.config_path()
        }
    );
    let warning = outcome.unencrypted_warning().unwrap();
    assert!(warning.starts_with(&format!(
        "WARNING! Your password will be stored unencrypted in {}.",
        env.config_path().display()
    )));
    // Exactly what `docker login` writes to a new file.
    assert_eq!(
        env.config_text(),
        "{\n\t\"auths\": {\n\t\t\"registry.example.com:5000\": {\n\t\t\t\"auth\": \"YWxpY2U6cHc=\"\n\t\t}\n\t}\n}"
    );
    assert_eq!(
        env.source().lookup("registry.example.com:5000"),
        basic("alice", "pw")
    );
}

#[test]
fn docker_hub_login_is_stored_under_the_index_url() {
    let env = Env::new();
    login(&env.dir, "docker.io", "alice", &Secret::new("pw")).unwrap();
    assert_eq!(
        env.config_json()["auths"]["https://index.docker.io/v1/"]["auth"],
        "YWxpY2U6cHc="
    );
    let source = env.source();
    assert_eq!(source.lookup("docker.io"), basic("alice", "pw"));
    assert_eq!(source.lookup("registry-1.docker.io"), basic("alice", "pw"));
}

#[test]
fn login_keeps_every_unrelated_field_in_place() {
    let env = Env::new();
    env.write_config(
        r#"{
  "psFormat": "table {{.ID}}",
  "auths": {
    "other.example.com": {"auth": "Ym9iOnMzY3JldC1wdzE=", "email": "bob@example.com"},
    "http://registry.example.com:5000": {"auth": "b2xkOm9sZA=="}
  },
  "proxies": {"default": {"noProxy": "*.local", "httpProxy": "http://proxy:3128"}},
  "experimental": "enabled",
  "plugins": [1, 2.5, true, null]
}"#,
    );
    login(
        &env.dir,
        "registry.example.com:5000",
        "alice",
        &Secret::new("pw"),
    )
    .unwrap();
    // Field order, unknown fields and other logins are kept; the old `http://` entry for
    // the same registry is replaced by the new one; tabs as docker indents.
    let expected = r#"{
	"psFormat": "table {{.ID}}",
	"auths": {
		"other.example.com": {
			"auth": "Ym9iOnMzY3JldC1wdzE=",
			"email": "bob@example.com"
		},
		"registry.example.com:5000": {
			"auth": "YWxpY2U6cHc="
		}
	},
	"proxies": {
		"default": {
			"noProxy": "*.local",
			"httpProxy": "http://proxy:3128"
		}
	},
	"experimental": "enabled",
	"plugins": [
		1,
		2.5,
		true,
		null
	]
}"#;
    assert_eq!(env.config_text(), expected);
    let source = env.source();
    assert_eq!(
        source.lookup("other.example.com"),
        basic("bob", "s3cret-pw1")
    );
    assert_eq!(
        source.lookup("registry.example.com:5000"),
        basic("alice", "pw")
    );
}

#[test]
fn login_writes_a_private_file_in_a_private_directory() {
    let env = Env::new();
    login(&env.dir, "r.example.com", "alice", &Secret::new("pw")).unwrap();
    assert_eq!(mode(&env.config_path()), 0o600);
    assert_eq!(mode(&env.dir), 0o700);

    // An existing world-readable file is made private, and no temporary file is left.
    fs::set_permissions(env.config_path(), fs::Permissions::from_mode(0o644)).unwrap();
    login(&env.dir, "r.example.com", "alice", &Secret::new("pw2")).unwrap();
    assert_eq!(mode(&env.config_path()), 0o600);
    assert_eq!(fs::read_dir(&env.dir).unwrap().count(), 1);
}

#[test]
fn login_with_creds_store_goes_through_the_helper_and_leaves_no_password_in_the_file() {
    let env = Env::new();
    env.install_helper("desktop");
    env.write_config(
        r#"{"auths": {"r.example.com": {"auth": "b2xkOm9sZA=="}}, "credsStore": "desktop"}"#,
    );
    let outcome = env
        .files()
        .login("r.example.com", "alice", &Secret::new("helper-pw"))
        .unwrap();
    assert_eq!(
        outcome,
        LoginOutcome::Helper {
            helper: "desktop".into()
        }
    );
    assert_eq!(outcome.unencrypted_warning(), None);
    assert_eq!(env.helper_calls("desktop"), ["store r.example.com"]);
    assert!(env.helper_store("desktop").contains("helper-pw"));

    // As docker: an empty entry stays in auths, the old plain `auth` is gone.
    let config = env.config_text();
    assert_eq!(
        env.config_json()["auths"]["r.example.com"],
        serde_json::json!({})
    );
    for secret in ["helper-pw", "b2xkOm9sZA", "YWxpY2U6aGVscGVyLXB3"] {
        assert!(!config.contains(secret), "{config}");
    }
    assert_eq!(
        env.source().lookup("r.example.com"),
        basic("alice", "helper-pw")
    );
}

#[test]
fn login_uses_the_hosts_cred_helper_before_creds_store() {
    let env = Env::new();
    env.install_helper("desktop");
    env.install_helper("ecr");
    env.write_config(r#"{"credsStore": "desktop", "credHelpers": {"r.example.com": "ecr"}}"#);
    let outcome = env
        .files()
        .login("r.example.com", "AWS", &Secret::new("ecr-pw"))
        .unwrap();
    assert_eq!(
        outcome,
        LoginOutcome::Helper {
            helper: "ecr".into()
        }
    );
    assert_eq!(env.helper_calls("ecr"), ["store r.example.com"]);
    assert!(env.helper_calls("desktop").is_empty());
    assert_eq!(env.source().lookup("r.example.com"), basic("AWS", "ecr-pw"));
}

#[test]
fn logout_removes_the_login_and_a_second_logout_finds_none() {
    let env = Env::new();
    env.write_config(
        r#"{"psFormat": "x", "auths": {"other.example.com": {"auth": "YWxpY2U6cHc="}}}"#,
    );
    login(&env.dir, "r.example.com", "alice", &Secret::new("pw")).unwrap();
    assert!(logout(&env.dir, "r.example.com").unwrap());
    assert_eq!(env.source().lookup("r.example.com"), None);
    assert!(!logout(&env.dir, "r.example.com").unwrap());
    assert_eq!(
        env.config_json(),
        serde_json::json!({"psFormat": "x", "auths": {"other.example.com": {"auth": "YWxpY2U6cHc="}}})
    );
}

#[test]
fn logout_removes_entries_written_with_a_scheme() {
    let env = Env::new();
    env.write_config(
        r#"{"auths": {"https://r.example.com": {"auth": "YWxpY2U6cHc="}, "http://r.example.com/v2/": {}}}"#,
    );
    assert!(logout(&env.dir, "r.example.com").unwrap());
    assert_eq!(env.config_json(), serde_json::json!({"auths": {}}));
}

#[test]
fn logout_without_a_file_is_not_logged_in_and_creates_nothing() {
    let env = Env::new();
    assert!(!logout(&env.dir, "docker.io").unwrap());
    assert!(!env.dir.exists());
}

#[test]
fn logout_with_a_helper_calls_erase() {
    let env = Env::new();
    env.install_helper("desktop");
    env.write_config(r#"{"credsStore": "desktop"}"#);
    let files = env.files();
    files
        .login("docker.io", "alice", &Secret::new("hub-pw"))
        .unwrap();
    assert!(env.helper_store("desktop").contains("hub-pw"));

    assert!(files.logout("docker.io").unwrap());
    assert_eq!(
        env.helper_calls("desktop"),
        [
            "store https://index.docker.io/v1/",
            "erase https://index.docker.io/v1/"
        ]
    );
    assert!(!env.helper_store("desktop").contains("hub-pw"));
    assert_eq!(
        env.config_json(),
        serde_json::json!({"credsStore": "desktop", "auths": {}})
    );
    assert_eq!(files.credentials().lookup("docker.io"), None);

    // Nothing left in the file or the helper.
    assert!(!files.logout("docker.io").unwrap());
}

#[test]
fn a_malformed_file_is_not_overwritten() {
    let env = Env::new();
    let broken = r#"{"auths": {"r.example.com": {"auth": "dTpodW50ZXIyLXNlY3JldA=="}"#;
    env.write_config(broken);
    let err = login(&env.dir, "r.example.com", "u", &Secret::new("pw")).unwrap_err();
    assert!(matches!(err, AuthError::Parse { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&env.config_path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("fix it, or move it away"), "{message}");
    assert_eq!(env.config_text(), broken);
    assert!(logout(&env.dir, "r.example.com").is_err());
    assert_eq!(env.config_text(), broken);
}

#[test]
fn errors_never_contain_the_password() {
    let password = Secret::new("hunter2-secret");
    let mut errors: Vec<AuthError> = Vec::new();

    // A helper that fails and echoes its input, which holds the password.
    let env = Env::new();
    env.install_failing_helper("broken");
    env.write_config(r#"{"credsStore": "broken"}"#);
    let err = env
        .files()
        .login("r.example.com", "u", &password)
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::Helper {
                action: "store",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("keychain is locked"), "{err}");
    errors.push(err);
    errors.push(env.files().logout("r.example.com").unwrap_err());

    // A malformed file holding the password.
    let env = Env::new();
    env.write_config(r#"{"auths": {"r.example.com": {"password": "hunter2-secret"}}, }"#);
    errors.push(login(&env.dir, "r.example.com", "u", &password).unwrap_err());

    // Fields of the wrong type next to the password.
    let env = Env::new();
    env.write_config(
        r#"{"credsStore": ["hunter2-secret"], "auths": {"h": {"password": "hunter2-secret"}}}"#,
    );
    let err = login(&env.dir, "r.example.com", "u", &password).unwrap_err();
    assert!(matches!(err, AuthError::Invalid { .. }), "{err:?}");
    errors.push(err);

    // Incomplete requests.
    errors.push(login(&env.dir, "r.example.com", "", &password).unwrap_err());
    errors.push(login(&env.dir, "r.example.com", "u", &Secret::new("")).unwrap_err());

    // An unreadable file (a directory) and an unwritable directory (a file).
    let env = Env::new();
    fs::create_dir_all(env.config_path()).unwrap();
    let err = login(&env.dir, "r.example.com", "u", &password).unwrap_err();
    assert!(matches!(err, AuthError::Read { .. }), "{err:?}");
    errors.push(err);
    // (/proc refuses new directories even to root, who may write anywhere else.)
    let err = AuthFiles::new("/proc/self/hearth-auth-test")
        .login("r.example.com", "u", &password)
        .unwrap_err();
    assert!(matches!(err, AuthError::Write { .. }), "{err:?}");
    errors.push(err);

    errors.push(AuthError::NoConfigDir);
    for err in &errors {
        for dumped in [err.to_string(), format!("{err:?}")] {
            assert!(!dumped.contains("hunter2"), "{dumped}");
            assert!(!dumped.contains("aHVudGVyMi"), "{dumped}");
        }
    }
}
