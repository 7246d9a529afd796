//! Real components for hearth's tests and set-up scripts.
//!
//! hearth's tests run against what users have: Debian's `docker-registry` (the
//! Distribution registry), `skopeo`, `runc`, `dockerd`, and OpenSSH's `sshd` and
//! `ssh-agent` serving a git repository. This crate starts them on
//! loopback with their own configuration and state in a temporary directory, stops them
//! when dropped, and makes the base image the tests build on: busybox, from Debian's
//! `busybox-static`, since nothing can be pulled from Docker Hub.
//!
//! A component that is missing or does not start is an error naming the Debian package to
//! install; tests turn it into a failure, never a skip.

mod agent;
mod busybox;
mod deb;
mod dockerd;
mod hearthd;
mod process;
mod registry;
mod sshd;
mod tls;

pub use agent::SshAgent;
pub use busybox::{
    BUSYBOX_REPOSITORY, BusyboxPlatform, write_busybox_index_layout, write_busybox_layout,
    write_busybox_platform_layout,
};
pub use deb::DEFAULT_CACHE_DIR;
pub use dockerd::Dockerd;
pub use hearthd::{Hearthd, workspace_bin};
pub use process::{Missing, require};
pub use registry::{Registry, access_log_requests};
pub use sshd::{GitCall, GitCallKind, Sshd};
pub use tls::{TlsFiles, tls_files};

use std::path::Path;
use std::process::Command;

/// Copies the OCI layout at `layout` (tag `latest`) to `reference` on a plain-HTTP
/// registry with skopeo.
pub fn push_layout(layout: &Path, reference: &str) -> Result<(), String> {
    skopeo_copy(layout, reference, &[])
}

/// Copies the OCI layout at `layout` whose tag `latest` is an image index (such as
/// [`write_busybox_index_layout`] writes) to `reference` on a plain-HTTP registry: the
/// index and every platform's image (`skopeo copy --all`).
pub fn push_index_layout(layout: &Path, reference: &str) -> Result<(), String> {
    skopeo_copy(layout, reference, &["--all"])
}

fn skopeo_copy(layout: &Path, reference: &str, extra: &[&str]) -> Result<(), String> {
    let skopeo = require("skopeo", "skopeo").map_err(|e| e.to_string())?;
    let output = Command::new(skopeo)
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .args(extra)
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("docker://{reference}"))
        .output()
        .map_err(|e| format!("running skopeo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "skopeo copy to {reference} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// `skopeo inspect --raw` of `reference` on a plain-HTTP registry: the manifest bytes.
pub fn inspect_raw(reference: &str) -> Result<Vec<u8>, String> {
    let skopeo = require("skopeo", "skopeo").map_err(|e| e.to_string())?;
    let output = Command::new(skopeo)
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .map_err(|e| format!("running skopeo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "skopeo inspect {reference} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(output.stdout)
}
