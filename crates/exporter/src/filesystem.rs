//! Exporting the result's files themselves: `type=local` (a directory) and `type=tar`
//! (a tarball), from a read-only view of the merged filesystem.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::ExportError;

/// Copies the tree at `view` into `dest` (created if needed), keeping modes,
/// owners, symlinks and modification times.
pub fn copy_to_dir(view: &Path, dest: &Path) -> Result<u64, ExportError> {
    fs::create_dir_all(dest).map_err(|e| ExportError::io(dest, e))?;
    let mut entries = 0;
    let mut dirs = Vec::new();
    for entry in walkdir(view)? {
        let (rel, meta) = entry;
        let target = dest.join(&rel);
        let src = view.join(&rel);
        if meta.is_dir() {
            fs::create_dir_all(&target).map_err(|e| ExportError::io(&target, e))?;
            dirs.push((target.clone(), meta.clone()));
        } else if meta.file_type().is_symlink() {
            let link = fs::read_link(&src).map_err(|e| ExportError::io(&src, e))?;
            let _ = fs::remove_file(&target);
            std::os::unix::fs::symlink(link, &target).map_err(|e| ExportError::io(&target, e))?;
            entries += 1;
            continue;
        } else if meta.is_file() {
            fs::copy(&src, &target).map_err(|e| ExportError::io(&target, e))?;
        } else {
            continue;
        }
        // Owner first: changing it clears setuid and setgid.
        let _ = std::os::unix::fs::lchown(&target, Some(meta.uid()), Some(meta.gid()));
        fs::set_permissions(&target, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| ExportError::io(&target, e))?;
        if meta.is_file()
            && let Ok(f) = fs::File::options().write(true).open(&target)
            && let Ok(mtime) = meta.modified()
        {
            let _ = f.set_times(fs::FileTimes::new().set_modified(mtime));
        }
        entries += 1;
    }
    for (dir, meta) in dirs.iter().rev() {
        if let (Ok(f), Ok(mtime)) = (fs::File::open(dir), meta.modified()) {
            let _ = f.set_times(fs::FileTimes::new().set_modified(mtime));
        }
    }
    Ok(entries)
}

/// Writes the tree at `view` as a tarball.
pub fn write_tar<W: Write>(view: &Path, out: W) -> Result<W, ExportError> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    for (rel, _meta) in walkdir(view)? {
        builder
            .append_path_with_name(view.join(&rel), &rel)
            .map_err(|e| ExportError::io(view.join(&rel), e))?;
    }
    builder.into_inner().map_err(|e| ExportError::io(view, e))
}

/// Every entry under `root`, parents first, sorted, relative paths.
fn walkdir(root: &Path) -> Result<Vec<(std::path::PathBuf, fs::Metadata)>, ExportError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut children: Vec<_> = fs::read_dir(&dir)
            .map_err(|e| ExportError::io(&dir, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        children.sort();
        for child in children.into_iter().rev() {
            let meta = child
                .symlink_metadata()
                .map_err(|e| ExportError::io(&child, e))?;
            if meta.is_dir() {
                stack.push(child.clone());
            }
            if let Ok(rel) = child.strip_prefix(root) {
                out.push((rel.to_path_buf(), meta));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_trees_with_modes_and_links() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        fs::create_dir_all(src.path().join("d")).unwrap();
        fs::write(src.path().join("d/f"), "x").unwrap();
        fs::set_permissions(src.path().join("d/f"), fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("d/f", src.path().join("l")).unwrap();
        let n = copy_to_dir(src.path(), dest.path()).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            fs::metadata(dest.path().join("d/f")).unwrap().mode() & 0o7777,
            0o4755
        );
        assert_eq!(
            fs::read_link(dest.path().join("l")).unwrap(),
            Path::new("d/f")
        );
        let tarball = write_tar(src.path(), Vec::new()).unwrap();
        let mut archive = tar::Archive::new(tarball.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["d", "d/f", "l"]);
    }
}
