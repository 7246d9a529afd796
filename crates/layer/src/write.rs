//! Layer tars from overlayfs upper directories.
//!
//! An upper directory already is the diff: each entry in it was added or changed, a 0:0
//! character device is a deleted path, and a directory with `trusted.overlay.opaque=y`
//! (or `user.overlay.opaque=y` under `userxattr`) hides everything below it. Those two are
//! translated back into OCI `.wh.` entries. With `DiffOptions::lower` the translation is
//! BuildKit's overlay differ, which needs the lower view to drop pointless whiteouts and
//! spell out opaque directories (see [`DiffOptions`]).

use std::fs::Metadata;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::changes::{ChangeKind, ChangeWriter, DiffOptions, TarStats};
use crate::diff::{double_walk, same_file};
use crate::error::LayerError;
use crate::walk::{Walker, abs_path};
use crate::whiteout::{WHITEOUT_OPAQUE, is_opaque, is_whiteout};
use hearth_fsroot::{self as fsutil, RelPath};

/// Writes the OCI layer tar of an overlay upper directory: entries in Go's walk order,
/// whiteout devices as `.wh.<name>`, opaque directories as a `.wh..wh..opq` entry after
/// the directory (or, with `options.lower`, as BuildKit writes them).
pub fn write_layer_tar(
    upper: &Path,
    out: impl Write,
    options: &DiffOptions,
) -> Result<TarStats, LayerError> {
    let mut writer = ChangeWriter::new(out, upper, options);
    walk_upper(upper, options, &mut writer)?;
    writer.finish().map(|(_, stats)| stats)
}

/// Feeds the changes an upper directory holds into `writer`.
pub(crate) fn walk_upper<W: Write>(
    upper: &Path,
    options: &DiffOptions,
    writer: &mut ChangeWriter<'_, W>,
) -> Result<(), LayerError> {
    let excluded = options.excluded();
    let lower = options.lower.as_deref();
    let mut walker = Walker::new(upper);
    while let Some(entry) = walker.next() {
        let entry = entry?;
        let rel = &entry.rel;
        if excluded.iter().any(|ex| rel.starts_with(ex)) {
            walker.skip_children_if_dir(&entry);
            continue;
        }
        let path = walker.abs(rel);
        if entry.meta.is_dir()
            && fsutil::get_xattr(&path, "trusted.overlay.redirect")
                .map_err(|source| read_err(&path, source))?
                .is_some()
        {
            // A renamed directory's content lives under another name in a lower layer;
            // the upper alone cannot describe it (BuildKit refuses too).
            return Err(LayerError::UnsupportedFile {
                path,
                reason: "overlayfs redirect_dir is in use; mount with redirect_dir=off".into(),
            });
        }
        let lower_meta = match lower {
            Some(lower) => lstat_lower(lower, rel)?,
            None => None,
        };
        if is_whiteout(&entry.meta) {
            // Deleting what the lower layers never had needs no whiteout.
            if lower.is_none() || lower_meta.is_some() {
                writer.handle(ChangeKind::Delete, rel, None)?;
            }
            continue;
        }
        let opaque = entry.meta.is_dir() && is_opaque(&path)?;
        match (lower, &lower_meta) {
            (Some(lower), Some(base)) => {
                if !same_file(base, &entry.meta, &abs_path(lower, rel), &path)? {
                    writer.handle(ChangeKind::Modify, rel, Some(&entry.meta))?;
                }
                if opaque {
                    // What the opaque directory hides becomes explicit whiteouts, computed
                    // against the upper directory with its whiteout devices hidden.
                    double_walk(
                        &abs_path(lower, rel),
                        &path,
                        rel,
                        &excluded,
                        &is_whiteout,
                        writer,
                    )?;
                    walker.skip_children();
                }
            }
            _ => {
                writer.handle(ChangeKind::Add, rel, Some(&entry.meta))?;
                if opaque && lower.is_none() {
                    let marker = rel.join(WHITEOUT_OPAQUE);
                    // moby's marker: the directory's permissions and owner, mtime zero.
                    writer.write_marker(
                        &marker,
                        entry.meta.mode() & 0o777,
                        entry.meta.uid(),
                        entry.meta.gid(),
                    )?;
                }
            }
        }
    }
    Ok(())
}

fn lstat_lower(lower: &Path, rel: &RelPath) -> Result<Option<Metadata>, LayerError> {
    let path = abs_path(lower, rel);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::NotADirectory => {
            Ok(None)
        }
        Err(source) => Err(LayerError::ReadTree { path, source }),
    }
}

fn read_err(path: &Path, source: std::io::Error) -> LayerError {
    LayerError::ReadTree {
        path: path.to_path_buf(),
        source,
    }
}
