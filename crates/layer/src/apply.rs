//! Unpacking tar streams onto disk, safely: layers (`apply_layer`, containerd's
//! `applyNaive` semantics) and, through the same engine, `ADD` archives (see `extract`).
//!
//! Entries are applied in order; a later entry replaces whatever an earlier one (or a lower
//! layer) left at its path, except that a directory entry over an existing directory only
//! updates its metadata. Ownership is applied before the mode (chown clears setuid), times
//! last, and directory times once more at the very end, deepest first, because creating
//! entries inside a directory changes its mtime.
//!
//! Every path is reached through `Root::open_dir`, so the kernel refuses to pass through
//! symlinks. Under [`SymlinkPolicy::Reject`] meeting one is an `UnsafePath` error; under
//! [`SymlinkPolicy::ResolveInRoot`] the link is first resolved as if the destination were
//! `/` and the resolved, symlink-free path is opened instead.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use crate::entry::{EntryMeta, Kind, parse_entry};
use crate::error::LayerError;
use hearth_fsroot::{self as fsutil, DirCreate, DotDot, OpenError, RelPath, Root};

use crate::names::show;
use crate::whiteout::{Marker, OPAQUE_XATTR, classify};

const COPY_BUFFER: usize = 1 << 20;

/// How whiteout entries of a layer are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// `dest` is an (initially empty) overlay upper directory: `.wh.<name>` becomes a 0:0
    /// character device and `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr.
    #[default]
    Overlay,
    /// `dest` is a full root file system (the native snapshotter): whited-out paths are
    /// removed and an opaque directory loses every child this layer did not create.
    Apply,
}

/// What to do when a tar entry's path leads through a symlink already in the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SymlinkPolicy {
    /// Refuse the entry with `UnsafePath`, and refuse `..` climbing above the destination.
    #[default]
    Reject,
    /// Resolve the symlink as if the destination were the root directory (absolute
    /// targets start at the destination, `..` stops there), as docker's chrooted unpacking
    /// and containerd's `RootPath` do. Nothing can land outside the destination either way.
    ResolveInRoot,
}

/// Options of [`apply_layer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// How whiteouts are applied.
    pub whiteouts: WhiteoutMode,
    /// Chown entries to the uid/gid in the tar (needs root; what BuildKit does).
    pub same_owner: bool,
    /// Symlinks in entry paths: rejected by default.
    pub symlinks: SymlinkPolicy,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            whiteouts: WhiteoutMode::Overlay,
            same_owner: true,
            symlinks: SymlinkPolicy::Reject,
        }
    }
}

/// What [`apply_layer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyReport {
    /// Tar entries processed, whiteouts included.
    pub entries: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
}

/// Unpacks an uncompressed layer tar into `dest`, which must exist.
pub fn apply_layer(
    tar: impl Read,
    dest: &Path,
    options: &ApplyOptions,
) -> Result<ApplyReport, LayerError> {
    let config = Unpack {
        whiteouts: match options.whiteouts {
            WhiteoutMode::Overlay => Whiteouts::Overlay,
            WhiteoutMode::Apply => Whiteouts::Apply,
        },
        symlinks: options.symlinks,
        owner: if options.same_owner {
            Owner::FromTar
        } else {
            Owner::Keep
        },
        xattrs: XattrRule::Layer,
    };
    unpack(tar, dest, &config)
}

/// The engine's settings; `apply_layer` and `extract_archive` differ only here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unpack {
    pub(crate) whiteouts: Whiteouts,
    pub(crate) symlinks: SymlinkPolicy,
    pub(crate) owner: Owner,
    pub(crate) xattrs: XattrRule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whiteouts {
    Overlay,
    Apply,
    /// `.wh.` names are ordinary files (docker's `Untar` for `ADD`).
    Literal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Leave files owned by whoever runs this.
    Keep,
    /// The uid/gid recorded in the tar.
    FromTar,
    /// One owner for everything (`ADD --chown`).
    Fixed(u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XattrRule {
    /// containerd: `trusted.*` is never set from an archive; a file system without xattr
    /// support, or `user.*` on a special file, is skipped; other failures are errors.
    Layer,
    /// go-archive with `BestEffortXattrs`: everything but overlayfs' own attributes is
    /// tried, `ENOTSUP` and `EPERM` are skipped.
    BestEffort,
}

/// Runs the engine over a tar stream.
pub(crate) fn unpack(
    tar: impl Read,
    dest: &Path,
    config: &Unpack,
) -> Result<ApplyReport, LayerError> {
    let root = Root::open(dest).map_err(|source| LayerError::Destination {
        path: dest.to_path_buf(),
        source,
    })?;
    let mut engine = Engine {
        config,
        root,
        cache: None,
        unpacked: HashSet::new(),
        dirs: Vec::new(),
        copy_buf: vec![0; COPY_BUFFER],
        report: ApplyReport::default(),
    };
    let mut archive = tar::Archive::new(io::BufReader::with_capacity(COPY_BUFFER, tar));
    let mut last: Option<String> = None;
    let read_err = |after: &Option<String>, source| LayerError::ReadArchive {
        after: after.clone(),
        source,
    };
    for entry in archive.entries().map_err(|e| read_err(&last, e))? {
        let mut entry = entry.map_err(|e| read_err(&last, e))?;
        let Some(meta) = parse_entry(&mut entry).map_err(|e| read_err(&last, e))? else {
            continue;
        };
        let name = show(&meta.name);
        engine.apply(&meta, &mut entry)?;
        last = Some(name);
    }
    engine.finish()?;
    Ok(engine.report)
}

struct Engine<'c> {
    config: &'c Unpack,
    root: Root,
    /// The directory the previous entry was created in; consecutive entries mostly share
    /// it. Entries only ever remove things below their own parent, so it never goes stale.
    cache: Option<(RelPath, OwnedFd)>,
    /// Paths this layer created, for opaque directories in `Apply` mode.
    unpacked: HashSet<RelPath>,
    dirs: Vec<(RelPath, Timestamps)>,
    copy_buf: Vec<u8>,
    report: ApplyReport,
}

/// A failure while creating one entry: plain I/O, named after the entry by the caller,
/// or an error that is already typed.
enum Failure {
    Io(io::Error),
    Layer(LayerError),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<Errno> for Failure {
    fn from(e: Errno) -> Self {
        Self::Io(e.into())
    }
}

impl Failure {
    fn named(self, entry: &EntryMeta) -> LayerError {
        match self {
            Self::Io(source) => LayerError::Apply {
                entry: show(&entry.name),
                source,
            },
            Self::Layer(e) => e,
        }
    }
}

fn unsafe_path(entry: &EntryMeta, reason: impl Into<String>) -> Failure {
    Failure::Layer(LayerError::UnsafePath {
        entry: show(&entry.name),
        reason: reason.into(),
    })
}

impl Engine<'_> {
    fn dotdot(&self) -> DotDot {
        match self.config.symlinks {
            SymlinkPolicy::Reject => DotDot::Reject,
            SymlinkPolicy::ResolveInRoot => DotDot::Clamp,
        }
    }

    fn apply<R: Read>(&mut self, entry: &EntryMeta, data: &mut R) -> Result<(), LayerError> {
        self.report.entries += 1;
        self.apply_inner(entry, data).map_err(|f| f.named(entry))
    }

    fn apply_inner<R: Read>(&mut self, entry: &EntryMeta, data: &mut R) -> Result<(), Failure> {
        if let Kind::Unsupported(flag) = entry.kind {
            return Err(Failure::Layer(LayerError::UnsupportedEntry {
                entry: show(&entry.name),
                reason: format!("tar type {:?} is not supported", char::from(flag)),
            }));
        }
        let rel = RelPath::clean(&entry.name, self.dotdot()).map_err(|r| unsafe_path(entry, r))?;
        if rel.is_root() {
            // containerd and moby both ignore entries for the root itself.
            return Ok(());
        }
        let parent = rel.parent();
        if self.config.whiteouts != Whiteouts::Literal {
            match classify(parent.components(), rel.file_name()) {
                Marker::None => {}
                Marker::AufsMeta => return Ok(()),
                Marker::Invalid => return Err(unsafe_path(entry, "invalid whiteout name")),
                Marker::Opaque => return self.opaque(entry, &parent),
                Marker::Whiteout(original) => return self.whiteout(entry, &parent, original),
            }
        }

        let (parent_rel, dir) = self.open_dir(entry, &parent)?;
        let name = rel.file_name();
        let target = parent_rel.join(name);
        let result = self.create(entry, &dir, name, &target, data);
        self.cache = Some((parent_rel, dir));
        result?;
        if self.config.whiteouts == Whiteouts::Apply {
            self.unpacked.insert(target.clone());
        }
        if entry.kind == Kind::Dir {
            self.dirs.push((target, entry.times()));
        }
        Ok(())
    }

    /// Creates entry `name` inside `parent`, replacing what is there.
    fn create<R: Read>(
        &mut self,
        entry: &EntryMeta,
        parent: &OwnedFd,
        name: &[u8],
        target: &RelPath,
        data: &mut R,
    ) -> Result<(), Failure> {
        if let Some(existing) = fsutil::lstat_at(parent, name)? {
            let existing_is_dir = fsutil::file_type(&existing) == FileType::Directory;
            if !(existing_is_dir && entry.kind == Kind::Dir) {
                fsutil::remove_all_at(parent, name)?;
            }
        }
        let mode = Mode::from_raw_mode(entry.mode);
        match entry.kind {
            Kind::Regular => return self.create_file(entry, parent, name, target, data),
            Kind::Dir => match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            },
            Kind::Symlink => rustix::fs::symlinkat(entry.link.as_slice(), parent, name)?,
            Kind::Hardlink => self.hardlink(entry, parent, name)?,
            Kind::Char | Kind::Block | Kind::Fifo => {
                let file_type = match entry.kind {
                    Kind::Char => FileType::CharacterDevice,
                    Kind::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rustix::fs::makedev(entry.devmajor, entry.devminor);
                rustix::fs::mknodat(parent, name, file_type, mode, dev)?;
            }
            Kind::Unsupported(_) => return Ok(()),
        }
        if let Some((uid, gid)) = self.owner(entry)? {
            rustix::fs::chownat(
                parent,
                name,
                Some(uid),
                Some(gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        self.set_xattrs(entry, target, None)?;
        // There is no lchmod: symlinks keep their mode, and so does a hardlink to one.
        let is_symlink = entry.kind == Kind::Symlink
            || fsutil::lstat_at(parent, name)?
                .is_some_and(|st| fsutil::file_type(&st) == FileType::Symlink);
        if !is_symlink {
            rustix::fs::chmodat(parent, name, mode, AtFlags::empty())?;
        }
        if !(entry.kind == Kind::Hardlink && is_symlink) {
            rustix::fs::utimensat(parent, name, &entry.times(), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        Ok(())
    }

    fn create_file<R: Read>(
        &mut self,
        entry: &EntryMeta,
        parent: &OwnedFd,
        name: &[u8],
        target: &RelPath,
        data: &mut R,
    ) -> Result<(), Failure> {
        let fd = rustix::fs::openat(
            parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let mut file = File::from(fd);
        self.report.bytes += copy_data(data, &mut file, &mut self.copy_buf)?;
        if let Some((uid, gid)) = self.owner(entry)? {
            rustix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
        self.set_xattrs(entry, target, Some(file.as_fd()))?;
        rustix::fs::fchmod(&file, Mode::from_raw_mode(entry.mode))?;
        rustix::fs::futimens(&file, &entry.times())?;
        Ok(())
    }

    fn hardlink(
        &mut self,
        entry: &EntryMeta,
        parent: &OwnedFd,
        name: &[u8],
    ) -> Result<(), Failure> {
        let link = show(&entry.link);
        let target = RelPath::clean(&entry.link, self.dotdot()).map_err(|_| {
            unsafe_path(
                entry,
                format!("hardlink target {link:?} climbs above the destination"),
            )
        })?;
        if target.is_root() {
            return Err(unsafe_path(
                entry,
                "hardlink target is the destination itself",
            ));
        }
        let target_dir = match self.config.symlinks {
            SymlinkPolicy::Reject => target.parent(),
            SymlinkPolicy::ResolveInRoot => self.root.resolve(target.parent().as_bytes())?,
        };
        let dir = self
            .root
            .open_dir(&target_dir, None, &mut |_| {})
            .map_err(|e| match e {
                OpenError::Symlink(at) => unsafe_path(
                    entry,
                    format!(
                        "hardlink target {link:?} goes through symlink {:?}",
                        at.display()
                    ),
                ),
                OpenError::NotDir(at) => Failure::Io(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!(
                        "hardlink target parent {:?} is not a directory",
                        at.display()
                    ),
                )),
                OpenError::Io(e) => Failure::Io(e),
            })?;
        rustix::fs::linkat(&dir, target.file_name(), parent, name, AtFlags::empty()).map_err(|e| {
            Failure::Io(io::Error::new(
                io::Error::from(e).kind(),
                format!("linking to {link:?}: {e}"),
            ))
        })
    }

    fn owner(&self, entry: &EntryMeta) -> Result<Option<(Uid, Gid)>, Failure> {
        let (uid, gid) = match self.config.owner {
            Owner::Keep => return Ok(None),
            Owner::Fixed(uid, gid) => (uid, gid),
            Owner::FromTar => match (u32::try_from(entry.uid), u32::try_from(entry.gid)) {
                (Ok(uid), Ok(gid)) => (uid, gid),
                _ => (u32::MAX, u32::MAX),
            },
        };
        if uid == u32::MAX || gid == u32::MAX {
            // -1 means "leave unchanged" to chown; larger ids do not exist.
            return Err(Failure::Layer(LayerError::UnsupportedEntry {
                entry: show(&entry.name),
                reason: format!("uid {} or gid {} is out of range", entry.uid, entry.gid),
            }));
        }
        Ok(Some((Uid::from_raw(uid), Gid::from_raw(gid))))
    }

    fn set_xattrs(
        &self,
        entry: &EntryMeta,
        target: &RelPath,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<(), Failure> {
        for (key, value) in &entry.xattrs {
            if self.config.xattrs == XattrRule::Layer && key.starts_with(b"trusted.") {
                // containerd refuses admin attributes from archives, overlayfs' included.
                continue;
            }
            if key.starts_with(b"trusted.overlay.") || key.starts_with(b"user.overlay.") {
                // docker would set these from an ADD archive; written into an upper
                // directory they would make overlayfs hide or redirect lower content.
                continue;
            }
            let result = match fd {
                Some(fd) => rustix::fs::fsetxattr(fd, key.as_slice(), value, XattrFlags::empty()),
                // Symlinks and devices have no usable descriptor; their parents were just
                // opened without following links, so this path is the same place.
                None => rustix::fs::lsetxattr(
                    self.root.host_path(target),
                    key.as_slice(),
                    value,
                    XattrFlags::empty(),
                ),
            };
            match result {
                Ok(()) | Err(Errno::NOTSUP) => {}
                Err(Errno::PERM) if self.config.xattrs == XattrRule::BestEffort => {}
                Err(Errno::PERM)
                    if key.starts_with(b"user.")
                        && !matches!(entry.kind, Kind::Regular | Kind::Dir) => {}
                Err(e) => {
                    return Err(Failure::Io(io::Error::new(
                        io::Error::from(e).kind(),
                        format!("setting xattr {:?}: {e}", show(key)),
                    )));
                }
            }
        }
        Ok(())
    }

    /// `.wh.<original>` inside `parent`: a whiteout device, or the deletion itself.
    fn whiteout(
        &mut self,
        entry: &EntryMeta,
        parent: &RelPath,
        original: &[u8],
    ) -> Result<(), Failure> {
        let (parent_rel, dir) = self.open_dir(entry, parent)?;
        let result = self.whiteout_in(entry, &dir, original);
        self.cache = Some((parent_rel, dir));
        result
    }

    fn whiteout_in(
        &self,
        entry: &EntryMeta,
        dir: &OwnedFd,
        original: &[u8],
    ) -> Result<(), Failure> {
        fsutil::remove_all_at(dir, original)?;
        if self.config.whiteouts == Whiteouts::Overlay {
            rustix::fs::mknodat(dir, original, FileType::CharacterDevice, Mode::empty(), 0)?;
            if let Some((uid, gid)) = self.owner(entry)? {
                rustix::fs::chownat(
                    dir,
                    original,
                    Some(uid),
                    Some(gid),
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
            // Not in containerd; keeps re-exports of this upper directory reproducible.
            rustix::fs::utimensat(dir, original, &entry.times(), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        Ok(())
    }

    /// `.wh..wh..opq` inside `dir`: the opaque xattr, or removal of older contents.
    fn opaque(&mut self, entry: &EntryMeta, dir: &RelPath) -> Result<(), Failure> {
        let (dir_rel, fd) = self.open_dir(entry, dir)?;
        let result = match self.config.whiteouts {
            Whiteouts::Overlay => {
                rustix::fs::fsetxattr(&fd, OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(Failure::from)
            }
            _ => self.clear_opaque(&fd, &dir_rel).map_err(Failure::from),
        };
        self.cache = Some((dir_rel, fd));
        result
    }

    /// Removes everything below `dir` this layer did not create (containerd walks into the
    /// directories it keeps, so their old contents go too).
    fn clear_opaque(&self, dir: &OwnedFd, dir_rel: &RelPath) -> io::Result<()> {
        for name in fsutil::read_dir_names(dir)? {
            let child = dir_rel.join(&name);
            if !self.unpacked.contains(&child) {
                fsutil::remove_all_at(dir, &name)?;
                continue;
            }
            if fsutil::lstat_at(dir, &name)?
                .is_some_and(|st| fsutil::file_type(&st) == FileType::Directory)
            {
                let sub = fsutil::open_dir_at(dir, &name)?;
                self.clear_opaque(&sub, &child)?;
            }
        }
        Ok(())
    }

    /// Opens directory `dir` (creating what is missing), resolved by the symlink policy;
    /// reuses the cached descriptor when it is the same directory.
    fn open_dir(
        &mut self,
        entry: &EntryMeta,
        dir: &RelPath,
    ) -> Result<(RelPath, OwnedFd), Failure> {
        let resolved = match self.config.symlinks {
            SymlinkPolicy::Reject => dir.clone(),
            SymlinkPolicy::ResolveInRoot => self.root.resolve(dir.as_bytes())?,
        };
        if let Some((cached, fd)) = self.cache.take()
            && cached == resolved
        {
            return Ok((cached, fd));
        }
        let track = self.config.whiteouts == Whiteouts::Apply;
        let unpacked = &mut self.unpacked;
        let opened =
            self.root
                .open_dir(&resolved, Some(&DirCreate::exact(0o755)), &mut |created| {
                    if track {
                        unpacked.insert(created.clone());
                    }
                });
        match opened {
            Ok(fd) => Ok((resolved, fd)),
            Err(OpenError::Symlink(at)) => Err(unsafe_path(
                entry,
                format!("parent {:?} is a symlink", at.display()),
            )),
            Err(OpenError::NotDir(at)) => Err(Failure::Io(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("parent {:?} is not a directory", at.display()),
            ))),
            Err(OpenError::Io(e)) => Err(Failure::Io(e)),
        }
    }

    /// Sets directory times, deepest first, now that nothing more is created inside.
    fn finish(&mut self) -> Result<(), LayerError> {
        self.cache = None;
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|(rel, _)| std::cmp::Reverse(rel.depth()));
        for (rel, times) in dirs {
            // A later entry may have removed or replaced the directory; then it is gone.
            let Ok(fd) = self.root.open_dir(&rel, None, &mut |_| {}) else {
                continue;
            };
            rustix::fs::futimens(&fd, &times).map_err(|e| LayerError::Apply {
                entry: rel.display(),
                source: e.into(),
            })?;
        }
        Ok(())
    }
}

/// Copies an entry's data into `file`; returns the byte count.
fn copy_data(data: &mut impl Read, file: &mut File, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match data.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        file.write_all(&buf[..n])?;
        total += n as u64;
    }
}
