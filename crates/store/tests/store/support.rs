//! Helpers shared by the store tests: opening, listing directories, and running this test
//! binary again as a second process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearth_store::{Store, StoreOptions};

/// Environment variable that turns a test into the child half of a two-process test; its
/// value is the store root the child works on.
pub(crate) const CHILD_ROOT: &str = "HEARTH_STORE_TEST_CHILD_ROOT";

/// Opens `root` without waiting for the lock.
pub(crate) fn open(root: &Path) -> Store {
    Store::open(root, StoreOptions::default()).expect("open store")
}

/// The sorted names in `dir`.
pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The root this process should work on if it is the child half of a test.
pub(crate) fn child_root() -> Option<PathBuf> {
    std::env::var_os(CHILD_ROOT).map(PathBuf::from)
}

/// A child process running one test of this binary; killed (SIGKILL) if still running when
/// dropped, so a failing test does not leave it behind.
pub(crate) struct ChildProcess(pub(crate) Child);

impl ChildProcess {
    /// Sends SIGKILL and reaps the child.
    pub(crate) fn kill(&mut self) {
        let _ = self.0.kill();
        self.0.wait().unwrap();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs test `name` of this binary in a child process working on `root`.
pub(crate) fn spawn_self(name: &str, root: &Path) -> ChildProcess {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD_ROOT, root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    ChildProcess(child)
}

/// Waits until `path` exists; the child creates it to say it is ready. The limit is only
/// there so a broken child fails the test instead of hanging it.
pub(crate) fn wait_for_file(path: &Path, child: &mut ChildProcess) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !path.exists() {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!(
                "child exited with {status} before creating {}",
                path.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "child did not create {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
