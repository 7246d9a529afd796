//! Running the `hearth` binary against a real registry holding busybox.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hearth_testkit::Registry;

/// A registry with busybox, a configuration file pointing `docker.io` at it, and a
/// scratch directory.
pub(crate) struct Env {
    pub(crate) registry: Registry,
    pub(crate) config: PathBuf,
    pub(crate) work: tempfile::TempDir,
}

impl Env {
    pub(crate) fn new() -> Self {
        let registry =
            Registry::start().unwrap_or_else(|e| panic!("the tests need a registry: {e}"));
        let work = tempfile::tempdir().unwrap();
        let layout = work.path().join("busybox-layout");
        hearth_testkit::write_busybox_layout(&layout)
            .unwrap_or_else(|e| panic!("making the busybox image: {e}"));
        hearth_testkit::push_layout(
            &layout,
            &format!("{}/library/busybox:latest", registry.addr()),
        )
        .unwrap_or_else(|e| panic!("pushing busybox: {e}"));
        let config = work.path().join("hearthd.toml");
        registry.write_hearth_config(&config).unwrap();
        Self {
            registry,
            config,
            work,
        }
    }

    /// A directory under the scratch directory with these files.
    pub(crate) fn dir(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (path, content) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        dir
    }

    /// `hearth --config … --root ROOT ARGS…`, not yet run.
    pub(crate) fn hearth(&self, root: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hearth"));
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--root")
            .arg(root)
            .args(args);
        cmd.env_remove("SOURCE_DATE_EPOCH");
        cmd
    }

    /// Runs hearth and asserts success.
    pub(crate) fn hearth_ok(&self, root: &Path, args: &[&str]) -> Output {
        let output = self.hearth(root, args).output().unwrap();
        assert!(
            output.status.success(),
            "hearth {args:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

/// `containerimage.digest` from a `--metadata-file`.
pub(crate) fn image_digest(metadata: &Path) -> String {
    let text = std::fs::read_to_string(metadata).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["containerimage.digest"].as_str().unwrap().to_owned()
}

/// A number from `hearth debug info` against the daemon.
pub(crate) fn info_value(env: &Env, addr: &str, field: &str) -> u64 {
    let out = env.hearth_ok(
        &env.work.path().join("unused"),
        &["debug", "info", &format!("--addr={addr}")],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!("Engine:           daemon at {addr}")),
        "{text}"
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {text}"))
}
