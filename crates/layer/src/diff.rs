//! The double-walking differ: the changes between two full trees (continuity's
//! `fs.Changes`), used for the native snapshotter and for opaque directories in the overlay
//! differ.
//!
//! Both trees are walked in the same order and merged. A path only in the lower tree is a
//! deletion (a deleted directory hides its contents, which get no whiteouts of their own);
//! a path only in the upper tree is an addition; a path in both is a modification unless
//! continuity's `sameFile` says otherwise: same inode, or same type, mode, owner, device
//! number and `security.capability`, and for non-directories the same size and mtime —
//! with a byte comparison of the contents (or symlink targets) when both mtimes have no
//! nanoseconds, since tar-extracted files lose them. Directory mtimes are not compared.

use std::cmp::Ordering;
use std::fs::Metadata;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::changes::{ChangeKind, ChangeWriter, DiffOptions, TarStats};
use crate::error::LayerError;
use crate::walk::{WalkEntry, Walker, walk_order};
use hearth_fsroot::{self as fsutil, RelPath};

/// Writes the OCI layer tar of the differences between two full trees (the native
/// snapshotter's diff: `lower` is the parent's root file system, `upper` the new one).
pub fn write_tree_diff(
    lower: &Path,
    upper: &Path,
    out: impl Write,
    options: &DiffOptions,
) -> Result<TarStats, LayerError> {
    let mut writer = ChangeWriter::new(out, upper, options);
    double_walk(
        lower,
        upper,
        &RelPath::root(),
        &options.excluded(),
        &|_| false,
        &mut writer,
    )?;
    writer.finish().map(|(_, stats)| stats)
}

/// Feeds the changes from `lower` to `upper` into `writer`, with paths prefixed by
/// `prefix`. Upper entries for which `hide` is true are treated as absent (the overlay
/// differ hides whiteout devices this way).
pub(crate) fn double_walk<W: Write>(
    lower: &Path,
    upper: &Path,
    prefix: &RelPath,
    excluded: &[RelPath],
    hide: &dyn Fn(&Metadata) -> bool,
    writer: &mut ChangeWriter<'_, W>,
) -> Result<(), LayerError> {
    let mut lower_walk = Walker::new(lower);
    let mut upper_walk = Walker::new(upper);
    let mut f1: Option<WalkEntry> = None;
    let mut f2: Option<WalkEntry> = None;
    let (mut lower_done, mut upper_done) = (false, false);
    loop {
        if f1.is_none() && !lower_done {
            f1 = next_entry(&mut lower_walk, prefix, excluded, &|_| false)?;
            lower_done = f1.is_none();
        }
        if f2.is_none() && !upper_done {
            f2 = next_entry(&mut upper_walk, prefix, excluded, hide)?;
            upper_done = f2.is_none();
        }
        let order = match (&f1, &f2) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(a), Some(b)) => walk_order(a.rel.as_bytes(), b.rel.as_bytes()),
        };
        match order {
            Ordering::Less => {
                let Some(gone) = f1.take() else { continue };
                if gone.meta.is_dir() {
                    // Only the directory gets a whiteout; what was inside goes with it.
                    lower_walk.skip_children();
                }
                writer.handle(ChangeKind::Delete, &prefix.join_rel(&gone.rel), None)?;
            }
            Ordering::Greater => {
                let Some(added) = f2.take() else { continue };
                writer.handle(
                    ChangeKind::Add,
                    &prefix.join_rel(&added.rel),
                    Some(&added.meta),
                )?;
            }
            Ordering::Equal => {
                let (Some(a), Some(b)) = (f1.take(), f2.take()) else {
                    continue;
                };
                if a.meta.is_dir() && !b.meta.is_dir() {
                    lower_walk.skip_children();
                }
                let same = same_file(
                    &a.meta,
                    &b.meta,
                    &lower_walk.abs(&a.rel),
                    &upper_walk.abs(&b.rel),
                )?;
                let kind = if !same {
                    ChangeKind::Modify
                } else if !b.meta.is_dir() && b.meta.nlink() > 1 {
                    ChangeKind::Unmodified
                } else {
                    continue;
                };
                writer.handle(kind, &prefix.join_rel(&b.rel), Some(&b.meta))?;
            }
        }
    }
}

fn next_entry(
    walker: &mut Walker,
    prefix: &RelPath,
    excluded: &[RelPath],
    hide: &dyn Fn(&Metadata) -> bool,
) -> Result<Option<WalkEntry>, LayerError> {
    while let Some(entry) = walker.next() {
        let entry = entry?;
        let full = prefix.join_rel(&entry.rel);
        if hide(&entry.meta) || excluded.iter().any(|ex| full.starts_with(ex)) {
            // A pruned directory is the last entry returned, so this skips its contents.
            walker.skip_children_if_dir(&entry);
            continue;
        }
        return Ok(Some(entry));
    }
    Ok(None)
}

/// continuity's `sameFile`.
pub(crate) fn same_file(
    a: &Metadata,
    b: &Metadata,
    a_path: &Path,
    b_path: &Path,
) -> Result<bool, LayerError> {
    if a.dev() == b.dev() && a.ino() == b.ino() {
        return Ok(true);
    }
    if a.mode() != b.mode() || a.uid() != b.uid() || a.gid() != b.gid() || a.rdev() != b.rdev() {
        return Ok(false);
    }
    let capability = |path: &Path| {
        fsutil::get_xattr(path, "security.capability").map_err(|source| LayerError::ReadTree {
            path: path.to_path_buf(),
            source,
        })
    };
    if capability(a_path)?.unwrap_or_default() != capability(b_path)?.unwrap_or_default() {
        return Ok(false);
    }
    if a.is_dir() {
        return Ok(true);
    }
    if a.size() != b.size() || a.mtime() != b.mtime() {
        return Ok(false);
    }
    match (a.mtime_nsec(), b.mtime_nsec()) {
        (0, 0) => {
            if a.file_type().is_symlink() {
                let target = |path: &Path| {
                    std::fs::read_link(path).map_err(|source| LayerError::ReadTree {
                        path: path.to_path_buf(),
                        source,
                    })
                };
                return Ok(target(a_path)? == target(b_path)?);
            }
            if a.size() == 0 || !a.file_type().is_file() {
                return Ok(true);
            }
            same_content(a_path, b_path)
        }
        (x, y) => Ok(x == y),
    }
}

/// Byte comparison of two files of the same size.
fn same_content(a: &Path, b: &Path) -> Result<bool, LayerError> {
    let open = |path: &Path| {
        std::fs::File::open(path).map_err(|source| LayerError::ReadTree {
            path: path.to_path_buf(),
            source,
        })
    };
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let na = read_full(&mut fa, &mut ba, a)?;
        let nb = read_full(&mut fb, &mut bb, b)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8], path: &Path) -> Result<usize, LayerError> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(LayerError::ReadTree {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(filled)
}
