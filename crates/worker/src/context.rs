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
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_core::Digest;
use hearth_dockerignore::{DirPruner, MatchInfo, PatternMatcher};
use hearth_graph::op::LocalSource;
use hearth_solver::Job;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

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
    let local = session.locals.get(&source.name).cloned().ok_or_else(|| {
        Error::Unsupported(format!(
            "the build has no local directory named {:?}",
            source.name
        ))
    })?;
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
    .map_err(|e| Error::Unsupported(format!("context sync task failed: {e}")))??;
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

/// The context paths a build reads (BuildKit's follow paths), as matchers.
struct FollowPaths {
    full: Vec<PatternMatcher>,
    /// For each path, matchers of its leading components (`sub/*` for `sub/*/leaf`), to
    /// know which directories lead to a match.
    prefixes: Vec<Vec<PatternMatcher>>,
    /// Paths with a `**` component, which any directory below that point may lead to.
    double_star_at: Vec<usize>,
}

impl FollowPaths {
    fn new(raw: &[String]) -> Self {
        let mut full = Vec::new();
        let mut prefixes = Vec::new();
        let mut double_star_at = Vec::new();
        for path in raw {
            let path = path.trim_start_matches("./").trim_start_matches('/');
            if let Ok(m) = PatternMatcher::new([path]) {
                full.push(m);
            }
            let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            if let Some(i) = components.iter().position(|c| *c == "**") {
                double_star_at.push(i);
            }
            prefixes.push(
                (1..components.len())
                    .filter_map(|k| PatternMatcher::new([components[..k].join("/")]).ok())
                    .collect(),
            );
        }
        Self {
            full,
            prefixes,
            double_star_at,
        }
    }

    fn is_empty(&self) -> bool {
        self.full.is_empty() && self.prefixes.is_empty()
    }

    /// Whether `rel` is needed: it matches a path (or is below a match), or it is a
    /// directory on the way to one.
    fn needs(&self, rel: &str, is_dir: bool) -> bool {
        if self.is_empty()
            || self
                .full
                .iter()
                .any(|m| m.matches_or_parent_matches(rel).unwrap_or(false))
        {
            return true;
        }
        if !is_dir {
            return false;
        }
        let depth = rel.split('/').count();
        // A `**` matches any number of directories, so every directory at or below its
        // position may lead to a match.
        if self.double_star_at.iter().any(|&i| i < depth) {
            return true;
        }
        self.prefixes.iter().any(|p| {
            p.get(depth - 1)
                .is_some_and(|m| m.matches_or_parent_matches(rel).unwrap_or(false))
        })
    }
}

/// What the context filter decides for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Part of the synced context.
    Include,
    /// Not part of it, but entries below it may be.
    Skip,
    /// Neither it nor anything below it.
    SkipSubtree,
}

/// `.dockerignore` and follow paths, applied to entries in walk order (a directory before
/// its contents): the one definition of what a synced context holds, whether its files
/// are walked here or listed by a remote client.
pub struct ContextFilter {
    ignore: PatternMatcher,
    pruner: DirPruner,
    follow: FollowPaths,
    infos: BTreeMap<String, MatchInfo>,
}

impl ContextFilter {
    /// A filter for `.dockerignore` patterns and follow paths (empty: everything).
    pub fn new(excludes: &[String], follow_paths: &[String]) -> Result<Self, Error> {
        let ignore = PatternMatcher::new(excludes)
            .map_err(|e| Error::Unsupported(format!("invalid .dockerignore: {e}")))?;
        Ok(Self {
            pruner: DirPruner::new(&ignore),
            ignore,
            follow: FollowPaths::new(follow_paths),
            infos: BTreeMap::new(),
        })
    }

    /// The decision for `rel`, given in walk order (a directory before its entries).
    pub fn decide(&mut self, rel: &str, is_dir: bool) -> Result<Decision, Error> {
        let parent_info = Path::new(rel)
            .parent()
            .and_then(|p| self.infos.get(p.to_string_lossy().as_ref()))
            .cloned()
            .unwrap_or_default();
        let (ignored, info) = self
            .ignore
            .matches_using_parent_results(rel, &parent_info)
            .map_err(|e| Error::Unsupported(format!("invalid .dockerignore: {e}")))?;
        if is_dir {
            self.infos.insert(rel.to_owned(), info);
        }
        if ignored {
            let prunable = is_dir && self.pruner.can_skip(rel);
            return Ok(if prunable {
                Decision::SkipSubtree
            } else {
                Decision::Skip
            });
        }
        if !self.follow.needs(rel, is_dir) {
            return Ok(if is_dir {
                Decision::SkipSubtree
            } else {
                Decision::Skip
            });
        }
        Ok(Decision::Include)
    }
}

/// Walks `root` in the order builds see a context (sorted by name, a directory before
/// its entries) and calls `visit` with the path below `root`, the full path and the
/// entry's own metadata (links not followed) for every entry `filter` includes, skipping
/// whole subtrees where it can. Local syncs and a daemon's client list contexts with it.
pub fn walk_filtered<E: From<Error>>(
    root: &Path,
    filter: &mut ContextFilter,
    mut visit: impl FnMut(&str, &Path, &fs::Metadata) -> Result<(), E>,
) -> Result<(), E> {
    let mut walker = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walker.next() {
        let entry = entry.map_err(|e| Error::io(root, io::Error::other(e.to_string())))?;
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        match filter.decide(&rel, entry.file_type().is_dir())? {
            Decision::Include => {}
            Decision::Skip => continue,
            Decision::SkipSubtree => {
                walker.skip_current_dir();
                continue;
            }
        }
        let meta = entry
            .path()
            .symlink_metadata()
            .map_err(|e| Error::io(entry.path(), e))?;
        visit(&rel, entry.path(), &meta)?;
    }
    Ok(())
}

fn sync_dir(
    src: &Path,
    dest: &Path,
    excludes: &[String],
    follow_paths: &[String],
    previous: &BTreeMap<String, Seen>,
) -> Result<(BTreeMap<String, Seen>, SyncStats), Error> {
    let mut filter = ContextFilter::new(excludes, follow_paths)?;
    fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    let mut index = BTreeMap::new();
    let mut stats = SyncStats::default();
    let mut dir_times: Vec<(PathBuf, fs::Metadata)> = Vec::new();
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
        let target = dest.join(rel);
        let before = previous
            .get(rel)
            .filter(|p| p.same_file(&seen) && target.symlink_metadata().is_ok());
        match before {
            Some(before) => seen.sha256 = before.sha256,
            None => seen.sha256 = copy_entry(path, &target, meta, link.as_deref(), &mut stats)?,
        }
        if meta.is_file() && seen.sha256.is_none() {
            // An index from before digests were kept: hash the synced copy once.
            seen.sha256 = Some(hash_file(&target)?);
        }
        if meta.is_dir() {
            dir_times.push((target, meta.clone()));
        }
        stats.entries += 1;
        index.insert(rel.to_owned(), seen);
        Ok(())
    })?;
    // Remove what is no longer part of the context, deepest first.
    let mut stale: Vec<PathBuf> = Vec::new();
    for entry in walkdir::WalkDir::new(dest)
        .min_depth(1)
        .contents_first(true)
    {
        let Ok(entry) = entry else { continue };
        let Ok(rel) = entry.path().strip_prefix(dest) else {
            continue;
        };
        if !index.contains_key(rel.to_string_lossy().as_ref()) {
            stale.push(entry.path().to_path_buf());
        }
    }
    for path in stale {
        let removed = match path.symlink_metadata() {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
            Err(_) => continue,
        };
        removed.map_err(|e| Error::io(&path, e))?;
        stats.removed += 1;
    }
    // Directory times last: writing into a directory changes them.
    for (dir, meta) in dir_times.iter().rev() {
        set_mtime(dir, meta);
    }
    Ok((index, stats))
}

fn set_mtime(path: &Path, meta: &fs::Metadata) {
    let mtime = filetime_of(meta);
    if let Ok(f) = fs::File::open(path) {
        let _ = f.set_times(fs::FileTimes::new().set_modified(mtime).set_accessed(mtime));
    }
}

fn filetime_of(meta: &fs::Metadata) -> std::time::SystemTime {
    meta.modified().unwrap_or(std::time::UNIX_EPOCH)
}

fn hash_file(path: &Path) -> Result<Digest, Error> {
    let mut file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    Ok(Digest::from_sha256_bytes(hasher.finalize().into()))
}

/// Copies a regular file's bytes to `dest`, hashing them on the way.
fn copy_hashing(src: &Path, dest: &Path) -> Result<(u64, Digest), Error> {
    use std::io::{Read, Write};
    let mut input = fs::File::open(src).map_err(|e| Error::io(src, e))?;
    let mut output = fs::File::create(dest).map_err(|e| Error::io(dest, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(|e| Error::io(src, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .map_err(|e| Error::io(dest, e))?;
        total += n as u64;
    }
    Ok((total, Digest::from_sha256_bytes(hasher.finalize().into())))
}

/// Copies one entry into the synced tree, owned by root with the source's mode and
/// modification time; returns a regular file's content digest.
fn copy_entry(
    src: &Path,
    dest: &Path,
    meta: &fs::Metadata,
    link: Option<&str>,
    stats: &mut SyncStats,
) -> Result<Option<Digest>, Error> {
    if let Ok(existing) = dest.symlink_metadata() {
        let same_kind = existing.file_type().is_dir() && meta.is_dir();
        if !same_kind {
            let removed = if existing.is_dir() {
                fs::remove_dir_all(dest)
            } else {
                fs::remove_file(dest)
            };
            removed.map_err(|e| Error::io(dest, e))?;
        }
    }
    let io_err = |e| Error::io(dest, e);
    if let Some(target) = link {
        std::os::unix::fs::symlink(target, dest).map_err(io_err)?;
        let _ = rustix::fs::chownat(
            rustix::fs::CWD,
            dest,
            Some(rustix::fs::Uid::ROOT),
            Some(rustix::fs::Gid::ROOT),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        );
        stats.copied += 1;
        return Ok(None);
    }
    let mut digest = None;
    if meta.is_dir() {
        if !dest.is_dir() {
            fs::create_dir(dest).map_err(io_err)?;
        }
    } else if meta.is_file() {
        let tmp = dest.with_file_name(format!(
            ".hearth-sync-{}",
            dest.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let (bytes, sha) = copy_hashing(src, &tmp)?;
        fs::rename(&tmp, dest).map_err(io_err)?;
        stats.bytes += bytes;
        digest = Some(sha);
        let f = fs::File::open(dest).map_err(io_err)?;
        let mtime = filetime_of(meta);
        let _ = f.set_times(fs::FileTimes::new().set_modified(mtime).set_accessed(mtime));
    } else {
        // Sockets, fifos and devices are not part of a build context.
        return Ok(None);
    }
    rustix::fs::chown(
        dest,
        Some(rustix::fs::Uid::ROOT),
        Some(rustix::fs::Gid::ROOT),
    )
    .map_err(|e| Error::io(dest, e.into()))?;
    fs::set_permissions(dest, fs::Permissions::from_mode(meta.mode() & 0o7777)).map_err(io_err)?;
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
}
