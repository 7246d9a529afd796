//! Looking credentials up in real `config.json` files: the `auths` forms docker writes and
//! reads, Docker Hub's key, scheme-prefixed keys, and files that are missing or broken.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use hearth_auth::DockerConfigCredentials;
use hearth_registry::{Credentials, Secret};
use support::Env;

fn basic(username: &str, password: &str) -> Option<Credentials> {
    Some(Credentials::Basic {
        username: username.into(),
        password: Secret::new(password),
    })
}

fn lookup(config: &str, host: &str) -> (Option<Credentials>, Vec<String>) {
    let env = Env::new();
    env.write_config(config);
    let source = env.source();
    (source.lookup(host), source.warnings())
}

#[test]
fn auth_field_is_base64_of_user_and_password_with_or_without_padding() {
    for auth in ["YWxpY2U6cHc=", "YWxpY2U6cHc"] {
        let config = format!(r#"{{"auths": {{"registry.example.com": {{"auth": "{auth}"}}}}}}"#);
        let (found, warnings) = lookup(&config, "registry.example.com");
        assert_eq!(found, basic("alice", "pw"), "{auth}");
        assert!(warnings.is_empty(), "{warnings:?}");
    }
    // Only the first ':' separates the user name from the password.
    let (found, _) = lookup(
        r#"{"auths": {"r.example.com": {"auth": "Y2Fyb2w6cGFzczp3aXRoOmNvbG9ucw=="}}}"#,
        "r.example.com",
    );
    assert_eq!(found, basic("carol", "pass:with:colons"));
}

#[test]
fn username_and_password_fields_are_read() {
    let (found, _) = lookup(
        r#"{"auths": {"r.example.com": {"username": "bob", "password": "s3cret-pw1"}}}"#,
        "r.example.com",
    );
    assert_eq!(found, basic("bob", "s3cret-pw1"));
}

#[test]
fn identity_token_wins_over_user_and_password() {
    let (found, _) = lookup(
        r#"{"auths": {"r.example.com": {"auth": "YWxpY2U6cHc=", "identitytoken": "refresh-tok"}}}"#,
        "r.example.com",
    );
    assert_eq!(
        found,
        Some(Credentials::IdentityToken(Secret::new("refresh-tok")))
    );
}

#[test]
fn docker_hub_is_found_under_the_index_url_for_docker_io() {
    let env = Env::new();
    env.write_config(r#"{"auths": {"https://index.docker.io/v1/": {"auth": "YWxpY2U6cHc="}}}"#);
    let source = env.source();
    assert_eq!(source.lookup("docker.io"), basic("alice", "pw"));
    assert_eq!(source.lookup("registry-1.docker.io"), basic("alice", "pw"));
    assert_eq!(source.lookup("quay.io"), None);
}

#[test]
fn docker_hub_written_under_other_names_is_found_too() {
    for key in [
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "https://registry-1.docker.io/v2/",
    ] {
        let config = format!(r#"{{"auths": {{"{key}": {{"auth": "YWxpY2U6cHc="}}}}}}"#);
        assert_eq!(
            lookup(&config, "docker.io").0,
            basic("alice", "pw"),
            "{key}"
        );
    }
}

#[test]
fn keys_with_a_scheme_or_path_are_found_by_host_and_port() {
    let (found, _) = lookup(
        r#"{"auths": {"http://host:5000": {"auth": "YWxpY2U6cHc="}}}"#,
        "host:5000",
    );
    assert_eq!(found, basic("alice", "pw"));
    let (found, _) = lookup(
        r#"{"auths": {"https://host.example.com/v1/": {"auth": "YWxpY2U6cHc="}}}"#,
        "host.example.com",
    );
    assert_eq!(found, basic("alice", "pw"));
    // The port is part of the registry's name.
    let (found, _) = lookup(
        r#"{"auths": {"http://host:5000": {"auth": "YWxpY2U6cHc="}}}"#,
        "host:5001",
    );
    assert_eq!(found, None);
}

#[test]
fn a_missing_file_or_directory_means_no_credentials_and_no_warning() {
    let env = Env::new();
    let source = env.source();
    assert_eq!(source.lookup("docker.io"), None);
    assert!(source.warnings().is_empty());
    let source = DockerConfigCredentials::from_dir(&env.dir.join("nowhere"));
    assert_eq!(source.lookup("r.example.com"), None);
    assert!(source.warnings().is_empty());
}

#[test]
fn malformed_json_is_a_warning_naming_the_file() {
    let env = Env::new();
    env.write_config(r#"{"auths": {"r.example.com": {"auth": "Ym9iOnMzY3JldC1wdzE="}"#);
    let source = env.source();
    assert_eq!(source.lookup("r.example.com"), None);
    let warnings = source.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let path = env.config_path().display().to_string();
    assert!(warnings[0].contains(&path), "{}", warnings[0]);
    assert!(warnings[0].contains("not valid JSON"), "{}", warnings[0]);
    assert!(
        !warnings[0].contains("Ym9iOnMzY3JldC1wdzE"),
        "{}",
        warnings[0]
    );
}

#[test]
fn bad_auth_values_are_warnings_naming_file_and_host_but_not_the_secret() {
    let env = Env::new();
    // "u:hunter2-secret" with a broken character, and a value without a ':'.
    env.write_config(
        r#"{"auths": {
            "bad.example.com": {"auth": "dTpodW50ZXIy!XNlY3JldA=="},
            "nocolon.example.com": {"auth": "aHVudGVyMi1zZWNyZXQ="},
            "good.example.com": {"auth": "YWxpY2U6cHc="}
        }}"#,
    );
    let source = env.source();
    assert_eq!(source.lookup("bad.example.com"), None);
    assert_eq!(source.lookup("nocolon.example.com"), None);
    assert_eq!(source.lookup("good.example.com"), basic("alice", "pw"));
    let warnings = source.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    let path = env.config_path().display().to_string();
    for (warning, host) in warnings
        .iter()
        .zip(["bad.example.com", "nocolon.example.com"])
    {
        assert!(
            warning.contains(host) && warning.contains(&path),
            "{warning}"
        );
        for secret in ["hunter2", "dTpodW50ZXIy", "aHVudGVyMi1zZWNyZXQ"] {
            assert!(!warning.contains(secret), "{warning}");
        }
    }
}

#[test]
fn an_empty_file_has_no_credentials() {
    let (found, warnings) = lookup("", "docker.io");
    assert_eq!(found, None);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn debug_output_never_contains_a_credential() {
    let env = Env::new();
    env.write_config(
        r#"{"auths": {
            "r.example.com": {"auth": "Ym9iOnMzY3JldC1wdzE="},
            "t.example.com": {"identitytoken": "tok-s3cret"}
        }}"#,
    );
    let source = env.source();
    assert_eq!(source.lookup("r.example.com"), basic("bob", "s3cret-pw1"));
    assert!(source.lookup("t.example.com").is_some());
    let dumped = format!("{source:?}");
    assert!(dumped.contains("r.example.com"), "{dumped}");
    for secret in ["s3cret-pw1", "Ym9iOnMzY3JldC1wdzE", "tok-s3cret"] {
        assert!(!dumped.contains(secret), "{dumped}");
    }
}
