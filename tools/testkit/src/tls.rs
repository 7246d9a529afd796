//! Test certificates, made with the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA, server and client certificates for TLS tests (registries, hearthd's TCP
/// listener), made with the `openssl` command.
pub struct TlsFiles {
    /// The CA certificate.
    pub ca_cert: PathBuf,
    /// The server certificate (for IP 127.0.0.1).
    pub server_cert: PathBuf,
    /// Its key.
    pub server_key: PathBuf,
    /// A client certificate.
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
    /// A directory in skopeo's `--dest-cert-dir` layout (ca.crt, client.cert, client.key).
    pub skopeo_cert_dir: PathBuf,
    _dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run openssl (apt-get install openssl): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// A CA, a server certificate for IP 127.0.0.1 and a client certificate (P-256 keys).
pub fn tls_files() -> Result<TlsFiles, String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let dir = tmp.path();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=hearth test ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca)?;
    for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let ext = format!("{name}.ext");
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
        openssl(dir, &req)?;
        std::fs::write(
            dir.join(&ext),
            format!(
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n"
            ),
        )
        .map_err(|e| format!("write ext: {e}"))?;
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        )?;
    }
    let skopeo = dir.join("skopeo-certs");
    std::fs::create_dir(&skopeo).map_err(|e| format!("mkdir skopeo certs: {e}"))?;
    std::fs::copy(dir.join("ca.pem"), skopeo.join("ca.crt"))
        .map_err(|e| format!("copy ca: {e}"))?;
    std::fs::copy(dir.join("client.pem"), skopeo.join("client.cert"))
        .map_err(|e| format!("copy cert: {e}"))?;
    std::fs::copy(dir.join("client.key"), skopeo.join("client.key"))
        .map_err(|e| format!("copy key: {e}"))?;
    Ok(TlsFiles {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        skopeo_cert_dir: skopeo,
        _dir: tmp,
    })
}
