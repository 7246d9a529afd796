//! The context as a daemon's client lists it: every entry `.dockerignore` keeps, each
//! regular file with its sha256. Digests come from a per-context stat cache (size,
//! modification time, inode, mode → digest) kept under the user's cache directory, so an
//! unchanged file is not even read; only new or changed files are hashed.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use hearth_api::v1::ContextEntry;
use hearth_core::Digest;
use hearth_dockerignore::walk::{ContextFilter, walk_filtered};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::ClientError;

/// A listed context.
pub struct Listing {
    /// The entries, in walk order.
    pub entries: Vec<ContextEntry>,
    /// Where each digest's content is, for the daemon's requests.
    pub files: HashMap<Digest, PathBuf>,
    /// Files hashed this time (not found unchanged in the cache).
    pub hashed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stat {
    size: u64,
    mtime_ns: i64,
    ino: u64,
    mode: u32,
    digest: Digest,
}

/// A stable name for `context` on this machine, shared by the cache file and the
/// daemon's copy.
pub fn context_id(context: &Path) -> String {
    let host = fs::read_to_string("/etc/machine-id")
        .or_else(|_| fs::read_to_string("/proc/sys/kernel/hostname"))
        .unwrap_or_default();
    Digest::of(format!("{}\0{}", host.trim(), context.display()).as_bytes())
        .hex()
        .to_owned()
}

/// Where the stat cache of context `id` lives.
pub fn cache_file(id: &str) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("hearth")
        .join("contexts")
        .join(format!("{id}.json"))
}

fn mtime_ns(meta: &fs::Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

fn hash(path: &Path) -> io::Result<Digest> {
    let mut file = fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(Digest::from_sha256_bytes(hasher.finalize().into()))
}

/// Lists `context` with `excludes` applied, using and refreshing the stat cache at
/// `cache`.
pub fn scan(context: &Path, excludes: &[String], cache: &Path) -> Result<Listing, ClientError> {
    let previous: BTreeMap<String, Stat> = fs::read(cache)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut filter = ContextFilter::new(excludes, &[])?;
    let mut next = BTreeMap::new();
    let mut entries = Vec::new();
    let mut files = HashMap::new();
    let mut hashed = 0;
    walk_filtered(
        context,
        &mut filter,
        |rel, path, meta| -> Result<(), ClientError> {
            let mut listed = ContextEntry {
                path: rel.to_owned(),
                mode: meta.mode(),
                size: 0,
                mtime_ns: mtime_ns(meta),
                link_target: String::new(),
                digest: String::new(),
            };
            if meta.file_type().is_symlink() {
                listed.link_target = fs::read_link(path)
                    .map_err(|source| ClientError::Io {
                        what: "reading",
                        path: path.to_path_buf(),
                        source,
                    })?
                    .to_string_lossy()
                    .into_owned();
            } else if meta.is_file() {
                listed.size = meta.len();
                let stat = Stat {
                    size: meta.len(),
                    mtime_ns: mtime_ns(meta),
                    ino: meta.ino(),
                    mode: meta.mode(),
                    digest: Digest::of(b""),
                };
                let digest = match previous.get(rel) {
                    Some(seen)
                        if Stat {
                            digest: seen.digest,
                            ..stat.clone()
                        } == *seen =>
                    {
                        seen.digest
                    }
                    _ => {
                        hashed += 1;
                        hash(path).map_err(|source| ClientError::Io {
                            what: "reading",
                            path: path.to_path_buf(),
                            source,
                        })?
                    }
                };
                listed.digest = digest.to_string();
                files.entry(digest).or_insert_with(|| path.to_path_buf());
                next.insert(rel.to_owned(), Stat { digest, ..stat });
            } else if !meta.is_dir() {
                // Sockets, fifos and devices are not part of a build context.
                return Ok(());
            }
            entries.push(listed);
            Ok(())
        },
    )?;
    if next != previous {
        save(cache, &next);
    }
    Ok(Listing {
        entries,
        files,
        hashed,
    })
}

/// Writes the cache; a cache that cannot be written only costs hashing next time.
fn save(cache: &Path, stats: &BTreeMap<String, Stat>) {
    let Some(dir) = cache.parent() else { return };
    if fs::create_dir_all(dir).is_err() {
        return;
    }
    let Ok(bytes) = serde_json::to_vec(stats) else {
        return;
    };
    let tmp = cache.with_extension(format!("tmp-{}", std::process::id()));
    if fs::write(&tmp, bytes).is_ok() && fs::rename(&tmp, cache).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_files_are_not_hashed_again_and_ignored_ones_not_listed() {
        let ctx = tempfile::tempdir().unwrap();
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = cache_dir.path().join("c.json");
        fs::write(ctx.path().join("a.txt"), "alpha").unwrap();
        fs::create_dir(ctx.path().join("logs")).unwrap();
        fs::write(ctx.path().join("logs/x.log"), "noise").unwrap();
        std::os::unix::fs::symlink("a.txt", ctx.path().join("link")).unwrap();
        let excludes = vec!["logs".to_owned()];

        let first = scan(ctx.path(), &excludes, &cache).unwrap();
        let paths: Vec<&str> = first.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["a.txt", "link"]);
        assert_eq!(first.hashed, 1);
        assert_eq!(first.entries[0].digest, Digest::of(b"alpha").to_string());
        assert_eq!(first.entries[1].link_target, "a.txt");
        assert_eq!(
            first.files.get(&Digest::of(b"alpha")),
            Some(&ctx.path().join("a.txt"))
        );

        let second = scan(ctx.path(), &excludes, &cache).unwrap();
        assert_eq!(second.hashed, 0, "the stat cache answered");
        assert_eq!(second.entries, first.entries);

        fs::write(ctx.path().join("a.txt"), "changed!").unwrap();
        let third = scan(ctx.path(), &excludes, &cache).unwrap();
        assert_eq!(third.hashed, 1);
        assert_eq!(third.entries[0].digest, Digest::of(b"changed!").to_string());
    }

    #[test]
    fn context_ids_differ_by_path_and_stay_stable() {
        let a = context_id(Path::new("/src/a"));
        assert_eq!(a, context_id(Path::new("/src/a")));
        assert_ne!(a, context_id(Path::new("/src/b")));
        assert_eq!(a.len(), 64);
    }
}
