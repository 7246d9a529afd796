//! Credentials from credential helpers (`credHelpers`, `credsStore`), run as real
//! programs: the helpers here are executable shell scripts speaking docker's helper
//! protocol, see `support`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use hearth_registry::{Credentials, Secret};
use support::Env;

fn basic(username: &str, password: &str) -> Option<Credentials> {
    Some(Credentials::Basic {
        username: username.into(),
        password: Secret::new(password),
    })
}

#[test]
fn cred_helpers_take_precedence_over_auths() {
    let env = Env::new();
    env.install_helper("ecr");
    env.seed_helper("ecr", "r.example.com", "AWS", "from-helper");
    env.write_config(
        r#"{
            "auths": {"r.example.com": {"auth": "YWxpY2U6cHc="}, "other.example.com": {"auth": "YWxpY2U6cHc="}},
            "credHelpers": {"r.example.com": "ecr"}
        }"#,
    );
    let source = env.source();
    assert_eq!(source.lookup("r.example.com"), basic("AWS", "from-helper"));
    // Hosts without a credHelpers entry still read auths.
    assert_eq!(source.lookup("other.example.com"), basic("alice", "pw"));
    assert_eq!(env.helper_calls("ecr"), ["get r.example.com"]);
    assert!(source.warnings().is_empty(), "{:?}", source.warnings());
}

#[test]
fn cred_helpers_for_docker_hub_get_the_index_url() {
    let env = Env::new();
    env.install_helper("hub");
    env.seed_helper("hub", "https://index.docker.io/v1/", "alice", "hub-pw");
    env.write_config(r#"{"credHelpers": {"https://index.docker.io/v1/": "hub"}}"#);
    assert_eq!(env.source().lookup("docker.io"), basic("alice", "hub-pw"));
    assert_eq!(env.helper_calls("hub"), ["get https://index.docker.io/v1/"]);
}

#[test]
fn creds_store_is_used_when_auths_has_no_entry() {
    let env = Env::new();
    env.install_helper("desktop");
    env.seed_helper("desktop", "r.example.com", "alice", "stored-pw");
    env.seed_helper("desktop", "empty.example.com", "carol", "empty-entry-pw");
    env.write_config(
        r#"{
            "auths": {"plain.example.com": {"auth": "YWxpY2U6cHc="}, "empty.example.com": {}},
            "credsStore": "desktop"
        }"#,
    );
    let source = env.source();
    assert_eq!(source.lookup("r.example.com"), basic("alice", "stored-pw"));
    // The `{}` entry docker leaves after a helper login falls through to the store.
    assert_eq!(
        source.lookup("empty.example.com"),
        basic("carol", "empty-entry-pw")
    );
    assert_eq!(source.lookup("plain.example.com"), basic("alice", "pw"));
    // Nothing stored anywhere: anonymous, and "not found" is not a warning.
    assert_eq!(source.lookup("none.example.com"), None);
    assert!(source.warnings().is_empty(), "{:?}", source.warnings());
}

#[test]
fn helper_username_token_means_an_identity_token() {
    let env = Env::new();
    env.install_helper("desktop");
    env.seed_helper("desktop", "r.example.com", "<token>", "refresh-tok");
    env.write_config(r#"{"credsStore": "desktop"}"#);
    assert_eq!(
        env.source().lookup("r.example.com"),
        Some(Credentials::IdentityToken(Secret::new("refresh-tok")))
    );
}

#[test]
fn a_failing_helper_gives_no_credentials_and_a_warning_without_the_secret() {
    let env = Env::new();
    env.install_failing_helper("broken");
    // The file also holds a password for the host: a failing helper must not fall back
    // to it (docker does not), and no message may show it.
    env.write_config(
        r#"{
            "auths": {"r.example.com": {"auth": "dTpodW50ZXIyLXNlY3JldA=="}},
            "credHelpers": {"r.example.com": "broken"}
        }"#,
    );
    let source = env.source();
    assert_eq!(source.lookup("r.example.com"), None);
    let warnings = source.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = &warnings[0];
    assert!(warning.contains("r.example.com"), "{warning}");
    assert!(
        warning.contains(&env.config_path().display().to_string()),
        "{warning}"
    );
    assert!(warning.contains("docker-credential-broken"), "{warning}");
    assert!(warning.contains("keychain is locked"), "{warning}");
    for secret in ["hunter2-secret", "dTpodW50ZXIyLXNlY3JldA"] {
        assert!(!warning.contains(secret), "{warning}");
        assert!(!format!("{source:?}").contains(secret));
    }
}

#[test]
fn a_missing_helper_program_is_a_warning_that_says_what_to_do() {
    let env = Env::new();
    env.write_config(r#"{"credsStore": "hearth-test-no-such-helper"}"#);
    let source = env.source();
    assert_eq!(source.lookup("r.example.com"), None);
    let warnings = source.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("docker-credential-hearth-test-no-such-helper was not found"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("install it"), "{}", warnings[0]);
}

#[test]
fn answers_are_cached_so_a_helper_runs_once_per_host() {
    let env = Env::new();
    env.install_helper("desktop");
    env.seed_helper("desktop", "r.example.com", "alice", "stored-pw");
    env.write_config(r#"{"credsStore": "desktop"}"#);
    let source = env.source();
    for _ in 0..3 {
        assert_eq!(source.lookup("r.example.com"), basic("alice", "stored-pw"));
        assert_eq!(source.lookup("none.example.com"), None);
    }
    assert_eq!(
        env.helper_calls("desktop"),
        ["get r.example.com", "get none.example.com"]
    );
}
