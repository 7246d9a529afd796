//! Mount stubs: files and directories that exist only because the runtime needed
//! something to mount onto (`/etc/hosts` in an image without one, the target of a
//! `RUN --mount`). BuildKit removes them after the step when they are still empty, so
//! they never reach the image, and restores the parent directory's times; hearth does
//! the same. Paths that already existed, or that the step filled, are left alone.

use std::fs;
use std::path::{Component, Path, PathBuf};

/// Paths recorded before a step runs.
#[derive(Debug, Clone, Default)]
pub struct MountStubs {
    paths: Vec<PathBuf>,
}

/// Resolves `path` (absolute inside the rootfs) to a host path under `rootfs`, or
/// `None` when a component is a symlink or `..`: such a stub is not ours to remove.
fn host_path(rootfs: &Path, path: &str) -> Option<PathBuf> {
    let mut out = rootfs.to_path_buf();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => {
                out.push(name);
                if let Ok(meta) = fs::symlink_metadata(&out)
                    && meta.file_type().is_symlink()
                {
                    return None;
                }
            }
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

impl MountStubs {
    /// Records which mount destinations (and, with `recursive`, which of their parents)
    /// do not exist yet. `/etc/resolv.conf` and `/etc/hosts` are always considered.
    pub fn record<'a>(
        rootfs: &Path,
        destinations: impl IntoIterator<Item = &'a str>,
        recursive: bool,
    ) -> Self {
        let mut paths = Vec::new();
        let fixed = ["/etc/resolv.conf", "/etc/hosts"];
        for dest in fixed.into_iter().chain(destinations) {
            let Some(mut path) = host_path(rootfs, dest) else {
                continue;
            };
            if path == rootfs {
                continue;
            }
            loop {
                if path.symlink_metadata().is_ok() {
                    break;
                }
                paths.push(path.clone());
                if !recursive {
                    break;
                }
                match path.parent() {
                    Some(parent) if parent != rootfs => path = parent.to_path_buf(),
                    _ => break,
                }
            }
        }
        Self { paths }
    }

    /// Removes the recorded paths that are still empty (an empty directory or a
    /// zero-length file), deepest first as recorded, restoring each parent's times.
    pub fn clean(&self) {
        for path in &self.paths {
            let Ok(meta) = fs::symlink_metadata(path) else {
                continue;
            };
            let empty = if meta.is_dir() {
                fs::read_dir(path)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false)
            } else {
                meta.len() == 0
            };
            if !empty {
                continue;
            }
            let Some(parent) = path.parent() else {
                continue;
            };
            let parent_times = fs::metadata(parent)
                .ok()
                .map(|m| (m.accessed().ok(), m.modified().ok()));
            let removed = if meta.is_dir() {
                fs::remove_dir(path)
            } else {
                fs::remove_file(path)
            };
            if removed.is_ok()
                && let Some((Some(atime), Some(mtime))) = parent_times
                && let Ok(dir) = fs::File::open(parent)
            {
                let _ = dir.set_times(fs::FileTimes::new().set_accessed(atime).set_modified(mtime));
            }
        }
    }

    /// The recorded paths (for tests and diagnostics).
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_new_empty_stubs() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/hosts"), "existing\n").unwrap();
        fs::create_dir_all(r.join("existing")).unwrap();
        let stubs = MountStubs::record(r, ["/mnt/cache/deep", "/existing", "/filled"], true);
        // The runtime creates the stubs.
        fs::write(r.join("etc/resolv.conf"), "").unwrap();
        fs::create_dir_all(r.join("mnt/cache/deep")).unwrap();
        fs::create_dir_all(r.join("filled")).unwrap();
        fs::write(r.join("filled/data"), "x").unwrap();
        stubs.clean();
        assert!(!r.join("etc/resolv.conf").exists());
        assert_eq!(
            fs::read_to_string(r.join("etc/hosts")).unwrap(),
            "existing\n"
        );
        assert!(
            !r.join("mnt").exists(),
            "recursive removal takes the created parents too"
        );
        assert!(r.join("existing").exists());
        assert!(r.join("filled/data").exists());
    }

    #[test]
    fn non_recursive_keeps_parents_and_symlinks_are_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::os::unix::fs::symlink("/tmp", r.join("link")).unwrap();
        let stubs = MountStubs::record(r, ["/a/b", "/link/x"], false);
        assert_eq!(
            stubs
                .paths()
                .iter()
                .map(|p| p.strip_prefix(r).unwrap().to_path_buf())
                .collect::<Vec<_>>(),
            vec![
                PathBuf::from("etc/resolv.conf"),
                PathBuf::from("etc/hosts"),
                PathBuf::from("a/b")
            ]
        );
        fs::create_dir_all(r.join("a/b")).unwrap();
        stubs.clean();
        assert!(!r.join("a/b").exists());
        assert!(r.join("a").exists());
    }
}
