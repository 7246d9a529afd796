//! Replacing `config.json` atomically, as docker's `ConfigFile.Save` does: a temporary
//! file in the same directory, flushed to disk, then renamed over the old one, so a crash
//! leaves either the old file or the new one and never half of either.

use std::fs::{self, DirBuilder, File, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::AuthError;

/// Mode of the credential file: readable and writable by its owner only.
const FILE_MODE: u32 = 0o600;

/// Mode of a config directory this crate creates.
const DIR_MODE: u32 = 0o700;

/// Writes `contents` to `path` atomically with mode 0600, creating the directory with
/// mode 0700 if it is missing. A symlinked `path` is followed and its target replaced,
/// as docker does, so a config file linked from elsewhere stays linked.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), AuthError> {
    let target = resolve_symlink(path);
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AuthError::Write { path, source }
    };
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(&dir)
        .map_err(write_err(&dir))?;

    let prefix = target
        .file_name()
        .map(|name| name.to_os_string())
        .unwrap_or_else(|| "config.json".into());
    // tempfile creates the file with mode 0600 and a random name next to the target.
    let mut temp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(&dir)
        .map_err(write_err(&dir))?;
    temp.write_all(contents).map_err(write_err(temp.path()))?;
    temp.as_file()
        .set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(write_err(temp.path()))?;
    temp.as_file().sync_all().map_err(write_err(temp.path()))?;
    temp.persist(&target).map_err(|e| AuthError::Write {
        path: target.clone(),
        source: e.error,
    })?;
    // The rename is durable once the directory entry is.
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(write_err(&dir))?;
    Ok(())
}

/// `path`, or the file it links to (relative links resolved against its directory).
fn resolve_symlink(path: &Path) -> PathBuf {
    match fs::canonicalize(path) {
        Ok(real) if path.is_symlink() => real,
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn creates_private_directory_and_file_and_follows_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new/.docker");
        let file = dir.join("config.json");
        write_atomically(&file, b"{}").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"{}");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir), 0o700);

        let link = tmp.path().join("link.json");
        symlink(&file, &link).unwrap();
        write_atomically(&link, b"{\"a\":1}").unwrap();
        assert!(link.is_symlink());
        assert_eq!(fs::read(&file).unwrap(), b"{\"a\":1}");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }
}
