//! The native snapshotter: plain copies where overlayfs cannot be mounted.
//!
//! A view of a layer stack is a directory holding a full copy of what an overlay mount of
//! the stack would show. When a step is done, the copy is compared with the stack and the
//! differences are written as a new layer in overlay upper format, so both snapshotters
//! produce interchangeable layers. This is containerd's `native` snapshotter plus the
//! double walk of containerd's `fs.Changes`: a change is found from metadata alone (type,
//! mode, owner, size, mtime with nanoseconds, link target, device number, xattrs), because
//! writing to a file gives it a new mtime; contents are never compared.
//!
//! The stack is never merged in memory. Both walks go one directory at a time and resolve
//! each name from the top layer down as overlayfs' lookup does, so memory grows with the
//! widest directory and the depth, not with the tree; only files with several links are
//! remembered across directories. Nothing follows symlinks: entries are examined with
//! `lstat`, a directory is entered only in the layers where it is a real directory, files
//! are opened with `O_NOFOLLOW`, and metadata is set with the `l*`/`AT_SYMLINK_NOFOLLOW`
//! calls.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, XattrFlags};

/// overlayfs' opaque-directory marker; the `user.` spelling is what a `userxattr` mount
/// reads and writes. Keep in step with `whiteout.rs` in hearth-layer, which applies layers.
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const OPAQUE_USER_XATTR: &str = "user.overlay.opaque";

/// overlayfs' own bookkeeping (opaque, origin, impure, ...), which describes the layer and
/// not the file, so it is neither copied nor compared. Matches hearth-layer's tar writer.
const OVERLAY_XATTR_PREFIXES: [&[u8]; 2] = [b"trusted.overlay.", b"user.overlay."];

/// Copies the merged view of `layers` (bottom first, overlay upper format) into `target`
/// (an existing empty directory, or missing), as overlayfs would show it: upper layers win,
/// whiteouts delete, opaque directories hide what is below; the result has no whiteouts and
/// no opaque xattrs.
pub(crate) fn materialize(layers: &[PathBuf], target: &Path) -> io::Result<()> {
    prepare_empty_dir(target)?;
    let root = LowerDir::root(layers)?;
    let mut links = Links::default();
    copy_merged_dir(&root, target, &mut links)?;
    // A read-only overlay shows the top layer's root directory.
    if let Some(top) = root.layers.first() {
        let meta = fs::symlink_metadata(top).at(top)?;
        copy_metadata(top, &meta, target)?;
    }
    Ok(())
}

/// Writes into `upper` (an existing empty directory) the changes that turn the merged view
/// of `layers` into the directory `merged`, in overlay upper format — the same layer
/// overlayfs would have recorded had the step run on an overlay mount: new and modified
/// entries copied (with metadata, parents created with the merged dir's metadata), deleted
/// entries as whiteouts (0/0 char devices), a directory that replaced a non-directory or
/// that was deleted and recreated may simply be written as an opaque dir. Unchanged entries
/// are not written.
pub(crate) fn diff(layers: &[PathBuf], merged: &Path, upper: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(merged).at(merged)?;
    if !meta.is_dir() {
        return Err(not_a_dir(merged));
    }
    if fs::read_dir(upper).at(upper)?.next().is_some() {
        return Err(not_empty(upper));
    }
    let root = LowerDir::root(layers)?;
    let mut links = Links::default();
    diff_dir(&root, merged, upper, &mut links)?;
    // On an overlay mount the root directory is the upper directory itself, so its
    // attributes are always the merged root's, changed or not.
    copy_metadata(merged, &meta, upper)
}

/// Adds the path to an error, the way every error of this module names what failed.
trait At<T> {
    fn at(self, path: &Path) -> io::Result<T>;
}

impl<T, E: Into<io::Error>> At<T> for Result<T, E> {
    fn at(self, path: &Path) -> io::Result<T> {
        self.map_err(|e| {
            let e = e.into();
            io::Error::new(e.kind(), format!("{}: {e}", path.display()))
        })
    }
}

fn not_a_dir(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotADirectory,
        format!("{}: not a directory", path.display()),
    )
}

fn not_empty(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::DirectoryNotEmpty,
        format!("{}: directory is not empty", path.display()),
    )
}

/// `lstat`, with `None` when nothing is there.
fn lstat(path: &Path) -> io::Result<Option<Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).at(path),
    }
}

fn prepare_empty_dir(path: &Path) -> io::Result<()> {
    fs::create_dir_all(path).at(path)?;
    // `create_dir_all` accepts a symlink to a directory; the copy must be the directory.
    if !fs::symlink_metadata(path).at(path)?.is_dir() {
        return Err(not_a_dir(path));
    }
    if fs::read_dir(path).at(path)?.next().is_some() {
        return Err(not_empty(path));
    }
    Ok(())
}

fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &Path) -> io::Result<bool> {
    for key in [OPAQUE_XATTR, OPAQUE_USER_XATTR] {
        if get_xattr(path, OsStr::new(key))?.is_some_and(|v| v == b"y") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One directory of the merged lower view.
struct LowerDir {
    /// The directory in each layer that shows through, top first. In each of them every
    /// component of the path is a real directory, never a symlink.
    layers: Vec<PathBuf>,
}

/// What the merged lower view has at a path.
enum Lower {
    Absent,
    /// A non-directory, from the topmost layer that has the path.
    Other {
        path: PathBuf,
        meta: Metadata,
    },
    /// A directory; `meta` is its topmost layer's, which overlayfs shows.
    Dir {
        dir: LowerDir,
        meta: Metadata,
    },
}

impl LowerDir {
    fn root(layers_bottom_first: &[PathBuf]) -> io::Result<Self> {
        let mut layers = Vec::with_capacity(layers_bottom_first.len());
        // No opacity check here: overlayfs ignores the opaque xattr on a layer's root, so
        // every layer shows through at the top.
        for layer in layers_bottom_first.iter().rev() {
            if !fs::symlink_metadata(layer).at(layer)?.is_dir() {
                return Err(not_a_dir(layer));
            }
            layers.push(layer.clone());
        }
        Ok(Self { layers })
    }

    /// Every name in any of the layers, with the indices of the layers that have it.
    fn children(&self) -> io::Result<BTreeMap<OsString, Vec<usize>>> {
        let mut names: BTreeMap<OsString, Vec<usize>> = BTreeMap::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for entry in fs::read_dir(layer).at(layer)? {
                names
                    .entry(entry.at(layer)?.file_name())
                    .or_default()
                    .push(i);
            }
        }
        Ok(names)
    }

    /// Resolves `name` as overlayfs' lookup does: going down from the top layer, a
    /// whiteout or a non-directory ends the search (hiding everything below), and
    /// directories merge until one of them is opaque. `holders` are the indices of the
    /// layers that have the name, ascending.
    fn lookup(&self, name: &OsStr, holders: &[usize]) -> io::Result<Lower> {
        let mut found: Option<(Metadata, Vec<PathBuf>)> = None;
        for (n, &i) in holders.iter().enumerate() {
            let Some(layer) = self.layers.get(i) else {
                continue;
            };
            let path = layer.join(name);
            // Gone since the directory was listed: the layer no longer has it.
            let Some(meta) = lstat(&path)? else {
                continue;
            };
            let more_below = n + 1 < holders.len();
            match &mut found {
                None if is_whiteout(&meta) => return Ok(Lower::Absent),
                None if !meta.is_dir() => return Ok(Lower::Other { path, meta }),
                None => {
                    let opaque = more_below && is_opaque(&path)?;
                    found = Some((meta, vec![path]));
                    if opaque {
                        break;
                    }
                }
                Some(_) if !meta.is_dir() => break,
                Some((_, dirs)) => {
                    let opaque = more_below && is_opaque(&path)?;
                    dirs.push(path);
                    if opaque {
                        break;
                    }
                }
            }
        }
        Ok(match found {
            Some((meta, layers)) => Lower::Dir {
                dir: LowerDir { layers },
                meta,
            },
            None => Lower::Absent,
        })
    }
}

/// Where the first copy of each multiply-linked file went, so its other names become
/// links to it again instead of independent copies.
#[derive(Default)]
struct Links(HashMap<(u64, u64), PathBuf>);

fn copy_merged_dir(dir: &LowerDir, dst: &Path, links: &mut Links) -> io::Result<()> {
    for (name, holders) in dir.children()? {
        let to = dst.join(&name);
        match dir.lookup(&name, &holders)? {
            Lower::Absent => {}
            Lower::Other { path, meta } => copy_non_dir(&path, &meta, &to, links)?,
            Lower::Dir { dir: child, meta } => {
                fs::create_dir(&to).at(&to)?;
                copy_merged_dir(&child, &to, links)?;
                if let Some(top) = child.layers.first() {
                    copy_metadata(top, &meta, &to)?;
                }
            }
        }
    }
    Ok(())
}

/// Writes what changed below `merged`, a directory the lower view also has as `lower`,
/// into the existing directory `upper`. Returns whether anything was written.
fn diff_dir(lower: &LowerDir, merged: &Path, upper: &Path, links: &mut Links) -> io::Result<bool> {
    let mut below = lower.children()?;
    let mut names = Vec::new();
    for entry in fs::read_dir(merged).at(merged)? {
        names.push(entry.at(merged)?.file_name());
    }
    names.sort();
    let mut wrote = false;
    for name in names {
        let from = merged.join(&name);
        let meta = fs::symlink_metadata(&from).at(&from)?;
        let old = match below.remove(&name) {
            Some(holders) => lower.lookup(&name, &holders)?,
            None => Lower::Absent,
        };
        wrote |= diff_entry(old, &from, &meta, &upper.join(&name), links)?;
    }
    // What is left below is gone from the merged directory.
    for (name, holders) in below {
        if !matches!(lower.lookup(&name, &holders)?, Lower::Absent) {
            make_whiteout(&upper.join(&name))?;
            wrote = true;
        }
    }
    Ok(wrote)
}

fn diff_entry(
    old: Lower,
    from: &Path,
    meta: &Metadata,
    to: &Path,
    links: &mut Links,
) -> io::Result<bool> {
    match old {
        Lower::Absent => copy_tree(from, meta, to, links)?,
        Lower::Dir {
            dir,
            meta: old_meta,
        } if meta.is_dir() => {
            let changed = match dir.layers.first() {
                Some(top) => !same(top, &old_meta, from, meta)?,
                None => true,
            };
            // Created up front so changed children have a place to go; removed again if
            // neither the directory nor anything in it changed.
            fs::create_dir(to).at(to)?;
            let inner = diff_dir(&dir, from, to, links)?;
            if !changed && !inner {
                fs::remove_dir(to).at(to)?;
                return Ok(false);
            }
            copy_metadata(from, meta, to)?;
        }
        Lower::Other { .. } if meta.is_dir() => {
            copy_tree(from, meta, to, links)?;
            // Nothing below a non-directory shows anyway; overlayfs marks a directory
            // made over a whiteout opaque, and so does this, for identical layers.
            rustix::fs::lsetxattr(to, OPAQUE_XATTR, b"y", XattrFlags::empty()).at(to)?;
        }
        Lower::Other {
            path,
            meta: old_meta,
        } if same(&path, &old_meta, from, meta)? => return Ok(false),
        Lower::Other { .. } | Lower::Dir { .. } => copy_non_dir(from, meta, to, links)?,
    }
    Ok(true)
}

/// Whether an entry is unchanged, from metadata alone (see the module docs). A directory's
/// size is left out: it depends on the file system and its history, not on the contents.
fn same(old_path: &Path, old: &Metadata, new_path: &Path, new: &Metadata) -> io::Result<bool> {
    if old.mode() != new.mode()
        || old.uid() != new.uid()
        || old.gid() != new.gid()
        || old.mtime() != new.mtime()
        || old.mtime_nsec() != new.mtime_nsec()
    {
        return Ok(false);
    }
    let kind = new.file_type();
    if !kind.is_dir() && old.size() != new.size() {
        return Ok(false);
    }
    if (kind.is_char_device() || kind.is_block_device()) && old.rdev() != new.rdev() {
        return Ok(false);
    }
    if kind.is_symlink()
        && fs::read_link(old_path).at(old_path)? != fs::read_link(new_path).at(new_path)?
    {
        return Ok(false);
    }
    Ok(xattrs(old_path)? == xattrs(new_path)?)
}

fn make_whiteout(path: &Path) -> io::Result<()> {
    rustix::fs::mknodat(CWD, path, FileType::CharacterDevice, Mode::empty(), 0).at(path)
}

/// Copies a plain tree (no whiteouts or opaque directories to interpret).
fn copy_tree(from: &Path, meta: &Metadata, to: &Path, links: &mut Links) -> io::Result<()> {
    if !meta.is_dir() {
        return copy_non_dir(from, meta, to, links);
    }
    fs::create_dir(to).at(to)?;
    for entry in fs::read_dir(from).at(from)? {
        let name = entry.at(from)?.file_name();
        let child = from.join(&name);
        let child_meta = fs::symlink_metadata(&child).at(&child)?;
        copy_tree(&child, &child_meta, &to.join(&name), links)?;
    }
    copy_metadata(from, meta, to)
}

fn copy_non_dir(from: &Path, meta: &Metadata, to: &Path, links: &mut Links) -> io::Result<()> {
    let key = (meta.dev(), meta.ino());
    if meta.nlink() > 1 {
        if let Some(first) = links.0.get(&key) {
            return fs::hard_link(first, to).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{}: linking to {}: {e}", to.display(), first.display()),
                )
            });
        }
    }
    let kind = meta.file_type();
    if kind.is_file() {
        copy_contents(from, to)?;
    } else if kind.is_symlink() {
        let target = fs::read_link(from).at(from)?;
        std::os::unix::fs::symlink(target, to).at(to)?;
    } else {
        let mode = Mode::from_bits_truncate(meta.mode() & 0o7777);
        rustix::fs::mknodat(
            CWD,
            to,
            FileType::from_raw_mode(meta.mode()),
            mode,
            meta.rdev(),
        )
        .at(to)?;
    }
    copy_metadata(from, meta, to)?;
    if meta.nlink() > 1 {
        links.0.insert(key, to.to_path_buf());
    }
    Ok(())
}

fn copy_contents(from: &Path, to: &Path) -> io::Result<()> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut src = File::from(rustix::fs::open(from, flags, Mode::empty()).at(from)?);
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut dst = File::from(rustix::fs::open(to, flags, Mode::RUSR | Mode::WUSR).at(to)?);
    // `io::copy` between files uses `copy_file_range`, which can share extents.
    io::copy(&mut src, &mut dst).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{}: copying from {}: {e}", to.display(), from.display()),
        )
    })?;
    Ok(())
}

/// Gives `to` the owner, permissions, xattrs and times of `from`. The order matters:
/// `chown` clears setuid/setgid bits and file capabilities, so it goes first, and the times
/// go last because the other changes (and, for a directory, filling it) would move them.
fn copy_metadata(from: &Path, meta: &Metadata, to: &Path) -> io::Result<()> {
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid())).at(to)?;
    if !meta.file_type().is_symlink() {
        let mode = Mode::from_bits_truncate(meta.mode() & 0o7777);
        rustix::fs::chmodat(CWD, to, mode, AtFlags::empty()).at(to)?;
    }
    for (name, value) in xattrs(from)? {
        rustix::fs::lsetxattr(to, &name, &value, XattrFlags::empty()).map_err(|e| {
            let e = io::Error::from(e);
            io::Error::new(
                e.kind(),
                format!(
                    "{}: setting xattr {}: {e}",
                    to.display(),
                    name.to_string_lossy()
                ),
            )
        })?;
    }
    hearth_fsroot::copy_times(to, meta).at(to)
}

/// The xattrs of `path` (not following a symlink) other than overlayfs' own, sorted.
fn xattrs(path: &Path) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let mut out = Vec::new();
    for name in list_xattrs(path)? {
        let bytes = name.as_bytes();
        if OVERLAY_XATTR_PREFIXES.iter().any(|p| bytes.starts_with(p)) {
            continue;
        }
        if let Some(value) = get_xattr(path, &name)? {
            out.push((name, value));
        }
    }
    out.sort();
    Ok(out)
}

fn list_xattrs(path: &Path) -> io::Result<Vec<OsString>> {
    Ok(hearth_fsroot::list_xattrs(path)
        .at(path)?
        .into_iter()
        .map(|n| OsStr::from_bytes(&n).to_os_string())
        .collect())
}

/// One xattr, `None` when it is not set or the file system has none.
fn get_xattr(path: &Path, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    hearth_fsroot::get_xattr(path, name).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{}: reading xattr {}: {e}",
                path.display(),
                name.to_string_lossy()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::PermissionsExt;

    /// Far in the past, so that anything a test step writes has a different mtime even on
    /// file systems whose clock ticks in milliseconds.
    const OLD: i64 = 1_000_000_000;

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// `root/rel`, after creating its missing parents as 0755 directories.
    fn parents(root: &Path, rel: &str) -> PathBuf {
        let mut dir = root.to_path_buf();
        for c in Path::new(rel)
            .parent()
            .into_iter()
            .flat_map(Path::components)
        {
            dir.push(c);
            if fs::symlink_metadata(&dir).is_err() {
                fs::create_dir(&dir).unwrap();
                set_mode(&dir, 0o755);
            }
        }
        root.join(rel)
    }

    fn write(root: &Path, rel: &str, content: &str) {
        let path = parents(root, rel);
        fs::write(&path, content).unwrap();
        set_mode(&path, 0o644);
    }

    fn mkdir(root: &Path, rel: &str) -> PathBuf {
        let path = parents(root, rel);
        fs::create_dir(&path).unwrap();
        set_mode(&path, 0o755);
        path
    }

    fn symlink(root: &Path, rel: &str, target: &str) {
        std::os::unix::fs::symlink(target, parents(root, rel)).unwrap();
    }

    fn node(root: &Path, rel: &str, kind: FileType, mode: u32, dev: (u32, u32)) {
        let path = parents(root, rel);
        let rdev = rustix::fs::makedev(dev.0, dev.1);
        rustix::fs::mknodat(CWD, &path, kind, Mode::empty(), rdev).unwrap();
        // mknod is subject to the umask.
        set_mode(&path, mode);
    }

    fn whiteout(root: &Path, rel: &str) {
        make_whiteout(&parents(root, rel)).unwrap();
    }

    fn opaque(root: &Path, rel: &str) {
        let path = mkdir(root, rel);
        rustix::fs::lsetxattr(&path, OPAQUE_XATTR, b"y", XattrFlags::empty()).unwrap();
    }

    fn set_xattr(path: &Path, name: &str, value: &str) {
        rustix::fs::lsetxattr(path, name, value.as_bytes(), XattrFlags::empty()).unwrap();
    }

    fn chown(path: &Path, uid: u32, gid: u32) {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    }

    fn set_mtime(path: &Path, secs: i64, nsecs: i64) {
        hearth_fsroot::set_times(path, &hearth_fsroot::same_times(secs, nsecs)).unwrap();
    }

    fn mtime(path: &Path) -> (i64, i64) {
        let meta = fs::symlink_metadata(path).unwrap();
        (meta.mtime(), meta.mtime_nsec())
    }

    /// Gives everything in `root` the same old mtime.
    fn age(root: &Path) {
        for entry in walkdir::WalkDir::new(root) {
            set_mtime(entry.unwrap().path(), OLD, 0);
        }
    }

    /// Every xattr, overlayfs' included, so that a leaked one shows in a listing.
    fn all_xattrs(path: &Path) -> Vec<(OsString, Vec<u8>)> {
        let mut out: Vec<_> = list_xattrs(path)
            .unwrap()
            .into_iter()
            .filter_map(|n| get_xattr(path, &n).unwrap().map(|v| (n, v)))
            .collect();
        out.sort();
        out
    }

    /// One line per entry below `root` (itself `.`): path, type, mode, owner, then size and
    /// contents (short text as is, else a hash), link target or device number, xattrs and,
    /// with `times`, the mtime.
    fn listing(root: &Path, times: bool) -> Vec<String> {
        let mut out = Vec::new();
        for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(path).unwrap();
            let ft = meta.file_type();
            let kind = match () {
                _ if ft.is_dir() => 'd',
                _ if ft.is_file() => 'f',
                _ if ft.is_symlink() => 'l',
                _ if ft.is_fifo() => 'p',
                _ if ft.is_char_device() => 'c',
                _ if ft.is_block_device() => 'b',
                _ => 's',
            };
            let rel = if rel.is_empty() { ".".to_string() } else { rel };
            let mut line = format!(
                "{rel} {kind}{:o} {}:{}",
                meta.mode() & 0o7777,
                meta.uid(),
                meta.gid()
            );
            if ft.is_file() {
                let data = fs::read(path).unwrap();
                match std::str::from_utf8(&data) {
                    Ok(text) if data.len() <= 16 => line += &format!(" {} {text}", data.len()),
                    _ => {
                        let hash: String = Sha256::digest(&data)[..6]
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect();
                        line += &format!(" {} sha256:{hash}", data.len());
                    }
                }
            }
            if ft.is_symlink() {
                line += &format!(" -> {}", fs::read_link(path).unwrap().display());
            }
            if ft.is_char_device() || ft.is_block_device() {
                let (major, minor) = (
                    rustix::fs::major(meta.rdev()),
                    rustix::fs::minor(meta.rdev()),
                );
                line += &format!(" {major}:{minor}");
            }
            for (name, value) in all_xattrs(path) {
                line += &format!(
                    " [{}={}]",
                    name.to_string_lossy(),
                    String::from_utf8_lossy(&value)
                );
            }
            if times {
                line += &format!(" @{}.{:09}", meta.mtime(), meta.mtime_nsec());
            }
            out.push(line);
        }
        out
    }

    /// Three layers with a bit of everything: whiteouts of files and of a file that exists
    /// nowhere below, an opaque directory, a directory merged from two layers, hardlinks,
    /// symlinks, a fifo, a device, setuid and sticky bits, owners and xattrs.
    fn base_layers(t: &Path) -> Vec<PathBuf> {
        let l1 = mkdir(t, "l1");
        write(&l1, "etc/passwd", "root");
        write(&l1, "etc/hosts", "h");
        write(&l1, "etc/conf.d/a", "a");
        write(&l1, "etc/conf.d/b", "b");
        write(&l1, "usr/bin/tool", "tool");
        set_mode(&l1.join("usr/bin/tool"), 0o4755);
        write(&l1, "usr/share/doc/readme", "r");
        write(&l1, "usr/share/doc/license", "l");
        mkdir(&l1, "var/log");
        write(&l1, "hl1", "same");
        fs::hard_link(l1.join("hl1"), l1.join("hl2")).unwrap();
        symlink(&l1, "link", "etc/passwd");
        node(&l1, "fifo", FileType::Fifo, 0o644, (0, 0));
        let big: String = (0..100_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        write(&l1, "data/big", &big);
        write(&l1, "old/x", "x");
        write(&l1, "owned", "o");
        chown(&l1.join("owned"), 1000, 1000);
        write(&l1, "xa", "v");
        set_xattr(&l1.join("xa"), "user.test", "v");
        mkdir(&l1, "tmp");
        set_mode(&l1.join("tmp"), 0o1777);

        let l2 = mkdir(t, "l2");
        write(&l2, "etc/hosts", "h2");
        whiteout(&l2, "etc/conf.d/b");
        whiteout(&l2, "never-existed");
        opaque(&l2, "old");
        write(&l2, "old/y", "y");
        whiteout(&l2, "usr/share/doc/license");

        let l3 = mkdir(t, "l3");
        write(&l3, "etc/conf.d/c", "c");
        symlink(&l3, "bin", "usr/bin");
        node(&l3, "dev/null", FileType::CharacterDevice, 0o666, (1, 3));
        write(&l3, "data/small", "s");
        // overlayfs ignores an opaque layer root: l1 and l2 must still show.
        rustix::fs::lsetxattr(&l3, OPAQUE_XATTR, b"y", XattrFlags::empty()).unwrap();

        let layers = vec![l1, l2, l3];
        layers.iter().for_each(|l| age(l));
        layers
    }

    type Step = fn(&Path);

    /// Ordinary edits: contents, additions, deletions (a file, a whole tree, a file from
    /// two layers), metadata-only changes, type changes, links and special files.
    fn edits(r: &Path) {
        fs::write(r.join("etc/passwd"), "root:x:0:0").unwrap();
        let mut hosts = fs::OpenOptions::new()
            .append(true)
            .open(r.join("etc/hosts"))
            .unwrap();
        io::Write::write_all(&mut hosts, b" more").unwrap();
        drop(hosts);
        write(r, "etc/new", "new");
        fs::hard_link(r.join("etc/new"), r.join("etc/new-link")).unwrap();
        fs::remove_file(r.join("etc/conf.d/a")).unwrap();
        fs::remove_dir_all(r.join("usr/share/doc")).unwrap();
        set_mode(&r.join("var/log"), 0o700);
        fs::remove_file(r.join("old/y")).unwrap();
        write(r, "old/y/z", "z");
        fs::remove_dir_all(r.join("data")).unwrap();
        write(r, "data", "data is a file");
        write(r, "new/deep/dir/file", "f");
        fs::remove_file(r.join("link")).unwrap();
        symlink(r, "link", "etc/hosts");
        chown(&r.join("owned"), 2000, 2001);
        set_xattr(&r.join("xa"), "user.test", "changed");
        set_xattr(&r.join("etc/passwd"), "user.other", "1");
        fs::remove_file(r.join("fifo")).unwrap();
        node(r, "newfifo", FileType::Fifo, 0o600, (0, 0));
        node(r, "newdev", FileType::CharacterDevice, 0o600, (1, 5));
        set_mtime(&r.join("usr/bin/tool"), 1_234_567_890, 5);
    }

    /// Deletions followed by re-creations under the same names, and a sticky bit dropped.
    fn recreate(r: &Path) {
        fs::remove_dir_all(r.join("etc")).unwrap();
        mkdir(r, "etc");
        write(r, "etc/passwd", "fresh");
        fs::remove_dir_all(r.join("old")).unwrap();
        write(r, "old", "file now");
        fs::remove_file(r.join("bin")).unwrap();
        write(r, "bin/sh", "sh");
        fs::remove_file(r.join("dev/null")).unwrap();
        write(r, "dev/null", "");
        set_mode(&r.join("tmp"), 0o755);
    }

    /// Writes through one name of a hardlinked file. overlayfs without `index=on` breaks
    /// the link on copy-up, so this one is not compared with a real overlay.
    fn in_place(r: &Path) {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(r.join("hl1"))
            .unwrap();
        io::Write::write_all(&mut f, b"SAME").unwrap();
    }

    fn nothing(_: &Path) {}

    /// Runs `step` on a native copy of `layers` and returns (the step's tree, its layer).
    fn native_step(t: &Path, name: &str, layers: &[PathBuf], step: Step) -> (PathBuf, PathBuf) {
        let (merged, upper) = (
            t.join(format!("{name}-merged")),
            t.join(format!("{name}-upper")),
        );
        materialize(layers, &merged).unwrap();
        step(&merged);
        mkdir(t, &format!("{name}-upper"));
        diff(layers, &merged, &upper).unwrap();
        (merged, upper)
    }

    fn with(layers: &[PathBuf], upper: &Path) -> Vec<PathBuf> {
        let mut all = layers.to_vec();
        all.push(upper.to_path_buf());
        all
    }

    #[test]
    fn materialize_merges_three_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let l1 = mkdir(t, "l1");
        write(&l1, "a", "a1");
        write(&l1, "b", "b1");
        write(&l1, "d/x", "x");
        write(&l1, "d/y", "y");
        write(&l1, "o/old", "old");
        write(&l1, "keep/k", "k");
        write(&l1, "h1", "hl");
        fs::hard_link(l1.join("h1"), l1.join("h2")).unwrap();
        symlink(&l1, "sym", "a");
        write(&l1, "gone", "g");
        write(&l1, "suid", "s");
        set_mode(&l1.join("suid"), 0o4755);
        write(&l1, "xa", "v");
        set_xattr(&l1.join("xa"), "user.k", "val");
        node(&l1, "fifo", FileType::Fifo, 0o644, (0, 0));
        let l2 = mkdir(t, "l2");
        write(&l2, "b", "b2");
        set_mode(&l2.join("b"), 0o640);
        chown(&l2.join("b"), 1000, 1000);
        whiteout(&l2, "d/y");
        opaque(&l2, "o");
        write(&l2, "o/new", "new");
        whiteout(&l2, "gone");
        whiteout(&l2, "nothing");
        let l3 = mkdir(t, "l3");
        write(&l3, "d/z", "z");
        write(&l3, "c", "c");
        let e = mkdir(&l3, "e");
        set_mode(&e, 0o700);
        chown(&e, 5, 6);
        node(&l3, "dev", FileType::CharacterDevice, 0o644, (1, 3));
        write(&l3, "keep", "now file");
        set_mtime(&l1.join("a"), 1_600_000_000, 123_456_789);
        set_mtime(&l1.join("sym"), 1_500_000_000, 987_654_321);
        set_mtime(&l1.join("d"), 1_000_000_000, 1);
        set_mtime(&l3.join("d"), 1_100_000_000, 2);

        let target = t.join("view");
        materialize(&[l1, l2, l3], &target).unwrap();
        assert_eq!(
            listing(&target, false),
            [
                ". d755 0:0",
                "a f644 0:0 2 a1",
                "b f640 1000:1000 2 b2",
                "c f644 0:0 1 c",
                "d d755 0:0",
                "d/x f644 0:0 1 x",
                "d/z f644 0:0 1 z",
                "dev c644 0:0 1:3",
                "e d700 5:6",
                "fifo p644 0:0",
                "h1 f644 0:0 2 hl",
                "h2 f644 0:0 2 hl",
                "keep f644 0:0 8 now file",
                "o d755 0:0",
                "o/new f644 0:0 3 new",
                "suid f4755 0:0 1 s",
                "sym l777 0:0 -> a",
                "xa f644 0:0 1 v [user.k=val]",
            ]
        );
        assert_eq!(mtime(&target.join("a")), (1_600_000_000, 123_456_789));
        assert_eq!(
            mtime(&target.join("sym")),
            (1_500_000_000, 987_654_321),
            "symlink times"
        );
        assert_eq!(
            mtime(&target.join("d")),
            (1_100_000_000, 2),
            "a merged dir shows its top layer"
        );
        let (h1, h2) = (
            fs::metadata(target.join("h1")).unwrap(),
            fs::metadata(target.join("h2")).unwrap(),
        );
        assert_eq!(h1.ino(), h2.ino(), "hardlinks stay linked");
        assert_eq!(h1.nlink(), 2);
    }

    #[test]
    fn materialize_wants_an_empty_target_and_names_failing_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let l1 = mkdir(t, "l1");
        write(&l1, "f", "1");
        write(t, "full/x", "x");
        let err = materialize(std::slice::from_ref(&l1), &t.join("full")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::DirectoryNotEmpty);
        assert_eq!(
            err.to_string(),
            format!("{}: directory is not empty", t.join("full").display())
        );
        let missing = t.join("no-such-layer");
        let err = materialize(&[l1, missing.clone()], &t.join("view")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", missing.display())),
            "{err}"
        );
    }

    #[test]
    fn diff_writes_changes_in_overlay_upper_format() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let l1 = mkdir(t, "l1");
        for (path, content) in [
            ("keep", "k"),
            ("mod", "m1"),
            ("del", "d"),
            ("tree/a", "a"),
            ("tree/sub/b", "b"),
            ("cd/f", "f"),
            ("rep", "r"),
            ("dir2file/in", "i"),
            ("deep/inner/f", "f1"),
            ("both", "b1"),
        ] {
            write(&l1, path, content);
        }
        let l2 = mkdir(t, "l2");
        write(&l2, "both", "b2");
        whiteout(&l2, "ghost");
        let layers = vec![l1, l2];
        layers.iter().for_each(|l| age(l));

        let (merged, upper) = native_step(t, "step", &layers, |r| {
            fs::write(r.join("mod"), "M2").unwrap();
            write(r, "new/file", "n");
            fs::hard_link(r.join("new/file"), r.join("new/link")).unwrap();
            fs::remove_file(r.join("del")).unwrap();
            fs::remove_dir_all(r.join("tree")).unwrap();
            set_mode(&r.join("cd"), 0o700);
            fs::remove_file(r.join("rep")).unwrap();
            write(r, "rep/inside", "i");
            fs::remove_dir_all(r.join("dir2file")).unwrap();
            write(r, "dir2file", "now a file");
            // In place: the file's mtime changes, its directories' do not.
            fs::write(r.join("deep/inner/f"), "f2").unwrap();
            fs::remove_file(r.join("both")).unwrap();
            symlink(r, "ln", "keep");
        });
        assert_eq!(
            mtime(&merged.join("deep")),
            (OLD, 0),
            "the step must leave deep's mtime alone"
        );
        assert_eq!(
            listing(&upper, false),
            [
                ". d755 0:0",
                "both c0 0:0 0:0",
                "cd d700 0:0",
                "deep d755 0:0",
                "deep/inner d755 0:0",
                "deep/inner/f f644 0:0 2 f2",
                "del c0 0:0 0:0",
                "dir2file f644 0:0 10 now a file",
                "ln l777 0:0 -> keep",
                "mod f644 0:0 2 M2",
                "new d755 0:0",
                "new/file f644 0:0 1 n",
                "new/link f644 0:0 1 n",
                "rep d755 0:0 [trusted.overlay.opaque=y]",
                "rep/inside f644 0:0 1 i",
                "tree c0 0:0 0:0",
            ]
        );
        for gone in ["both", "del", "tree"] {
            assert!(
                is_whiteout(&fs::symlink_metadata(upper.join(gone)).unwrap()),
                "{gone}"
            );
        }
        assert_eq!(
            mtime(&upper.join("deep")),
            (OLD, 0),
            "parents carry the merged dir's metadata"
        );
        assert_eq!(mtime(&upper.join("new")), mtime(&merged.join("new")));
        let (file, link) = (
            fs::symlink_metadata(upper.join("new/file")).unwrap(),
            fs::symlink_metadata(upper.join("new/link")).unwrap(),
        );
        assert_eq!(file.ino(), link.ino(), "hardlinks stay linked in the layer");
    }

    #[test]
    fn diff_of_an_unchanged_copy_is_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let layers = base_layers(t);
        let (_, upper) = native_step(t, "step", &layers, nothing);
        assert_eq!(listing(&upper, false), [". d755 0:0"]);
    }

    #[test]
    fn layers_plus_diff_materialize_to_the_step_result() {
        let scenarios: [(&str, Step); 4] = [
            ("edits", edits),
            ("recreate", recreate),
            ("in_place", in_place),
            ("nothing", nothing),
        ];
        for (name, step) in scenarios {
            let tmp = tempfile::tempdir().unwrap();
            let t = tmp.path();
            let layers = base_layers(t);
            let (merged, upper) = native_step(t, name, &layers, step);
            let view = t.join("view");
            materialize(&with(&layers, &upper), &view).unwrap();
            assert_eq!(
                listing(&view, true),
                listing(&merged, true),
                "scenario {name}"
            );
        }
        // Two steps, the second on top of the first one's layer.
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let layers = base_layers(t);
        let (_, first) = native_step(t, "first", &layers, edits);
        let layers = with(&layers, &first);
        let (merged, second) = native_step(t, "second", &layers, recreate);
        let view = t.join("view");
        materialize(&with(&layers, &second), &view).unwrap();
        assert_eq!(listing(&view, true), listing(&merged, true), "two steps");
    }

    #[test]
    fn materialize_shows_what_an_overlay_mount_shows() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let layers = base_layers(t);
        let (mnt, empty) = (mkdir(t, "mnt"), mkdir(t, "empty"));
        let mount = super::super::overlay::mount_readonly(&layers, &mnt, &empty).unwrap();
        let expected = listing(&mnt, true);
        drop(mount);
        let view = t.join("view");
        materialize(&layers, &view).unwrap();
        assert_eq!(listing(&view, true), expected);
    }

    #[test]
    fn diff_records_what_overlayfs_records() {
        let scenarios: [(&str, Step); 3] = [
            ("edits", edits),
            ("recreate", recreate),
            ("nothing", nothing),
        ];
        for (name, step) in scenarios {
            let tmp = tempfile::tempdir().unwrap();
            let t = tmp.path();
            let layers = base_layers(t);
            let (upper, work, mnt, empty) = (
                mkdir(t, "upper"),
                mkdir(t, "work"),
                mkdir(t, "mnt"),
                mkdir(t, "empty"),
            );
            let mount = super::super::overlay::mount_writable(&layers, &upper, &work, &mnt, &empty)
                .unwrap();
            step(&mnt);
            mount.unmount().unwrap();
            let (_, native_upper) = native_step(t, name, &layers, step);

            let (kernel_view, native_view) = (t.join("kernel-view"), t.join("native-view"));
            materialize(&with(&layers, &upper), &kernel_view).unwrap();
            materialize(&with(&layers, &native_upper), &native_view).unwrap();
            // Times differ between the two runs; everything else must not.
            assert_eq!(
                listing(&native_view, false),
                listing(&kernel_view, false),
                "scenario {name}"
            );
        }
    }

    #[test]
    fn remove_tree_removes_read_only_trees_but_not_mounts_or_symlink_targets() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let layers = base_layers(t);
        write(t, "outside/keep", "keep");
        let view = t.join("view");
        materialize(&layers, &view).unwrap();
        symlink(&view, "escape", &t.join("outside").display().to_string());
        write(&view, "locked/ro", "ro");
        set_mode(&view.join("locked/ro"), 0o400);
        set_mode(&view.join("locked"), 0o000);
        let mnt = mkdir(&view, "zz-mnt");
        rustix::mount::mount(
            "tmpfs",
            &mnt,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            None,
        )
        .unwrap();
        write(&mnt, "precious", "p");

        let refused = hearth_fsroot::remove_tree(&view);
        let precious_survived = mnt.join("precious").exists();
        rustix::mount::unmount(&mnt, rustix::mount::UnmountFlags::DETACH).unwrap();
        let err = refused.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: it is a mount point; unmount it first or remove it by hand",
                mnt.display()
            )
        );
        assert!(precious_survived);

        hearth_fsroot::remove_tree(&view).unwrap();
        assert!(fs::symlink_metadata(&view).is_err(), "the tree is gone");
        assert_eq!(fs::read_to_string(t.join("outside/keep")).unwrap(), "keep");
        hearth_fsroot::remove_tree(&view).unwrap();
    }
}
