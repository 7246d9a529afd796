//! A Docker token server for `docker-registry`'s `auth: token` mode.
//!
//! This is the one piece written for the tests: no Debian package ships a token server.
//! It issues real RS256 JWTs (signed by the `openssl` command with a certificate the
//! registry trusts through `rootcertbundle`), which the real registry verifies, so the
//! client's whole bearer flow (challenge, token request, caching, retry) runs against
//! the real thing. It implements the token spec's GET (basic auth) and the OAuth2 POST
//! (`refresh_token` grant), and counts the requests it serves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `service` the registry and the token server agree on.
pub const SERVICE: &str = "hearth-test";
/// The JWT issuer the registry accepts.
pub const ISSUER: &str = "hearth-test-issuer";

/// Who may do what.
#[derive(Clone)]
pub struct Policy {
    /// user → password (GET with basic auth).
    pub users: BTreeMap<String, String>,
    /// refresh token → user (POST `grant_type=refresh_token`).
    pub refresh_tokens: BTreeMap<String, String>,
    /// Repositories anonymous clients may pull.
    pub public: Vec<String>,
}

/// A running token server; its task ends with the test's runtime.
pub struct TokenServer {
    pub port: u16,
    pub cert: PathBuf,
    requests: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    /// The registry's `auth:` section for this server.
    pub fn registry_auth(&self) -> String {
        self.registry_auth_with_realm(&format!("http://127.0.0.1:{}/token", self.port))
    }

    /// The registry's `auth:` section trusting this server's tokens but sending clients
    /// to `realm` for them.
    pub fn registry_auth_with_realm(&self, realm: &str) -> String {
        format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.cert.display()
        )
    }

    /// Token requests served so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn reset_requests(&self) {
        self.requests.store(0, Ordering::SeqCst);
    }
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (apt-get install openssl): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Starts a token server enforcing `policy`.
pub async fn start(policy: Policy) -> TokenServer {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_owned();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "token.key",
            "-out",
            "token.pem",
            "-days",
            "2",
            "-subj",
            "/CN=hearth test token issuer",
        ],
    );
    let der = openssl(&dir, &["x509", "-in", "token.pem", "-outform", "DER"]);
    let x5c = base64(&der, STANDARD);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind token server");
    let port = listener.local_addr().expect("addr").port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let key_dir = dir.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let policy = policy.clone();
            let x5c = x5c.clone();
            let key_dir = key_dir.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let Some((head, body)) = read_request(&mut socket).await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let (status, reply) = answer(&policy, &head, &body, &x5c, &key_dir);
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    TokenServer {
        port,
        cert: dir.join("token.pem"),
        requests,
        _dir: tmp,
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + 4 + length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&data[head_end + 4..]).into_owned();
    Some((head, body))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Decodes `a=b&c=d` with `+` and `%XX`.
fn form(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("utf-8");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).expect("utf-8 form")
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn answer(
    policy: &Policy,
    head: &str,
    body: &str,
    x5c: &str,
    key_dir: &Path,
) -> (&'static str, String) {
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let params = if method == "POST" {
        form(body)
    } else {
        form(query)
    };
    let get = |name: &str| -> Vec<String> {
        params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let denied = (
        "401 Unauthorized",
        r#"{"details":"incorrect username or password"}"#.to_owned(),
    );
    let user = if method == "POST" {
        if get("grant_type").first().map(String::as_str) != Some("refresh_token") {
            return (
                "400 Bad Request",
                r#"{"details":"unsupported grant"}"#.to_owned(),
            );
        }
        match get("refresh_token")
            .first()
            .and_then(|t| policy.refresh_tokens.get(t))
        {
            Some(user) => Some(user.clone()),
            None => return denied,
        }
    } else {
        match header(head, "authorization") {
            Some(value) => {
                let Some(encoded) = value.strip_prefix("Basic ") else {
                    return denied;
                };
                let expected = policy.users.iter().find(|(user, password)| {
                    base64(format!("{user}:{password}").as_bytes(), STANDARD) == encoded
                });
                match expected {
                    Some((user, _)) => Some(user.clone()),
                    None => return denied,
                }
            }
            None => None,
        }
    };
    // Scopes arrive as repeated `scope` parameters (GET) or space-separated (POST).
    let scopes: Vec<String> = get("scope")
        .iter()
        .flat_map(|s| s.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let mut access = Vec::new();
    for scope in scopes {
        let mut fields = scope.splitn(3, ':');
        let (Some(kind), Some(name), Some(actions)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|action| {
                user.is_some() || (*action == "pull" && policy.public.iter().any(|p| p == name))
            })
            .collect();
        access.push(json!({"type": kind, "name": name, "actions": granted}));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = json!({
        "iss": ISSUER,
        "sub": user.clone().unwrap_or_default(),
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", access.len()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        base64(header.to_string().as_bytes(), URL_SAFE),
        base64(claims.to_string().as_bytes(), URL_SAFE)
    );
    let input_file = tempfile::NamedTempFile::new_in(key_dir).expect("temp file");
    std::fs::write(input_file.path(), &signing_input).expect("write signing input");
    let signature = openssl(
        key_dir,
        &[
            "dgst",
            "-sha256",
            "-sign",
            "token.key",
            input_file.path().to_str().expect("utf-8 path"),
        ],
    );
    let jwt = format!("{signing_input}.{}", base64(&signature, URL_SAFE));
    // POST answers use the OAuth2 field name, GET the Docker one, as real servers do.
    let reply = if method == "POST" {
        json!({"access_token": jwt, "expires_in": 300, "scope": ""})
    } else {
        json!({"token": jwt, "expires_in": 300})
    };
    ("200 OK", reply.to_string())
}

const STANDARD: (&[u8; 64], bool) = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    true,
);
const URL_SAFE: (&[u8; 64], bool) = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    false,
);

/// Base64 with the given alphabet; padded or not.
pub fn base64(data: &[u8], (alphabet, pad): (&[u8; 64], bool)) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}
