//! Debian's `busybox-static` for an architecture other than the host's: the `.deb` is
//! fetched once with `apt-get download` into a cache directory and the binary read out of
//! it with `dpkg-deb`, so a multi-platform base image needs nothing but Debian's archive.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::process::require;

/// Where downloaded packages are kept between runs, unless `HEARTH_TESTKIT_CACHE` names
/// another directory.
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/hearth-testkit";

/// A busybox binary is a few MiB; anything far larger is not the package we asked for.
const MAX_BINARY: u64 = 64 << 20;

fn cache_dir() -> PathBuf {
    std::env::var_os("HEARTH_TESTKIT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR))
}

fn run(program: &Path, args: &[&str], cwd: Option<&Path>) -> Result<Output, String> {
    let mut command = Command::new(program);
    command.args(args);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    command
        .output()
        .map_err(|e| format!("running {} {}: {e}", program.display(), args.join(" ")))
}

/// The host's installed `busybox-static` version: the foreign package is fetched at the
/// same version so both architectures have the same applets (the layer lists the host's).
fn host_version() -> Result<String, String> {
    let dpkg_query = require("dpkg-query", "dpkg").map_err(|e| e.to_string())?;
    let out = run(
        &dpkg_query,
        &["-W", "-f=${Version}", "busybox-static"],
        None,
    )?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || version.is_empty() {
        return Err(
            "busybox-static is not installed: install it with `apt-get install busybox-static`"
                .into(),
        );
    }
    Ok(version)
}

/// The `busybox` binary of Debian's `busybox-static` for `arch` (a Debian architecture
/// name such as `arm64`), at the host's version.
pub(crate) fn busybox_binary(arch: &str) -> Result<Vec<u8>, String> {
    let version = host_version()?;
    let deb = cached_deb(arch, &version)?;
    let dpkg_deb = require("dpkg-deb", "dpkg").map_err(|e| e.to_string())?;
    let deb_arg = deb.to_string_lossy();
    let out = run(&dpkg_deb, &["--fsys-tarfile", &deb_arg], None)?;
    if !out.status.success() {
        return Err(format!(
            "dpkg-deb --fsys-tarfile {} failed: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let entries = archive
        .entries()
        .map_err(|e| format!("reading {}: {e}", deb.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", deb.display()))?;
        let is_busybox = entry
            .path()
            .map(|p| p.components().eq(Path::new("./bin/busybox").components()))
            .unwrap_or(false);
        if is_busybox && entry.header().entry_type().is_file() {
            let mut binary = Vec::new();
            entry
                .take(MAX_BINARY)
                .read_to_end(&mut binary)
                .map_err(|e| format!("reading bin/busybox from {}: {e}", deb.display()))?;
            return Ok(binary);
        }
    }
    Err(format!("{} holds no bin/busybox", deb.display()))
}

/// The cached `.deb` of `busybox-static:ARCH=VERSION`, downloaded if absent. apt names the
/// file `busybox-static_<version, ':' as %3a>_<arch>.deb`; the download lands in a
/// directory of its own and is renamed into place, so concurrent test processes never see
/// half a file.
fn cached_deb(arch: &str, version: &str) -> Result<PathBuf, String> {
    let dir = cache_dir();
    let deb = dir.join(format!(
        "busybox-static_{}_{arch}.deb",
        version.replace(':', "%3a")
    ));
    if deb.is_file() {
        return Ok(deb);
    }
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "creating the package cache {}: {e} (set HEARTH_TESTKIT_CACHE to a writable directory)",
            dir.display()
        )
    })?;
    let staging = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(&dir)
        .map_err(|e| format!("creating a download directory in {}: {e}", dir.display()))?;
    let apt_get = require("apt-get", "apt").map_err(|e| e.to_string())?;
    let package = format!("busybox-static:{arch}={version}");
    let mut out = run(
        &apt_get,
        &["download", "-qq", &package],
        Some(staging.path()),
    )?;
    if !out.status.success() {
        enable_architecture(arch)?;
        out = run(
            &apt_get,
            &["download", "-qq", &package],
            Some(staging.path()),
        )?;
    }
    if !out.status.success() {
        return Err(format!(
            "apt-get download {package} failed: {}; as root run `dpkg --add-architecture {arch} && apt-get update` (scripts/setup does this)",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let downloaded = std::fs::read_dir(staging.path())
        .map_err(|e| format!("reading {}: {e}", staging.path().display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| format!("apt-get download {package} wrote no .deb"))?;
    std::fs::rename(&downloaded, &deb)
        .map_err(|e| format!("moving the package to {}: {e}", deb.display()))?;
    Ok(deb)
}

/// What `apt-get download` of a foreign package needs: the architecture known to dpkg and
/// apt's lists fetched for it. Needs root, as apt does.
fn enable_architecture(arch: &str) -> Result<(), String> {
    let dpkg = require("dpkg", "dpkg").map_err(|e| e.to_string())?;
    let foreign = run(&dpkg, &["--print-foreign-architectures"], None)?;
    if !String::from_utf8_lossy(&foreign.stdout)
        .lines()
        .any(|l| l.trim() == arch)
    {
        let out = run(&dpkg, &["--add-architecture", arch], None)?;
        if !out.status.success() {
            return Err(format!(
                "dpkg --add-architecture {arch} failed: {} (run it as root, or run scripts/setup)",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    let apt_get = require("apt-get", "apt").map_err(|e| e.to_string())?;
    let out = run(&apt_get, &["update", "-qq"], None)?;
    if !out.status.success() {
        return Err(format!(
            "apt-get update failed: {} (run `apt-get update` as root)",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}
