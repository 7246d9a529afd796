//! Contexts that live on a daemon's client: the client lists its context (path, mode,
//! size, modification time, symlink target and, for regular files, the sha256 it keeps
//! in its own stat cache), and the worker brings its synced copy in line with that list,
//! asking the client only for contents the copy has nowhere. An unchanged context costs
//! one list and no file bytes; a renamed file costs a local copy.
//!
//! Contents arrive by digest and are verified by the fetcher before they are used, so a
//! client cannot make the copy (or the cache keys derived from the index) lie about a
//! file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use hearth_core::Digest;
use hearth_graph::op::LocalSource;
use hearth_solver::Job;

use hearth_dockerignore::walk::{ContextFilter, Decision, SkippedParents};

use crate::context::{ContextView, Seen, SyncStats, SyncedCopy};
use crate::copywriter::{self, CopyWriter};
use crate::{Error, Host, Ref};

/// One entry of a client's context listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// The path below the context root, `/`-separated, without a leading `./`.
    pub path: String,
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    /// Size in bytes (regular files).
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// A symlink's target.
    pub link: Option<String>,
    /// A regular file's content digest.
    pub digest: Option<Digest>,
}

impl RemoteEntry {
    fn kind(&self) -> u32 {
        self.mode & 0o170_000
    }

    fn is_dir(&self) -> bool {
        self.kind() == 0o040_000
    }

    fn is_file(&self) -> bool {
        self.kind() == 0o100_000
    }

    fn is_symlink(&self) -> bool {
        self.kind() == 0o120_000
    }
}

/// A future a fetcher returns.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Gets file contents from the client.
pub trait FileFetcher: Send + Sync {
    /// Writes the content of each of `digests` to `dir/<hex digest>`, verified against its
    /// digest; an error says why the client could not deliver.
    fn fetch<'a>(&'a self, digests: Vec<Digest>, dir: &'a Path) -> FetchFuture<'a>;
}

/// A context directory on a client.
#[derive(Clone)]
pub struct RemoteContext {
    /// Identifies the client's directory across builds, so its synced copy is reused.
    pub id: String,
    /// The client's listing, in path order.
    pub entries: Arc<Vec<RemoteEntry>>,
    /// Where missing contents come from.
    pub fetcher: Arc<dyn FileFetcher>,
}

impl fmt::Debug for RemoteContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteContext")
            .field("id", &self.id)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Syncs the store's copy of `remote` for `source` and returns the view.
pub(crate) async fn sync(
    host: &Host,
    remote: &RemoteContext,
    source: &LocalSource,
    job: &Job,
) -> Result<Ref, Error> {
    let id = Digest::of(format!("remote\0{}\0{}", remote.id, source.name).as_bytes());
    let copy = SyncedCopy::new(host, &id);
    let dest = copy.dir.clone();
    let previous = copy.load_index(&host.store)?;
    let wanted = select(
        &remote.entries,
        &source.exclude_patterns,
        &source.follow_paths,
    )?;
    let mut writer = CopyWriter::open(&dest).map_err(|e| Error::io(&dest, e))?;
    let plan = plan(&wanted, &previous, &mut writer);
    let incoming =
        host.store
            .tmp_dir()
            .join(format!("context-{}-{}", id.hex(), std::process::id()));
    if !plan.fetch.is_empty() {
        fs::create_dir_all(&incoming).map_err(|e| Error::io(&incoming, e))?;
        job.progress.status(format!(
            "transferring {}: {} files from the client",
            source.name,
            plan.fetch.len()
        ));
        let fetched = remote
            .fetcher
            .fetch(plan.fetch.clone(), &incoming)
            .await
            .map_err(|e| Error::ClientTransfer(format!("transferring the context failed: {e}")));
        if let Err(e) = fetched {
            let _ = hearth_fsroot::remove_tree(&incoming);
            return Err(e);
        }
    }
    let incoming_for_task = incoming.clone();
    let store = host.store.clone();
    let (index, stats) = tokio::task::spawn_blocking(move || {
        let applied = apply(&wanted, &previous, &mut writer, &incoming_for_task, &plan);
        let _ = hearth_fsroot::remove_tree(&incoming_for_task);
        let (index, stats) = applied?;
        copy.save_index(&store, &index, &previous)?;
        Ok::<_, Error>((index, stats))
    })
    .await
    .map_err(|source| Error::Task {
        what: "context sync task",
        source,
    })??;
    job.progress.status(format!(
        "transferring {}: {} files, {} changed ({} bytes from the client)",
        source.name, stats.entries, stats.copied, stats.bytes
    ));
    Ok(Ref::Context(Arc::new(ContextView {
        dir: dest,
        stats,
        index: Arc::new(index),
    })))
}

/// The entries the build reads, as the local walk would select them.
fn select(
    entries: &[RemoteEntry],
    excludes: &[String],
    follow_paths: &[String],
) -> Result<Vec<RemoteEntry>, Error> {
    let mut filter = ContextFilter::new(excludes, follow_paths)?;
    let mut sorted: Vec<&RemoteEntry> = entries.iter().collect();
    // Walk order: a directory's entries follow it directly, sorted by name.
    sorted.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    let mut skipped: Option<String> = None;
    let mut skipped_parents = SkippedParents::new();
    // In walk order whatever lies below a path follows it directly, so only the last
    // symlink seen can be above an entry.
    let mut last_symlink: Option<&str> = None;
    let mut out = Vec::new();
    for entry in sorted {
        // Nothing can live below a symlink in a real directory; an entry that claims to
        // would be written through the link, outside the copy.
        let below_link = last_symlink.is_some_and(|l| {
            entry.path.starts_with(l) && entry.path.as_bytes().get(l.len()) == Some(&b'/')
        });
        if !safe_path(&entry.path) || below_link {
            return Err(Error::ClientInput(format!(
                "the client listed an invalid context path {:?}",
                entry.path
            )));
        }
        if entry.is_symlink() {
            last_symlink = Some(&entry.path);
        }
        if let Some(prefix) = &skipped {
            if entry.path.starts_with(prefix.as_str()) {
                continue;
            }
            skipped = None;
        }
        skipped_parents.enter(&entry.path);
        match filter.decide(&entry.path, entry.is_dir())? {
            Decision::Include => {
                out.extend(skipped_parents.include().map(|(_, dir)| dir));
                out.push(entry.clone());
            }
            Decision::Skip if entry.is_dir() => skipped_parents.skip(&entry.path, entry.clone()),
            Decision::Skip => {}
            Decision::SkipSubtree => skipped = Some(format!("{}/", entry.path)),
        }
    }
    Ok(out)
}

/// A relative path with no `.`/`..`/empty components.
fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

fn seen_of(entry: &RemoteEntry) -> Seen {
    Seen {
        size: entry.size,
        mtime_ns: entry.mtime_ns,
        // The client's inode means nothing here; the digest identifies the content.
        ino: 0,
        mode: entry.mode,
        link: entry.link.clone(),
        sha256: entry.digest,
    }
}

/// What a sync has to do.
struct Plan {
    /// Paths whose synced copy is already right.
    unchanged: Vec<bool>,
    /// Contents to ask the client for, each once, in listing order.
    fetch: Vec<Digest>,
    /// The same, for lookups: a context of many distinct files must not cost a scan
    /// of this list per file.
    fetching: HashSet<Digest>,
    /// Contents already in the copy, at a path that stays: digest → that path.
    local: HashMap<Digest, String>,
}

/// Whether the copy's entry at `path` is still the one `seen` describes (a sync killed
/// halfway may have replaced it without recording so).
fn on_disk(copy: &mut CopyWriter, path: &str, seen: &Seen) -> bool {
    let Ok(Some(st)) = copy.lstat(path) else {
        return false;
    };
    let kind = st.st_mode & 0o170_000;
    if kind != seen.mode & 0o170_000 {
        return false;
    }
    kind != 0o100_000
        || (u64::try_from(st.st_size).ok() == Some(seen.size)
            && copywriter::mtime_ns(&st) == seen.mtime_ns)
}

fn plan(wanted: &[RemoteEntry], previous: &BTreeMap<String, Seen>, copy: &mut CopyWriter) -> Plan {
    let mut unchanged = Vec::with_capacity(wanted.len());
    for entry in wanted {
        let seen = seen_of(entry);
        let same = previous.get(&entry.path) == Some(&seen) && on_disk(copy, &entry.path, &seen);
        unchanged.push(same);
    }
    // Any content the copy holds now can be reused, even from a path about to change or
    // go: `apply` stages such copies before it writes anything.
    let mut local = HashMap::new();
    for (path, seen) in previous {
        if let Some(digest) = seen.sha256
            && !local.contains_key(&digest)
            && on_disk(copy, path, seen)
        {
            local.insert(digest, path.clone());
        }
    }
    let mut fetch = Vec::new();
    let mut fetching = HashSet::new();
    for (entry, same) in wanted.iter().zip(&unchanged) {
        if *same || !entry.is_file() {
            continue;
        }
        if let Some(digest) = entry.digest
            && !local.contains_key(&digest)
            && fetching.insert(digest)
        {
            fetch.push(digest);
        }
    }
    Plan {
        unchanged,
        fetch,
        fetching,
        local,
    }
}

fn apply(
    wanted: &[RemoteEntry],
    previous: &BTreeMap<String, Seen>,
    copy: &mut CopyWriter,
    incoming: &Path,
    plan: &Plan,
) -> Result<(BTreeMap<String, Seen>, SyncStats), Error> {
    let mut stats = SyncStats::default();
    let mut index = BTreeMap::new();
    // Copies from paths that stay come first, before any write could replace them.
    let mut staged: HashMap<Digest, PathBuf> = HashMap::new();
    for (entry, same) in wanted.iter().zip(&plan.unchanged) {
        if *same || !entry.is_file() {
            continue;
        }
        let Some(digest) = entry.digest else { continue };
        if staged.contains_key(&digest) {
            continue;
        }
        let arrived = incoming.join(digest.hex());
        if arrived.is_file() {
            staged.insert(digest, arrived);
        } else if let Some(at) = plan.local.get(&digest) {
            let stage = incoming.join(format!("local-{}", digest.hex()));
            fs::create_dir_all(incoming).map_err(|e| Error::io(incoming, e))?;
            let mut from = copy
                .open_file(at)
                .map_err(|e| Error::io(Path::new(at), e))?
                .ok_or_else(|| {
                    Error::ClientTransfer(format!(
                        "the synced context changed while it was read ({at}); run the build again"
                    ))
                })?;
            let mut to = fs::File::create(&stage).map_err(|e| Error::io(&stage, e))?;
            std::io::copy(&mut from, &mut to).map_err(|e| Error::io(&stage, e))?;
            staged.insert(digest, stage);
        }
    }
    let mut dirs: Vec<(&str, i128)> = Vec::new();
    for (entry, same) in wanted.iter().zip(&plan.unchanged) {
        let seen = seen_of(entry);
        let failed = |e| Error::io(Path::new(&entry.path), e);
        if *same {
            if entry.is_dir() {
                dirs.push((&entry.path, entry.mtime_ns));
            }
            stats.entries += 1;
            index.insert(entry.path.clone(), seen);
            continue;
        }
        if entry.is_dir() {
            copy.dir(&entry.path, entry.mode).map_err(failed)?;
            dirs.push((&entry.path, entry.mtime_ns));
        } else if entry.is_symlink() {
            let Some(link) = &entry.link else { continue };
            copy.symlink(&entry.path, link).map_err(failed)?;
        } else if entry.is_file() {
            let digest = entry.digest.ok_or_else(|| {
                Error::ClientInput(format!("the client listed {} without a digest", entry.path))
            })?;
            let from = staged.get(&digest).ok_or_else(|| {
                Error::ClientInput(format!(
                    "the client did not send the content of {}",
                    entry.path
                ))
            })?;
            let mut input = fs::File::open(from).map_err(|e| Error::io(from, e))?;
            let (bytes, _) = copy
                .file(&entry.path, entry.mode, entry.mtime_ns, &mut input)
                .map_err(failed)?;
            if plan.fetching.contains(&digest) {
                stats.bytes += bytes;
            }
        } else {
            // Sockets, fifos and devices are not part of a build context.
            continue;
        }
        stats.copied += 1;
        stats.entries += 1;
        index.insert(entry.path.clone(), seen);
    }
    // What the copy holds beyond the listing goes, deepest first.
    let mut stale: Vec<&String> = previous
        .keys()
        .filter(|p| !index.contains_key(*p))
        .collect();
    stale.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in stale {
        if copy
            .remove(path)
            .map_err(|e| Error::io(Path::new(path), e))?
        {
            stats.removed += 1;
        }
    }
    // A sync that wrote and removed nothing left every directory's time as it was.
    if stats.copied > 0 || stats.removed > 0 {
        for (dir, mtime) in dirs.iter().rev() {
            copy.set_dir_mtime(dir, *mtime);
        }
    }
    Ok((index, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str, mtime: i128) -> RemoteEntry {
        RemoteEntry {
            path: path.into(),
            mode: 0o100_644,
            size: content.len() as u64,
            mtime_ns: mtime,
            link: None,
            digest: Some(Digest::of(content.as_bytes())),
        }
    }

    fn dir(path: &str) -> RemoteEntry {
        RemoteEntry {
            path: path.into(),
            mode: 0o040_755,
            size: 0,
            mtime_ns: 1_000_000_000,
            link: None,
            digest: None,
        }
    }

    /// Plays the client: the contents it was asked for go into `incoming`.
    fn deliver(plan: &Plan, contents: &[&str], incoming: &Path) {
        fs::create_dir_all(incoming).unwrap();
        for digest in &plan.fetch {
            let content = contents
                .iter()
                .find(|c| Digest::of(c.as_bytes()) == *digest)
                .unwrap();
            fs::write(incoming.join(digest.hex()), content).unwrap();
        }
    }

    #[test]
    fn only_missing_contents_are_fetched_and_renames_copy_locally() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("copy");
        let incoming = root.path().join("incoming");
        let listing = vec![
            dir("src"),
            file("src/a.txt", "alpha", 5),
            file("src/b.txt", "beta", 5),
            file("top.txt", "alpha", 7),
        ];
        let wanted = select(&listing, &[], &[]).unwrap();
        let mut copy = CopyWriter::open(&dest).unwrap();
        let first = plan(&wanted, &BTreeMap::new(), &mut copy);
        assert_eq!(first.fetch.len(), 2, "alpha once, beta once");
        deliver(&first, &["alpha", "beta"], &incoming);
        let (index, stats) =
            apply(&wanted, &BTreeMap::new(), &mut copy, &incoming, &first).unwrap();
        assert_eq!(stats.bytes, 5 + 4 + 5);
        assert_eq!(fs::read_to_string(dest.join("top.txt")).unwrap(), "alpha");
        assert_eq!(
            index["src/a.txt"].sha256,
            Some(Digest::of(b"alpha")),
            "digests recorded for cache keys"
        );

        // Unchanged: nothing to fetch, nothing copied.
        let again = plan(&wanted, &index, &mut copy);
        assert!(again.fetch.is_empty());
        let (index2, stats) = apply(&wanted, &index, &mut copy, &incoming, &again).unwrap();
        assert_eq!((stats.copied, stats.bytes), (0, 0));
        assert_eq!(index2, index);

        // b.txt renamed, a new file: only the new content travels.
        let listing = vec![
            dir("src"),
            file("src/a.txt", "alpha", 5),
            file("src/renamed.txt", "beta", 5),
            file("new.txt", "gamma", 9),
            file("top.txt", "alpha", 7),
        ];
        let wanted = select(&listing, &[], &[]).unwrap();
        let third = plan(&wanted, &index2, &mut copy);
        assert_eq!(third.fetch, vec![Digest::of(b"gamma")]);
        let _ = fs::remove_dir_all(&incoming);
        deliver(&third, &["gamma"], &incoming);
        let (_, stats) = apply(&wanted, &index2, &mut copy, &incoming, &third).unwrap();
        assert_eq!(stats.bytes, 5, "only gamma came from the client");
        assert_eq!(stats.removed, 1);
        assert_eq!(
            fs::read_to_string(dest.join("src/renamed.txt")).unwrap(),
            "beta"
        );
        assert!(!dest.join("src/b.txt").exists());
    }

    #[test]
    fn the_listing_is_filtered_like_a_local_walk() {
        let listing = vec![
            file("a.log", "x", 1),
            file("keep.log", "k", 1),
            dir("logs"),
            file("logs/x", "y", 1),
            dir("app"),
            file("app/main.c", "c", 1),
            file("docs.md", "d", 1),
        ];
        let excludes = vec![
            "*.log".to_owned(),
            "logs".to_owned(),
            "!keep.log".to_owned(),
        ];
        let selected: Vec<String> = select(&listing, &excludes, &[])
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(selected, vec!["app", "app/main.c", "docs.md", "keep.log"]);
        let followed: Vec<String> = select(&listing, &excludes, &["app".to_owned()])
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(followed, vec!["app", "app/main.c"]);
    }

    #[test]
    fn paths_that_leave_the_context_are_refused() {
        for bad in ["../etc/passwd", "/abs", "a/../../b", "a//b", "."] {
            let err = select(&[file(bad, "x", 1)], &[], &[]).unwrap_err();
            assert!(
                err.to_string().contains("invalid context path"),
                "{bad}: {err}"
            );
        }
        let link = RemoteEntry {
            path: "etc".into(),
            mode: 0o120_777,
            size: 0,
            mtime_ns: 0,
            link: Some("/etc".into()),
            digest: None,
        };
        let err = select(&[link, file("etc/passwd", "x", 1)], &[], &[]).unwrap_err();
        assert!(err.to_string().contains("etc/passwd"), "{err}");
    }

    #[test]
    fn a_directory_turned_into_a_link_to_the_host_is_never_followed() {
        let root = tempfile::tempdir().unwrap();
        let host = root.path().join("host");
        fs::create_dir_all(host.join("sub")).unwrap();
        fs::write(host.join("f"), "host file").unwrap();
        fs::write(host.join("sub/g"), "host file").unwrap();
        let dest = root.path().join("copy");
        let incoming = root.path().join("incoming");
        let mut copy = CopyWriter::open(&dest).unwrap();
        let listing = vec![
            dir("d"),
            file("d/f", "ctx", 5),
            dir("d/sub"),
            file("d/sub/g", "ctx2", 5),
        ];
        let wanted = select(&listing, &[], &[]).unwrap();
        let first = plan(&wanted, &BTreeMap::new(), &mut copy);
        deliver(&first, &["ctx", "ctx2"], &incoming);
        let (index, _) = apply(&wanted, &BTreeMap::new(), &mut copy, &incoming, &first).unwrap();
        // Between two builds the client makes `d` a link to a directory of the daemon's
        // host: the stale `d/f` and `d/sub/g` must not be removed there.
        let link = RemoteEntry {
            path: "d".into(),
            mode: 0o120_777,
            size: 0,
            mtime_ns: 0,
            link: Some(host.to_string_lossy().into_owned()),
            digest: None,
        };
        let wanted = select(&[link], &[], &[]).unwrap();
        let second = plan(&wanted, &index, &mut copy);
        let (index, stats) = apply(&wanted, &index, &mut copy, &incoming, &second).unwrap();
        assert_eq!(fs::read_to_string(host.join("f")).unwrap(), "host file");
        assert_eq!(fs::read_to_string(host.join("sub/g")).unwrap(), "host file");
        assert!(fs::symlink_metadata(dest.join("d")).unwrap().is_symlink());
        assert_eq!(stats.removed, 0, "the old entries went with the directory");
        // And back: `d` a directory again, with a file the host also has.
        let wanted = select(&[dir("d"), file("d/f", "back", 9)], &[], &[]).unwrap();
        let third = plan(&wanted, &index, &mut copy);
        let _ = fs::remove_dir_all(&incoming);
        deliver(&third, &["back"], &incoming);
        apply(&wanted, &index, &mut copy, &incoming, &third).unwrap();
        assert_eq!(fs::read_to_string(host.join("f")).unwrap(), "host file");
        assert_eq!(fs::read_to_string(dest.join("d/f")).unwrap(), "back");
    }

    #[test]
    fn a_re_included_file_brings_its_ignored_directory() {
        let listing = vec![
            dir("docs"),
            file("docs/big.md", "b", 1),
            file("docs/keep.md", "k", 1),
            dir("other"),
            file("other/x", "x", 1),
        ];
        let excludes = vec![
            "docs".to_owned(),
            "other".to_owned(),
            "!docs/keep.md".to_owned(),
        ];
        let selected: Vec<String> = select(&listing, &excludes, &[])
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(selected, vec!["docs", "docs/keep.md"]);
    }
}
