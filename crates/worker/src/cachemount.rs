//! Persistent cache mounts (`RUN --mount=type=cache`): directories kept across builds
//! under the store, never part of an image.
//!
//! Sharing follows BuildKit: `shared` lets concurrent steps use the same directory,
//! `locked` makes them take turns, and `private` gives a step the directory if nobody
//! else has it and a fresh, throwaway one otherwise.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hearth_core::Digest;
use hearth_graph::op::CacheSharing;
use tokio::sync::OwnedMutexGuard;

use crate::Error;

/// All cache mount directories of a store.
#[derive(Debug)]
pub(crate) struct CacheMounts {
    root: PathBuf,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A cache directory in use by one step.
#[derive(Debug)]
pub(crate) struct CacheMountGuard {
    /// The directory to mount.
    pub(crate) path: PathBuf,
    _lock: Option<OwnedMutexGuard<()>>,
    throwaway: bool,
}

impl Drop for CacheMountGuard {
    fn drop(&mut self) {
        if self.throwaway {
            let _ = hearth_fsroot::remove_tree(&self.path);
        }
    }
}

impl CacheMounts {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self {
            root,
            locks: Mutex::new(HashMap::new()),
        }
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = match self.locks.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(locks.entry(id.to_owned()).or_default())
    }

    /// Where cache `id` lives; its name is what cache exports call the mount.
    pub(crate) fn dir_for(&self, id: &str) -> PathBuf {
        self.root.join(Digest::of(id.as_bytes()).hex())
    }

    /// The directory for cache `id`, created (from `seed` when given) on first use.
    pub(crate) async fn acquire(
        &self,
        id: &str,
        sharing: CacheSharing,
        seed: Option<&Path>,
    ) -> Result<CacheMountGuard, Error> {
        let dir = self.dir_for(id);
        let (lock, path, throwaway) = match sharing {
            CacheSharing::Shared => (None, dir, false),
            CacheSharing::Locked => (Some(self.lock_for(id).lock_owned().await), dir, false),
            CacheSharing::Private => match self.lock_for(id).try_lock_owned() {
                Ok(guard) => (Some(guard), dir, false),
                Err(_) => {
                    let fresh = self.root.join(format!(
                        "private-{}-{}",
                        Digest::of(id.as_bytes()).short(),
                        crate::random_id()
                    ));
                    (None, fresh, true)
                }
            },
        };
        if !path.exists() {
            create_seeded(&path, seed)?;
        }
        Ok(CacheMountGuard {
            path,
            _lock: lock,
            throwaway,
        })
    }
}

/// Creates a cache directory, copying the seed's contents and its own owner and mode
/// (how `uid=`, `gid=` and `mode=` reach the cache).
fn create_seeded(path: &Path, seed: Option<&Path>) -> Result<(), Error> {
    let tmp = path.with_extension(format!("tmp-{}", crate::random_id()));
    fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    if let Some(seed) = seed.filter(|s| s.is_dir()) {
        copy_tree(seed, &tmp)?;
        let meta = fs::metadata(seed).map_err(|e| Error::io(seed, e))?;
        rustix::fs::chown(
            &tmp,
            Some(rustix::fs::Uid::from_raw(meta.uid())),
            Some(rustix::fs::Gid::from_raw(meta.gid())),
        )
        .map_err(|e| Error::io(&tmp, e.into()))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| Error::io(&tmp, e))?;
    }
    match fs::rename(&tmp, path) {
        Ok(()) => Ok(()),
        // Another step created it first; use theirs.
        Err(_) if path.is_dir() => {
            let _ = hearth_fsroot::remove_tree(&tmp);
            Ok(())
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    for entry in walkdir::WalkDir::new(from).min_depth(1) {
        let entry = entry.map_err(|e| Error::io(from, std::io::Error::other(e.to_string())))?;
        let Ok(rel) = entry.path().strip_prefix(from) else {
            continue;
        };
        let dest = to.join(rel);
        let meta = entry
            .path()
            .symlink_metadata()
            .map_err(|e| Error::io(entry.path(), e))?;
        if meta.is_dir() {
            fs::create_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            std::os::unix::fs::symlink(target, &dest).map_err(|e| Error::io(&dest, e))?;
            continue;
        } else {
            fs::copy(entry.path(), &dest).map_err(|e| Error::io(&dest, e))?;
        }
        let _ = rustix::fs::chown(
            &dest,
            Some(rustix::fs::Uid::from_raw(meta.uid())),
            Some(rustix::fs::Gid::from_raw(meta.gid())),
        );
        let _ = fs::set_permissions(&dest, fs::Permissions::from_mode(meta.mode() & 0o7777));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shared_persists_locked_serialises_private_splits() {
        let root = tempfile::tempdir().unwrap();
        let mounts = CacheMounts::new(root.path().to_path_buf());
        let first = mounts
            .acquire("/root/.cache", CacheSharing::Shared, None)
            .await
            .unwrap();
        fs::write(first.path.join("kept"), "x").unwrap();
        drop(first);
        let again = mounts
            .acquire("/root/.cache", CacheSharing::Shared, None)
            .await
            .unwrap();
        assert!(again.path.join("kept").exists(), "contents persist");

        let held = mounts
            .acquire("p", CacheSharing::Private, None)
            .await
            .unwrap();
        let other = mounts
            .acquire("p", CacheSharing::Private, None)
            .await
            .unwrap();
        assert_ne!(
            held.path, other.path,
            "a busy private cache gives a fresh directory"
        );
        let throwaway = other.path.clone();
        drop(other);
        assert!(!throwaway.exists());

        let locked = mounts
            .acquire("l", CacheSharing::Locked, None)
            .await
            .unwrap();
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            mounts.acquire("l", CacheSharing::Locked, None),
        )
        .await;
        assert!(waiting.is_err(), "a locked cache waits for its holder");
        drop(locked);
        assert!(
            mounts
                .acquire("l", CacheSharing::Locked, None)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_seed_gives_contents_owner_and_mode() {
        let root = tempfile::tempdir().unwrap();
        let seed = tempfile::tempdir().unwrap();
        fs::write(seed.path().join("f"), "seeded").unwrap();
        rustix::fs::chown(
            seed.path(),
            Some(rustix::fs::Uid::from_raw(1000)),
            Some(rustix::fs::Gid::from_raw(1000)),
        )
        .unwrap();
        fs::set_permissions(seed.path(), fs::Permissions::from_mode(0o750)).unwrap();
        let mounts = CacheMounts::new(root.path().to_path_buf());
        let g = mounts
            .acquire("seeded", CacheSharing::Shared, Some(seed.path()))
            .await
            .unwrap();
        let meta = fs::metadata(&g.path).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (1000, 1000, 0o750)
        );
        assert_eq!(fs::read_to_string(g.path.join("f")).unwrap(), "seeded");
    }
}
