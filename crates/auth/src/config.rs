//! The credential fields of `config.json`, read into [`Secret`]s as soon as they are
//! parsed: `auths`, `credsStore` and `credHelpers`. Everything else in the file is left to
//! the writer, which keeps it untouched.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use hearth_registry::{Credentials, Secret};

use crate::json::{Json, Object};
use crate::server::{same_registry, server_key};

/// The credential configuration of one `config.json`.
#[derive(Debug, Default)]
pub(crate) struct ConfigView {
    /// `credHelpers`: registry key → helper name, in file order.
    cred_helpers: Vec<(String, String)>,
    /// `credsStore`, when set and not empty.
    creds_store: Option<String>,
    /// `auths`: registry key → stored entry, in file order.
    auths: Vec<(String, AuthEntry)>,
    /// What is wrong with the file as a whole (a field of the wrong type), in words that
    /// never quote a value.
    pub(crate) problems: Vec<String>,
}

/// One `auths` entry, with its secrets already wrapped.
#[derive(Debug, Default)]
pub(crate) struct AuthEntry {
    /// `auth`: base64 of `user:password`.
    auth: Option<Secret>,
    username: Option<String>,
    password: Option<Secret>,
    identity_token: Option<Secret>,
    /// Fields of the wrong type, named but never quoted.
    problems: Vec<String>,
}

impl ConfigView {
    /// Reads the credential fields of a parsed document.
    pub(crate) fn from_json(doc: &Json) -> Self {
        let mut view = Self::default();
        let Some(root) = doc.as_object() else {
            view.problems.push(format!(
                "the file holds {} where a JSON object was expected",
                doc.kind()
            ));
            return view;
        };
        match root.get("credsStore") {
            None | Some(Json::Null) => {}
            Some(Json::String(s)) if s.is_empty() => {}
            Some(Json::String(s)) => view.creds_store = Some(s.clone()),
            Some(other) => view.problems.push(format!(
                "\"credsStore\" is {} where a helper name was expected",
                other.kind()
            )),
        }
        if let Some(helpers) = object_field(root, "credHelpers", &mut view.problems) {
            for (key, value) in helpers.iter() {
                match value {
                    Json::String(s) if !s.is_empty() => {
                        view.cred_helpers.push((key.to_owned(), s.clone()));
                    }
                    Json::String(_) | Json::Null => {}
                    other => view.problems.push(format!(
                        "\"credHelpers\" entry {key:?} is {} where a helper name was expected",
                        other.kind()
                    )),
                }
            }
        }
        if let Some(auths) = object_field(root, "auths", &mut view.problems) {
            for (key, value) in auths.iter() {
                view.auths
                    .push((key.to_owned(), AuthEntry::from_json(value)));
            }
        }
        view
    }

    /// The helper `credHelpers` names for `host`: the entry under docker's key first,
    /// then one written under `host` as given, then one naming the same registry.
    pub(crate) fn helper_for(&self, host: &str) -> Option<&str> {
        lookup(&self.cred_helpers, host).map(String::as_str)
    }

    /// `credsStore`, the helper for every registry without a `credHelpers` entry.
    pub(crate) fn creds_store(&self) -> Option<&str> {
        self.creds_store.as_deref()
    }

    /// The helper that holds `host`'s credentials, if any: `credHelpers` first, then
    /// `credsStore`.
    pub(crate) fn store_for(&self, host: &str) -> Option<&str> {
        self.helper_for(host).or_else(|| self.creds_store())
    }

    /// The `auths` entry for `host`: the one under docker's key if there is one (even if
    /// it is empty, as docker's file store reads it), else the first naming the same
    /// registry.
    pub(crate) fn auth_entry(&self, host: &str) -> Option<&AuthEntry> {
        let key = server_key(host);
        self.auths
            .iter()
            .find(|(k, _)| *k == key)
            .or_else(|| self.auths.iter().find(|(k, _)| same_registry(k, host)))
            .map(|(_, entry)| entry)
    }
}

impl AuthEntry {
    fn from_json(value: &Json) -> Self {
        let mut entry = Self::default();
        let Some(fields) = value.as_object() else {
            entry.problems.push(format!(
                "the \"auths\" entry is {} where an object was expected",
                value.kind()
            ));
            return entry;
        };
        for (name, value) in fields.iter() {
            let text = match value {
                Json::String(s) => s.as_str(),
                Json::Null => continue,
                other => {
                    if matches!(name, "auth" | "username" | "password" | "identitytoken") {
                        entry.problems.push(format!(
                            "\"{name}\" is {} where a string was expected",
                            other.kind()
                        ));
                    }
                    continue;
                }
            };
            if text.is_empty() {
                continue;
            }
            match name {
                "auth" => entry.auth = Some(Secret::new(text)),
                "username" => entry.username = Some(text.to_owned()),
                "password" => entry.password = Some(Secret::new(text)),
                "identitytoken" => entry.identity_token = Some(Secret::new(text)),
                _ => {}
            }
        }
        entry
    }

    /// The credentials the entry stores, or `None` for an empty entry (such as the `{}`
    /// docker leaves when a helper holds the password).
    ///
    /// An identity token wins, as docker's registry client uses it first; else `auth`
    /// (overriding `username`/`password`, as docker's loader does); else the plain fields.
    /// Errors name what is wrong and never contain the secret.
    pub(crate) fn credentials(&self) -> Result<Option<Credentials>, String> {
        if let Some(problem) = self.problems.first() {
            return Err(problem.clone());
        }
        if let Some(token) = &self.identity_token {
            return Ok(Some(Credentials::IdentityToken(token.clone())));
        }
        let (username, password) = match &self.auth {
            Some(auth) => decode_auth(auth)?,
            None => (
                self.username.clone().unwrap_or_default(),
                self.password.clone().unwrap_or_else(|| Secret::new("")),
            ),
        };
        if username.is_empty() && password.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credentials::Basic { username, password }))
    }
}

/// Field `name` of `root` as an object; a field of another type is recorded as a problem.
fn object_field<'a>(
    root: &'a Object,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<&'a Object> {
    match root.get(name) {
        None | Some(Json::Null) => None,
        Some(Json::Object(object)) => Some(object),
        Some(other) => {
            problems.push(format!(
                "\"{name}\" is {} where an object was expected",
                other.kind()
            ));
            None
        }
    }
}

/// The value under docker's key for `host`, else under `host` as given, else under any
/// key naming the same registry.
fn lookup<'a, T>(entries: &'a [(String, T)], host: &str) -> Option<&'a T> {
    let key = server_key(host);
    entries
        .iter()
        .find(|(k, _)| *k == key)
        .or_else(|| entries.iter().find(|(k, _)| k == host))
        .or_else(|| entries.iter().find(|(k, _)| same_registry(k, host)))
        .map(|(_, v)| v)
}

/// Splits an `auth` field: base64 (padding optional) of `user:password`. Docker trims NUL
/// bytes from the password, which some old writers left.
fn decode_auth(auth: &Secret) -> Result<(String, Secret), String> {
    let bytes = STANDARD_PAD_INDIFFERENT
        .decode(auth.expose().trim())
        .map_err(|_| "\"auth\" is not valid base64 of user:password".to_owned())?;
    let text = String::from_utf8(bytes)
        .map_err(|_| "\"auth\" does not decode to UTF-8 text".to_owned())?;
    let (username, password) = text
        .split_once(':')
        .ok_or_else(|| "\"auth\" does not decode to user:password (no ':')".to_owned())?;
    Ok((
        username.to_owned(),
        Secret::new(password.trim_matches('\0')),
    ))
}

/// `user:password` as base64 with padding, the `auth` value docker writes.
pub(crate) fn encode_auth(username: &str, password: &Secret) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{}", password.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn view(text: &str) -> ConfigView {
        ConfigView::from_json(&parse(text.as_bytes()).unwrap())
    }

    #[test]
    fn auth_decodes_with_and_without_padding_and_roundtrips() {
        let encoded = encode_auth("u", &Secret::new("pw"));
        assert_eq!(encoded, "dTpwdw==");
        for auth in ["dTpwdw==", "dTpwdw"] {
            let (user, pass) = decode_auth(&Secret::new(auth)).unwrap();
            assert_eq!((user.as_str(), pass.expose()), ("u", "pw"));
        }
    }

    #[test]
    fn decoding_errors_do_not_contain_the_secret() {
        for auth in ["!!not-base64!!", "bm9jb2xvbg==" /* "nocolon" */] {
            let err = decode_auth(&Secret::new(auth)).unwrap_err();
            assert!(!err.contains(auth) && !err.contains("nocolon"), "{err}");
        }
    }

    #[test]
    fn wrong_types_are_problems_that_name_the_field_but_not_the_value() {
        let v = view(r#"{"credsStore": 7, "credHelpers": [], "auths": {"h": {"auth": 12345}}}"#);
        assert_eq!(v.problems.len(), 2, "{:?}", v.problems);
        let err = v.auth_entry("h").unwrap().credentials().unwrap_err();
        assert!(err.contains("\"auth\"") && !err.contains("12345"), "{err}");
    }

    #[test]
    fn exact_key_wins_over_aliases_and_empty_entry_means_no_credentials() {
        let v = view(r#"{"auths": {"http://h:5000": {"auth": "dTpwdw=="}, "h:5000": {}}}"#);
        assert_eq!(v.auth_entry("h:5000").unwrap().credentials().unwrap(), None);
        let v = view(r#"{"auths": {"http://h:5000": {"auth": "dTpwdw=="}}}"#);
        assert!(
            v.auth_entry("h:5000")
                .unwrap()
                .credentials()
                .unwrap()
                .is_some()
        );
    }
}
