//! `COPY`/`ADD`: BuildKit's `docopy` over fsutil's `Copy`, step for step.
//!
//! For each source (the path, or each wildcard match in walk order):
//!
//! 1. The directory that will hold the destination is created: `dest`'s parent, or
//!    `dest` itself when it ends in `/` or `/.`. Created directories get 0o755 (or
//!    the octal `--chmod` bits) and the `--chown` owner.
//! 2. The destination is resolved inside the destination root, following links, so
//!    copying to a symlink writes where it points (inside the root).
//! 3. "Into" or "onto": a file copied to an existing directory, or a directory copied
//!    without `dir_contents_only` to an existing path, goes *into* it under the
//!    source's base name. A directory's contents copied to a missing destination make
//!    that destination a new directory — with the created-directory mode and owner,
//!    not the source directory's. Otherwise the source lands exactly at `dest`, which
//!    is why two sources copied to a path without a trailing slash end as one file,
//!    the last one.
//! 4. The tree is copied: directories merged, files, links and devices replaced,
//!    hard links within one source kept as hard links, symlinks copied as symlinks.
//!    Each copied entry gets its owner (`--chown` or the source's), then its mode
//!    (`--chmod` or the source's; after the chown so setuid survives), its times and
//!    its xattrs. An existing directory at the top keeps its own metadata; below the
//!    top, an existing directory takes the source's.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use hearth_graph::op::CopyAction;
use rustix::fs::{CWD, Mode};

use crate::error::FileOpError;
use crate::fsx::{self, Kind};
use crate::mode::ModePolicy;
use crate::owner::Ids;
use crate::walk::{self, Filter, Node, Visitor};
use crate::{paths, unpack, wildcard};

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyReport {
    /// Sources copied (each wildcard match counts once).
    pub sources: usize,
    /// Sources that were archives and were extracted instead (`ADD`).
    pub unpacked: usize,
    /// Entries written (files, directories, links, devices), extracted ones excluded.
    pub entries: u64,
}

/// Copies `action.src` from `src_root` to `action.dest` in `dest_root`, with
/// BuildKit's FileOp copy semantics (see the module documentation). `owner` is the
/// resolved `action.owner` (see [`crate::resolve_owner`]); `None` keeps the source
/// owners. Nothing outside the two roots is read or written.
///
/// # Errors
///
/// [`FileOpError::NotFound`] for a missing source (or the missing directory part of a
/// wildcard), [`FileOpError::NoMatch`] for a wildcard matching nothing when that is
/// not allowed, conflicts such as copying a directory onto a file, and I/O errors.
pub fn copy(
    src_root: &Path,
    dest_root: &Path,
    action: &CopyAction,
    owner: Option<Ids>,
) -> Result<CopyReport, FileOpError> {
    let src_path = paths::clean_keep_slash(&action.src);
    let dest_path = paths::clean_keep_slash(&action.dest);
    let mut report = CopyReport::default();

    if !action.create_dest_path {
        let resolved = paths::resolve(dest_root, action.dest.as_bytes())
            .map_err(|e| FileOpError::io("resolve", &*action.dest, e))?;
        let parent = resolved
            .parent()
            .filter(|p| p.starts_with(dest_root))
            .unwrap_or(dest_root);
        std::fs::symlink_metadata(parent).map_err(|source| FileOpError::DestinationParent {
            path: action.dest.clone(),
            source,
        })?;
    }

    let ctx = Context {
        src_root,
        dest_root,
        policy: ModePolicy::new(action.mode.as_ref())?,
        filter: Filter::new(&action.include_patterns, &action.exclude_patterns)?,
        owner,
        follow: action.follow_symlinks,
        contents: action.dir_contents_only,
    };

    let sources = if action.allow_wildcard {
        let matches = wildcard::resolve(src_root, src_path.as_bytes(), action.follow_symlinks)
            .map_err(|e| {
                let (dir, _) = wildcard::split_wildcards(src_path.as_bytes());
                source_error(&dir, e)
            })?;
        if matches.is_empty() {
            if action.allow_empty_wildcard {
                return Ok(report);
            }
            return Err(FileOpError::NoMatch { pattern: src_path });
        }
        matches
    } else {
        vec![src_path.into_bytes()]
    };

    for source in &sources {
        if action.attempt_unpack
            && unpack::try_unpack(src_root, source, dest_root, &dest_path, owner)?
        {
            report.unpacked += 1;
            continue;
        }
        report.entries += ctx.copy_one(source, &dest_path)?;
        report.sources += 1;
    }
    Ok(report)
}

/// An error resolving a source path: "not found" when it or a parent is missing.
fn source_error(path: &[u8], e: std::io::Error) -> FileOpError {
    let shown = String::from_utf8_lossy(&paths::clean_abs(path)).into_owned();
    if fsx::is_not_found(&e) {
        FileOpError::NotFound { path: shown }
    } else {
        FileOpError::io("lstat", shown, e)
    }
}

/// Settings shared by every source of one action.
struct Context<'a> {
    src_root: &'a Path,
    dest_root: &'a Path,
    policy: ModePolicy,
    filter: Filter,
    owner: Option<Ids>,
    follow: bool,
    contents: bool,
}

impl Context<'_> {
    /// fsutil's `Copy` for one source path; returns the number of entries written.
    fn copy_one(&self, src: &[u8], dst: &str) -> Result<u64, FileOpError> {
        let created_mode = self.policy.created_dir_mode();
        let shown_dest = |p: &Path| paths::shown(self.dest_root, p);

        // The directory that must hold the destination.
        let (dir, file) = paths::split(dst.as_bytes());
        let ensure = if !file.is_empty() && file != b"." {
            dir
        } else {
            dst.as_bytes()
        };
        let ensure = paths::resolve(self.dest_root, ensure)
            .map_err(|e| FileOpError::io("resolve", String::from_utf8_lossy(ensure), e))?;
        fsx::mkdir_all(&ensure, created_mode, self.owner)
            .map_err(|e| FileOpError::io("mkdir", shown_dest(&ensure), e))?;

        let dst_resolved = paths::resolve(self.dest_root, dst.as_bytes())
            .map_err(|e| FileOpError::io("resolve", dst, e))?;
        let src_followed = paths::resolve_parent_or_all(self.src_root, src, self.follow)
            .map_err(|e| source_error(src, e))?;
        let src_meta =
            std::fs::symlink_metadata(&src_followed).map_err(|e| source_error(src, e))?;

        // prepareTargetDir: "into" or "onto" (os.Stat: a link to a directory counts).
        let dest_meta = match std::fs::metadata(&dst_resolved) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(FileOpError::io(
                    "stat destination",
                    shown_dest(&dst_resolved),
                    e,
                ));
            }
        };
        let src_is_dir = src_meta.is_dir();
        let dest_is_dir = dest_meta.as_ref().is_some_and(Metadata::is_dir);
        let mut target = dst_resolved;
        if (!self.contents && src_is_dir && dest_meta.is_some()) || (!src_is_dir && dest_is_dir) {
            let name = paths::base(src);
            // Go's Join(dest, "/") and Join(dest, ".") are dest itself.
            if name != b"/" && name != b"." {
                target.push(std::ffi::OsStr::from_bytes(name));
            }
        }
        let holder = if self.contents && src_is_dir && dest_meta.is_none() {
            target.clone()
        } else {
            match target.parent() {
                Some(parent) if parent.starts_with(self.dest_root) => parent.to_path_buf(),
                _ => self.dest_root.to_path_buf(),
            }
        };
        fsx::mkdir_all(&holder, created_mode, self.owner)
            .map_err(|e| FileOpError::io("mkdir", shown_dest(&holder), e))?;

        let mut visitor = CopyVisitor {
            ctx: self,
            dest: target,
            inodes: HashMap::new(),
            top_created: false,
            entries: 0,
        };
        let shown_src = |p: &Path| paths::shown(self.src_root, p);
        walk::walk(
            &src_followed,
            &src_meta,
            &self.filter,
            &mut visitor,
            &shown_src,
        )?;
        Ok(visitor.entries)
    }
}

/// Writes what the walk selects below `dest`.
struct CopyVisitor<'a> {
    ctx: &'a Context<'a>,
    /// Where the walked source itself goes.
    dest: PathBuf,
    /// First destination path of each multiply-linked source inode (fsutil keys this
    /// per source, so hard links are only kept within one source).
    inodes: HashMap<(u64, u64), PathBuf>,
    /// Whether the top directory was created by this copy.
    top_created: bool,
    entries: u64,
}

impl CopyVisitor<'_> {
    fn target(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.dest.clone()
        } else {
            self.dest.join(rel)
        }
    }

    fn shown(&self, path: &Path) -> String {
        paths::shown(self.ctx.dest_root, path)
    }

    fn err(&self, op: &'static str, path: &Path, e: std::io::Error) -> FileOpError {
        FileOpError::io(op, self.shown(path), e)
    }

    /// fsutil's `copyDirectoryOnly`: creates the directory if missing (reporting
    /// that), fails on a non-directory, and with `overwrite` gives an existing one the
    /// source's mode.
    fn directory_only(
        &mut self,
        target: &Path,
        meta: &Metadata,
        overwrite: bool,
    ) -> Result<bool, FileOpError> {
        match fsx::lstat_opt(target).map_err(|e| self.err("lstat", target, e))? {
            None => {
                rustix::fs::mkdirat(CWD, target, Mode::from_raw_mode(meta.mode() & 0o1777))
                    .map_err(|e| FileOpError::io("mkdir", self.shown(target), e.into()))?;
                self.entries += 1;
                Ok(true)
            }
            Some(existing) if !existing.is_dir() => Err(FileOpError::NotADirectory {
                path: self.shown(target),
            }),
            Some(_) => {
                if overwrite {
                    fsx::chmod(target, meta.mode()).map_err(|e| self.err("chmod", target, e))?;
                }
                Ok(false)
            }
        }
    }

    /// fsutil's `copyFileInfo` and `copyXAttrs`: owner, then mode (not on links;
    /// after the owner, since `chown` clears setuid), then times, then extended
    /// attributes (after the owner too: `chown` drops file capabilities).
    fn finish(&self, src: &Path, target: &Path, meta: &Metadata) -> Result<(), FileOpError> {
        let ids = self.ctx.owner.unwrap_or(Ids {
            uid: meta.uid(),
            gid: meta.gid(),
        });
        fsx::lchown(target, ids).map_err(|e| self.err("lchown", target, e))?;
        let kind = Kind::of(meta);
        if kind != Kind::Symlink {
            let mode = self.ctx.policy.apply(meta.mode(), kind == Kind::Dir);
            fsx::chmod(target, mode).map_err(|e| self.err("chmod", target, e))?;
        }
        hearth_fsroot::copy_times(target, meta).map_err(|e| self.err("utimes", target, e))?;
        hearth_fsroot::copy_xattrs(src, target);
        Ok(())
    }
}

impl Visitor for CopyVisitor<'_> {
    fn parent(&mut self, node: &Node<'_>) -> Result<(), FileOpError> {
        let target = self.target(node.rel);
        if self.directory_only(&target, node.meta, true)? {
            self.finish(node.src, &target, node.meta)?;
        }
        Ok(())
    }

    fn enter_dir(&mut self, node: &Node<'_>) -> Result<(), FileOpError> {
        let target = self.target(node.rel);
        let top = node.rel.as_os_str().is_empty();
        let created = self.directory_only(&target, node.meta, !top)?;
        if top {
            self.top_created = created;
        }
        Ok(())
    }

    fn leave_dir(&mut self, node: &Node<'_>, selected: bool) -> Result<(), FileOpError> {
        let target = self.target(node.rel);
        if node.rel.as_os_str().is_empty() {
            // The top directory takes the source's metadata only if this copy made
            // it; an existing one just gets the source's times back.
            if self.top_created {
                self.finish(node.src, &target, node.meta)?;
            } else {
                hearth_fsroot::copy_times(&target, node.meta)
                    .map_err(|e| self.err("utimes", &target, e))?;
            }
        } else if selected {
            self.finish(node.src, &target, node.meta)?;
        }
        Ok(())
    }

    fn leaf(&mut self, node: &Node<'_>) -> Result<(), FileOpError> {
        let target = self.target(node.rel);
        // ensureEmptyFileTarget: a non-directory replaces anything but a directory.
        match fsx::lstat_opt(&target).map_err(|e| self.err("lstat", &target, e))? {
            Some(existing) if existing.is_dir() => {
                return Err(FileOpError::ReplaceDirectory {
                    path: self.shown(&target),
                });
            }
            Some(_) => std::fs::remove_file(&target).map_err(|e| self.err("remove", &target, e))?,
            None => {}
        }
        match Kind::of(node.meta) {
            Kind::File => {
                let key = (node.meta.dev(), node.meta.ino());
                let first = if node.meta.nlink() > 1 {
                    self.inodes.get(&key).cloned()
                } else {
                    None
                };
                match first {
                    Some(first) => std::fs::hard_link(&first, &target)
                        .map_err(|e| self.err("link", &target, e))?,
                    None => {
                        if node.meta.nlink() > 1 {
                            self.inodes.insert(key, target.clone());
                        }
                        fsx::copy_file_contents(node.src, &target)
                            .map_err(|e| self.err("copy", &target, e))?;
                    }
                }
            }
            Kind::Symlink => {
                let link = std::fs::read_link(node.src).map_err(|e| {
                    FileOpError::io("readlink", paths::shown(self.ctx.src_root, node.src), e)
                })?;
                std::os::unix::fs::symlink(&link, &target)
                    .map_err(|e| self.err("symlink", &target, e))?;
            }
            Kind::Special => {
                fsx::copy_special(&target, node.meta).map_err(|e| self.err("mknod", &target, e))?;
            }
            Kind::Dir => {}
        }
        self.entries += 1;
        self.finish(node.src, &target, node.meta)
    }
}
