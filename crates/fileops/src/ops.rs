//! `mkdir`, `mkfile` and `rm` file actions, as BuildKit's FileOp backend runs them.
//!
//! Paths are resolved inside the root with links followed (a trailing link too: a
//! `mkfile` onto a link writes the file it points to, inside the root). Modes are
//! exact (buildkitd's umask is 0). Without an owner nothing is chowned, so new entries
//! belong to root — with the group of a setgid parent, as the kernel decides.

use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use hearth_graph::op::{MkdirAction, MkfileAction, RmAction};

use crate::error::FileOpError;
use crate::fsx;
use crate::owner::Ids;
use crate::{paths, wildcard};

/// Creates `action.path` inside `root` with `action.mode & 0o777`, chowned to `owner`
/// when given.
///
/// With `make_parents`, missing parents are created the same way (mode and owner
/// included) and an existing directory is left untouched. Without it, an existing
/// path of any kind is not an error (BuildKit ignores `EEXIST`), but a missing parent
/// is.
///
/// # Errors
///
/// A missing parent without `make_parents`, a non-directory in the way, I/O errors.
pub fn mkdir(root: &Path, action: &MkdirAction, owner: Option<Ids>) -> Result<(), FileOpError> {
    let path = paths::resolve(root, action.path.as_bytes())
        .map_err(|e| FileOpError::io("resolve", &*action.path, e))?;
    let shown = paths::shown(root, &path);
    let mode = action.mode & 0o777;
    if action.make_parents {
        fsx::mkdir_all(&path, mode, owner).map_err(|e| FileOpError::io("mkdir", shown, e))?;
        return Ok(());
    }
    match fsx::mkdir_exact(&path, mode) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(FileOpError::io("mkdir", shown, e)),
    }
    if let Some(ids) = owner {
        fsx::lchown(&path, ids).map_err(|e| FileOpError::io("lchown", shown, e))?;
    }
    Ok(())
}

/// Writes `action.data` to `action.path` inside `root`, chowned to `owner` when
/// given.
///
/// A new file gets exactly `action.mode & 0o777`. An existing file is truncated and
/// rewritten but keeps its mode (Go's `os.WriteFile` only uses the mode to create).
/// The parent must exist.
///
/// # Errors
///
/// A missing parent, a directory at the path, I/O errors.
pub fn mkfile(root: &Path, action: &MkfileAction, owner: Option<Ids>) -> Result<(), FileOpError> {
    let path = paths::resolve(root, action.path.as_bytes())
        .map_err(|e| FileOpError::io("resolve", &*action.path, e))?;
    let shown = paths::shown(root, &path);
    let io = |op: &'static str| {
        let shown = shown.clone();
        move |e| FileOpError::io(op, shown, e)
    };
    let mode = action.mode & 0o777;
    let no_follow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    let (mut file, created) = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&path)
    {
        Ok(file) => (file, true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .custom_flags(no_follow)
                .open(&path)
                .map_err(io("open"))?;
            (file, false)
        }
        Err(e) => return Err(io("create")(e)),
    };
    if created && file.metadata().map_err(io("stat"))?.mode() & fsx::MODE_BITS != mode {
        // The process umask applied; buildkitd's is 0.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io("chmod"))?;
    }
    file.write_all(action.data.as_bytes())
        .map_err(io("write"))?;
    drop(file);
    if let Some(ids) = owner {
        fsx::lchown(&path, ids).map_err(io("lchown"))?;
    }
    Ok(())
}

/// Removes `action.path` inside `root` and everything below it.
///
/// Only the parent is resolved through links: a link at the path is removed, not
/// what it points to. With `allow_wildcard` every match is removed and no match is
/// not an error. Without `allow_not_found` the path must exist — checked following
/// links (inside the root), so, as in BuildKit, a dangling link counts as missing.
///
/// # Errors
///
/// A missing path without `allow_not_found`, the root itself, I/O errors.
pub fn rm(root: &Path, action: &RmAction) -> Result<(), FileOpError> {
    if action.allow_wildcard {
        let cleaned = paths::clean_keep_slash(&action.path);
        let matches = wildcard::resolve(root, cleaned.as_bytes(), false).map_err(|e| {
            let (dir, _) = wildcard::split_wildcards(cleaned.as_bytes());
            let shown = String::from_utf8_lossy(&dir).into_owned();
            if fsx::is_not_found(&e) {
                FileOpError::NotFound { path: shown }
            } else {
                FileOpError::io("lstat", shown, e)
            }
        })?;
        for m in matches {
            rm_path(root, &m, action.allow_not_found)?;
        }
        return Ok(());
    }
    rm_path(root, action.path.as_bytes(), action.allow_not_found)
}

/// BuildKit's `rmPath`.
fn rm_path(root: &Path, path: &[u8], allow_not_found: bool) -> Result<(), FileOpError> {
    let cleaned = paths::clean_abs(path);
    let (dir, base) = paths::split(&cleaned);
    if base.is_empty() {
        return Err(FileOpError::EmptyPath);
    }
    let shown = String::from_utf8_lossy(&cleaned).into_owned();
    let mut target =
        paths::resolve(root, dir).map_err(|e| FileOpError::io("resolve", &*shown, e))?;
    target.push(std::ffi::OsStr::from_bytes(base));
    if !allow_not_found {
        // BuildKit `os.Stat`s the host path, so an absolute link would be resolved
        // against the daemon's own filesystem; hearth follows it inside the root.
        let followed =
            paths::resolve(root, &cleaned).and_then(|p| std::fs::symlink_metadata(p).map(|_| ()));
        if let Err(e) = followed
            && e.kind() == std::io::ErrorKind::NotFound
        {
            return Err(FileOpError::io("stat", shown, e));
        }
    }
    hearth_fsroot::remove_tree(&target).map_err(|e| FileOpError::io("remove", shown, e))
}
