//! The build context: synced into the store, then read by COPY and bind mounts.
//!
//! Each context directory gets a persistent copy in the store, filtered by
//! `.dockerignore` and limited to the paths the build reads, with every file owned by
//! root (what BuildKit's file sync produces). Syncing compares each file's size,
//! modification time, inode and mode with what the last sync saw and copies only what
//! changed, so an unchanged context costs one directory walk. Cache keys of steps that
//! read the context are digests of exactly the files they select.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_core::Digest;
use hearth_dockerignore::walk::{ContextFilter, walk_filtered};
use hearth_graph::op::LocalSource;
use hearth_solver::Job;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::copywriter::CopyWriter;
use crate::{Error, Host, LocalContext, Ref, Session};

/// A synced context, as one build sees it.
#[derive(Debug)]
pub struct ContextView {
    /// The synced copy.
    pub dir: PathBuf,
    /// Files synced, changed or removed by this sync (for progress and tests).
    pub stats: SyncStats,
    /// What the sync saw, with content digests.
    pub(crate) index: Arc<BTreeMap<String, Seen>>,
}

/// What a sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Entries in the synced copy.
    pub entries: u64,
    /// Files copied because they were new or changed.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Entries removed because they are gone, ignored or not needed.
    pub removed: u64,
}

/// What the last sync saw of one context entry, and the content digest of a regular
/// file, computed while copying it: each file is read once per change, never on a sync
/// or cache-key computation that finds it unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Seen {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i128,
    pub(crate) ino: u64,
    pub(crate) mode: u32,
    pub(crate) link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sha256: Option<Digest>,
}

impl Seen {
    fn of(meta: &fs::Metadata, link: Option<String>) -> Self {
        Self {
            size: meta.len(),
            mtime_ns: mtime_ns(meta),
            ino: meta.ino(),
            mode: meta.mode(),
            link,
            sha256: None,
        }
    }

    /// Whether the source file is the one seen before (the digest is not compared).
    fn same_file(&self, other: &Self) -> bool {
        (self.size, self.mtime_ns, self.ino, self.mode, &self.link)
            == (
                other.size,
                other.mtime_ns,
                other.ino,
                other.mode,
                &other.link,
            )
    }
}

fn mtime_ns(meta: &fs::Metadata) -> i128 {
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

/// The content digests of a synced context's files, for cache keys.
pub(crate) struct SyncedDigests<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) index: &'a BTreeMap<String, Seen>,
}

impl hearth_fileops::ContentDigests for SyncedDigests<'_> {
    fn sha256(&self, path: &Path, meta: &fs::Metadata) -> Option<[u8; 32]> {
        let rel = path.strip_prefix(self.dir).ok()?.to_str()?;
        let seen = self.index.get(rel)?;
        // The synced copy carries the source's size and time; anything else means it
        // is not the version the digest was taken of.
        if seen.size != meta.len() || seen.mtime_ns != mtime_ns(meta) {
            return None;
        }
        seen.sha256.map(|d| *d.as_bytes())
    }
}

const INDEX_PREFIX: &str = "context-index/";

/// A synced copy of a context: its directory and the key of its index in the store.
pub(crate) struct SyncedCopy {
    pub(crate) dir: PathBuf,
    key: String,
}

impl SyncedCopy {
    /// The copy named `id` (local and remote contexts get distinct ids).
    pub(crate) fn new(host: &Host, id: &Digest) -> Self {
        Self {
            dir: host.contexts_dir().join(id.hex()),
            key: format!("{INDEX_PREFIX}{}", id.hex()),
        }
    }

    /// What the last sync recorded; empty for a new copy (or an unreadable index, which
    /// only costs a full sync).
    pub(crate) fn load_index(
        &self,
        store: &hearth_store::Store,
    ) -> Result<BTreeMap<String, Seen>, Error> {
        Ok(store
            .read()?
            .kv_get(&self.key)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default())
    }

    /// Records `index` unless it equals `previous` (an unchanged context writes nothing).
    pub(crate) fn save_index(
        &self,
        store: &hearth_store::Store,
        index: &BTreeMap<String, Seen>,
        previous: &BTreeMap<String, Seen>,
    ) -> Result<(), Error> {
        if index == previous {
            return Ok(());
        }
        let bytes = serde_json::to_vec(index).map_err(|e| Error::Key(e.to_string()))?;
        let mut txn = store.write()?;
        txn.kv_put(&self.key, &bytes)?;
        txn.commit()?;
        Ok(())
    }
}

/// Syncs the local directory the source names and returns the synced view.
pub(crate) async fn sync(
    host: &Host,
    session: &Session,
    source: &LocalSource,
    job: &Job,
) -> Result<Ref, Error> {
    let local = session
        .locals
        .get(&source.name)
        .cloned()
        .ok_or_else(|| Error::NoLocal(source.name.clone()))?;
    let src = match local {
        LocalContext::Dir(dir) => dir,
        LocalContext::Remote(remote) => {
            return crate::remote::sync(host, &remote, source, job).await;
        }
    };
    let src = fs::canonicalize(&src).map_err(|e| Error::io(&src, e))?;
    let id = Digest::of(format!("{}\0{}", src.display(), source.name).as_bytes());
    let copy = SyncedCopy::new(host, &id);
    let dest = copy.dir.clone();
    let store = host.store.clone();
    let excludes = source.exclude_patterns.clone();
    let follow = source.follow_paths.clone();
    let (index, stats) = tokio::task::spawn_blocking(
        move || -> Result<(BTreeMap<String, Seen>, SyncStats), Error> {
            let previous = copy.load_index(&store)?;
            let (index, stats) = sync_dir(&src, &copy.dir, &excludes, &follow, &previous)?;
            copy.save_index(&store, &index, &previous)?;
            Ok((index, stats))
        },
    )
    .await
    .map_err(|source| Error::Task {
        what: "context sync task",
        source,
    })??;
    job.progress.status(format!(
        "transferring {}: {} files, {} changed ({} bytes)",
        source.name, stats.entries, stats.copied, stats.bytes
    ));
    Ok(Ref::Context(Arc::new(ContextView {
        dir: dest,
        stats,
        index: Arc::new(index),
    })))
}

fn sync_dir(
    src: &Path,
    dest: &Path,
    excludes: &[String],
    follow_paths: &[String],
    previous: &BTreeMap<String, Seen>,
) -> Result<(BTreeMap<String, Seen>, SyncStats), Error> {
    let mut filter = ContextFilter::new(excludes, follow_paths)?;
    let mut copy = CopyWriter::open(dest).map_err(|e| Error::io(dest, e))?;
    let mut index = BTreeMap::new();
    let mut stats = SyncStats::default();
    let mut dir_times: Vec<(String, i128)> = Vec::new();
    walk_filtered(src, &mut filter, |rel, path, meta| -> Result<(), Error> {
        let link = if meta.file_type().is_symlink() {
            Some(
                fs::read_link(path)
                    .map_err(|e| Error::io(path, e))?
                    .to_string_lossy()
                    .into_owned(),
            )
        } else {
            None
        };
        let mut seen = Seen::of(meta, link.clone());
        let in_copy = copy
            .lstat(rel)
            .map_err(|e| Error::io(&dest.join(rel), e))?
            .is_some_and(|st| st.st_mode & 0o170_000 == meta.mode() & 0o170_000);
        let before = previous.get(rel).filter(|p| in_copy && p.same_file(&seen));
        match before {
            Some(before) => seen.sha256 = before.sha256,
            None => {
                seen.sha256 = copy_entry(&mut copy, path, rel, meta, link.as_deref(), &mut stats)
                    .map_err(|e| Error::io(&dest.join(rel), e))?;
            }
        }
        if meta.is_file() && seen.sha256.is_none() {
            // An index from before digests were kept: hash the synced copy once.
            seen.sha256 =
                Some(hash_copied(&mut copy, rel).map_err(|e| Error::io(&dest.join(rel), e))?);
        }
        if meta.is_dir() {
            dir_times.push((rel.to_owned(), mtime_ns(meta)));
        }
        stats.entries += 1;
        index.insert(rel.to_owned(), seen);
        Ok(())
    })?;
    // Remove what is no longer part of the context (including files a killed sync left
    // half-written), deepest first.
    let mut stale: Vec<String> = Vec::new();
    for entry in walkdir::WalkDir::new(dest)
        .min_depth(1)
        .contents_first(true)
    {
        let Ok(entry) = entry else { continue };
        let Ok(rel) = entry.path().strip_prefix(dest) else {
            continue;
        };
        let rel = rel.to_string_lossy();
        if !index.contains_key(rel.as_ref()) {
            stale.push(rel.into_owned());
        }
    }
    for rel in stale {
        if copy
            .remove(&rel)
            .map_err(|e| Error::io(&dest.join(&rel), e))?
        {
            stats.removed += 1;
        }
    }
    // Directory times last: writing into a directory changes them. A sync that wrote
    // and removed nothing left every time as the last one set it.
    if stats.copied > 0 || stats.removed > 0 {
        for (dir, mtime) in dir_times.iter().rev() {
            copy.set_dir_mtime(dir, *mtime);
        }
    }
    Ok((index, stats))
}

/// The digest of a file already in the copy.
fn hash_copied(copy: &mut CopyWriter, rel: &str) -> io::Result<Digest> {
    let mut file = copy
        .open_file(rel)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not a regular file"))?;
    let mut hasher = sha2::Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(Digest::from_sha256_bytes(hasher.finalize().into()))
}

/// Copies one entry into the synced tree, owned by root with the source's mode and
/// modification time; returns a regular file's content digest.
fn copy_entry(
    copy: &mut CopyWriter,
    src: &Path,
    rel: &str,
    meta: &fs::Metadata,
    link: Option<&str>,
    stats: &mut SyncStats,
) -> io::Result<Option<Digest>> {
    let mut digest = None;
    if let Some(target) = link {
        copy.symlink(rel, target)?;
    } else if meta.is_dir() {
        copy.dir(rel, meta.mode())?;
    } else if meta.is_file() {
        let mut input = fs::File::open(src)?;
        let (bytes, sha) = copy.file(rel, meta.mode(), mtime_ns(meta), &mut input)?;
        stats.bytes += bytes;
        digest = Some(sha);
    } else {
        // Sockets, fifos and devices are not part of a build context.
        return Ok(None);
    }
    stats.copied += 1;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_fileops::{ChecksumOptions, checksum_cached};

    fn write(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    #[test]
    fn sync_copies_filters_and_updates_incrementally() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        write(src.path(), "a.txt", "a");
        write(src.path(), "logs/x.log", "log");
        write(src.path(), "keep.log", "keep");
        write(src.path(), "dir/b.txt", "b");
        let excludes = vec![
            "*.log".to_owned(),
            "logs".to_owned(),
            "!keep.log".to_owned(),
        ];
        let (index, stats) =
            sync_dir(src.path(), dest.path(), &excludes, &[], &BTreeMap::new()).unwrap();
        assert_eq!(stats.copied, 4, "a.txt, dir, dir/b.txt, keep.log");
        assert!(dest.path().join("keep.log").exists());
        assert!(!dest.path().join("logs").exists());
        let (index2, stats2) = sync_dir(src.path(), dest.path(), &excludes, &[], &index).unwrap();
        assert_eq!(stats2.copied, 0, "nothing changed");
        assert_eq!(index, index2);
        write(src.path(), "a.txt", "changed");
        fs::remove_file(src.path().join("dir/b.txt")).unwrap();
        let (_, stats3) = sync_dir(src.path(), dest.path(), &excludes, &[], &index2).unwrap();
        assert_eq!(
            (stats3.copied, stats3.removed),
            (2, 1),
            "a.txt and its directory's entry for dir; b.txt removed"
        );
        assert_eq!(
            fs::read_to_string(dest.path().join("a.txt")).unwrap(),
            "changed"
        );
        assert!(!dest.path().join("dir/b.txt").exists());
    }

    #[test]
    fn synced_files_carry_digests_that_stand_in_for_their_content() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        write(src.path(), "app/main.c", "int main;");
        write(src.path(), "app/util.c", "int util;");
        let (index, _) = sync_dir(src.path(), dest.path(), &[], &[], &BTreeMap::new()).unwrap();
        let main = index.get("app/main.c").and_then(|s| s.sha256);
        assert_eq!(
            main,
            Some(Digest::of(b"int main;")),
            "digest taken while copying"
        );
        let known = SyncedDigests {
            dir: dest.path(),
            index: &index,
        };
        let opts = ChecksumOptions::default();
        assert_eq!(
            checksum_cached(dest.path(), "/app", &opts, Some(&known)).unwrap(),
            hearth_fileops::checksum(dest.path(), "/app", &opts).unwrap()
        );
        // Unchanged files keep their digest on the next sync without being copied again.
        let (again, stats) = sync_dir(src.path(), dest.path(), &[], &[], &index).unwrap();
        assert_eq!(stats.copied, 0);
        assert_eq!(again, index);
        // A synced copy altered behind the index's back is read, not trusted.
        std::fs::write(dest.path().join("app/main.c"), "tampered!").unwrap();
        let known = SyncedDigests {
            dir: dest.path(),
            index: &again,
        };
        assert_eq!(
            checksum_cached(dest.path(), "/app", &opts, Some(&known)).unwrap(),
            hearth_fileops::checksum(dest.path(), "/app", &opts).unwrap()
        );
    }

    #[test]
    fn wildcards_inside_follow_paths_reach_their_directories() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        write(src.path(), "sub/x/leaf", "1");
        write(src.path(), "sub/y/leaf", "2");
        write(src.path(), "sub/y/other", "3");
        write(src.path(), "deep/a/b/c.txt", "4");
        write(src.path(), "skip/a.txt", "5");
        let follow = ["sub/*/leaf".to_owned(), "deep/**/c.txt".to_owned()];
        let (index, _) = sync_dir(src.path(), dest.path(), &[], &follow, &BTreeMap::new()).unwrap();
        let names: Vec<&String> = index.keys().collect();
        assert_eq!(
            names,
            vec![
                "deep",
                "deep/a",
                "deep/a/b",
                "deep/a/b/c.txt",
                "sub",
                "sub/x",
                "sub/x/leaf",
                "sub/y",
                "sub/y/leaf"
            ]
        );
    }

    #[test]
    fn follow_paths_limit_what_is_synced() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        write(src.path(), "app/main.c", "c");
        write(src.path(), "docs/big.pdf", "pdf");
        write(src.path(), "top.txt", "t");
        let (index, _) = sync_dir(
            src.path(),
            dest.path(),
            &[],
            &["app".to_owned(), "top.txt".to_owned()],
            &BTreeMap::new(),
        )
        .unwrap();
        let names: Vec<&String> = index.keys().collect();
        assert_eq!(names, vec!["app", "app/main.c", "top.txt"]);
    }

    #[test]
    fn a_re_included_file_brings_its_ignored_directory_with_its_metadata() {
        use std::os::unix::fs::PermissionsExt as _;
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        write(src.path(), "docs/big.md", "big");
        write(src.path(), "docs/keep.md", "keep");
        write(src.path(), "top.txt", "t");
        fs::set_permissions(src.path().join("docs"), fs::Permissions::from_mode(0o750)).unwrap();
        let excludes = vec!["docs".to_owned(), "!docs/keep.md".to_owned()];
        let (index, _) =
            sync_dir(src.path(), dest.path(), &excludes, &[], &BTreeMap::new()).unwrap();
        let names: Vec<&String> = index.keys().collect();
        assert_eq!(names, vec!["docs", "docs/keep.md", "top.txt"]);
        assert_eq!(
            fs::read_to_string(dest.path().join("docs/keep.md")).unwrap(),
            "keep"
        );
        assert_eq!(
            fs::metadata(dest.path().join("docs")).unwrap().mode() & 0o7777,
            0o750,
            "the directory is the context's, not a default one"
        );
        // Unchanged on the next sync.
        let (again, stats) = sync_dir(src.path(), dest.path(), &excludes, &[], &index).unwrap();
        assert_eq!((stats.copied, stats.removed), (0, 0));
        assert_eq!(again, index);
    }

    #[test]
    fn a_link_in_the_copy_is_replaced_never_written_through() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        fs::write(host.path().join("f"), "host").unwrap();
        std::os::unix::fs::symlink(host.path(), src.path().join("d")).unwrap();
        let (index, _) = sync_dir(src.path(), dest.path(), &[], &[], &BTreeMap::new()).unwrap();
        // The context's link becomes a directory holding `f`.
        fs::remove_file(src.path().join("d")).unwrap();
        write(src.path(), "d/f", "ctx");
        sync_dir(src.path(), dest.path(), &[], &[], &index).unwrap();
        assert_eq!(fs::read_to_string(host.path().join("f")).unwrap(), "host");
        assert_eq!(fs::read_to_string(dest.path().join("d/f")).unwrap(), "ctx");
    }
}
