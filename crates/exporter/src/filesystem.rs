//! Exporting the result's files themselves: `type=local` (a directory) and `type=tar`
//! (a tarball), from a read-only view of the merged filesystem.
//!
//! A `type=local` destination may already hold what an earlier export left, including
//! links a hostile image planted (`/evil -> /etc/shadow` of the machine exporting). Every
//! entry is written through `hearth_fsroot::TreeWriter`: under a temporary name, then
//! renamed over whatever is there, never written, chmodded or re-timed through a link.
//! The same writer extracts the tarball a daemon streams to its client for a
//! `type=local` output, so both paths write a directory the same way.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use hearth_fsroot::{Attrs, DotDot, RelPath, TreeWriter};

use crate::ExportError;

/// Copies the tree at `view` into `dest` (created if needed), keeping modes, owners,
/// symlinks and modification times; returns how many entries it wrote.
pub fn copy_to_dir(view: &Path, dest: &Path) -> Result<u64, ExportError> {
    let mut out = LocalDir::create(dest)?;
    for (rel, meta) in walkdir(view)? {
        let src = view.join(&rel);
        let attrs = Attrs {
            mode: meta.mode(),
            owner: Some((meta.uid(), meta.gid())),
            times: Some(hearth_fsroot::same_times(meta.mtime(), meta.mtime_nsec())),
        };
        let kind = if meta.is_dir() {
            Entry::Dir
        } else if meta.file_type().is_symlink() {
            let link = fs::read_link(&src).map_err(|e| ExportError::io(&src, e))?;
            Entry::Symlink(link.into_os_string().into_vec())
        } else if meta.is_file() {
            let file = open_nofollow(&src).map_err(|e| ExportError::io(&src, e))?;
            Entry::File(Box::new(file))
        } else {
            continue;
        };
        out.write(&relpath(&rel), &attrs, kind)?;
    }
    out.finish()
}

/// Extracts a tarball of a tree, as [`write_tar`] writes it, into `dest` with the same
/// rules as [`copy_to_dir`]. Entry names that climb out of `dest` are refused; devices,
/// FIFOs and hard links are not part of such a tree and are skipped.
pub fn extract_tar(tar: impl Read, dest: &Path) -> Result<u64, ExportError> {
    let failed = |e: std::io::Error| ExportError::io(dest, e);
    let mut out = LocalDir::create(dest)?;
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(failed)? {
        let mut entry = entry.map_err(failed)?;
        let name = entry.path_bytes().into_owned();
        let rel = RelPath::clean(&name, DotDot::Reject).map_err(|why| {
            failed(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("entry {:?}: {why}", String::from_utf8_lossy(&name)),
            ))
        })?;
        let header = entry.header();
        let attrs = Attrs {
            mode: header.mode().map_err(failed)?,
            owner: Some((
                u32::try_from(header.uid().map_err(failed)?).unwrap_or(0),
                u32::try_from(header.gid().map_err(failed)?).unwrap_or(0),
            )),
            times: Some(hearth_fsroot::same_times(
                i64::try_from(header.mtime().map_err(failed)?).unwrap_or(0),
                0,
            )),
        };
        let kind = match header.entry_type() {
            tar::EntryType::Directory => Entry::Dir,
            tar::EntryType::Symlink => Entry::Symlink(
                entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default(),
            ),
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                Entry::File(Box::new(&mut entry))
            }
            _ => continue,
        };
        if rel.is_root() && !matches!(kind, Entry::Dir) {
            continue;
        }
        out.write(&rel, &attrs, kind)?;
    }
    out.finish()
}

/// One entry to write.
enum Entry<'a> {
    Dir,
    Symlink(Vec<u8>),
    File(Box<dyn Read + 'a>),
}

/// A `type=local` destination being written.
struct LocalDir {
    writer: TreeWriter,
    dest: PathBuf,
    /// Directory times, set last: writing into a directory changes them.
    dir_times: Vec<(RelPath, hearth_fsroot::Timestamps)>,
    entries: u64,
}

impl LocalDir {
    fn create(dest: &Path) -> Result<Self, ExportError> {
        Ok(Self {
            writer: TreeWriter::open(dest, None).map_err(|e| ExportError::io(dest, e))?,
            dest: dest.to_path_buf(),
            dir_times: Vec::new(),
            entries: 0,
        })
    }

    fn write(&mut self, rel: &RelPath, attrs: &Attrs, entry: Entry<'_>) -> Result<(), ExportError> {
        let written = match entry {
            Entry::Dir => {
                if let Some(times) = &attrs.times {
                    self.dir_times.push((rel.clone(), times.clone()));
                }
                self.writer.dir(rel, attrs)
            }
            Entry::Symlink(target) => self.writer.symlink(rel, &target, attrs),
            Entry::File(mut content) => self.writer.file(rel, attrs, &mut content).map(drop),
        };
        written.map_err(|e| ExportError::io(rel.under(&self.dest), e))?;
        if !rel.is_root() {
            self.entries += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<u64, ExportError> {
        for (dir, times) in self.dir_times.iter().rev() {
            self.writer
                .set_times(dir, times)
                .map_err(|e| ExportError::io(dir.under(&self.dest), e))?;
        }
        Ok(self.entries)
    }
}

fn relpath(rel: &Path) -> RelPath {
    RelPath::from_bytes(rel.as_os_str().as_bytes().to_vec())
}

fn open_nofollow(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::File::options()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// Writes the tree at `view` as a tarball.
pub fn write_tar<W: Write>(view: &Path, out: W) -> Result<W, ExportError> {
    write_tars(&[(None, view)], out)
}

/// Writes several trees into one tarball, each under its directory when it has one (the
/// platforms of a multi-platform `type=tar` output).
pub fn write_tars<W: Write>(trees: &[(Option<&str>, &Path)], out: W) -> Result<W, ExportError> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    for (prefix, view) in trees {
        if let Some(prefix) = prefix {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_size(0);
            builder
                .append_data(&mut header, format!("{prefix}/"), std::io::empty())
                .map_err(|e| ExportError::io(view, e))?;
        }
        for (rel, _meta) in walkdir(view)? {
            let name = match prefix {
                Some(prefix) => Path::new(prefix).join(&rel),
                None => rel.clone(),
            };
            builder
                .append_path_with_name(view.join(&rel), &name)
                .map_err(|e| ExportError::io(view.join(&rel), e))?;
        }
    }
    builder
        .into_inner()
        .map_err(|e| ExportError::io(trees.first().map_or(Path::new("-"), |t| t.1), e))
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
    use std::os::unix::fs::PermissionsExt as _;

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

    #[test]
    fn an_export_replaces_links_an_earlier_one_left_instead_of_writing_through_them() {
        let work = tempfile::tempdir().unwrap();
        let host = work.path().join("host");
        fs::create_dir_all(host.join("dir")).unwrap();
        fs::write(host.join("victim"), "host").unwrap();
        fs::set_permissions(host.join("victim"), fs::Permissions::from_mode(0o600)).unwrap();
        // What a first, hostile image exported: links to the exporting machine's files.
        let first = work.path().join("first");
        fs::create_dir(&first).unwrap();
        std::os::unix::fs::symlink(host.join("victim"), first.join("evil")).unwrap();
        std::os::unix::fs::symlink(host.join("dir"), first.join("d")).unwrap();
        // The second image has a setuid file and a directory at those names.
        let second = work.path().join("second");
        fs::create_dir_all(second.join("d")).unwrap();
        fs::write(second.join("evil"), "pwned").unwrap();
        fs::set_permissions(second.join("evil"), fs::Permissions::from_mode(0o4777)).unwrap();
        fs::write(second.join("d/planted"), "pwned").unwrap();
        for round in ["copy", "extract"] {
            let dest = work.path().join(format!("dest-{round}"));
            copy_to_dir(&first, &dest).unwrap();
            if round == "copy" {
                copy_to_dir(&second, &dest).unwrap();
            } else {
                let tarball = write_tar(&second, Vec::new()).unwrap();
                extract_tar(tarball.as_slice(), &dest).unwrap();
            }
            assert_eq!(
                fs::read_to_string(host.join("victim")).unwrap(),
                "host",
                "{round}"
            );
            assert_eq!(
                fs::metadata(host.join("victim")).unwrap().mode() & 0o7777,
                0o600,
                "{round}: the link's target was chmodded"
            );
            assert!(!host.join("dir/planted").exists(), "{round}");
            assert_eq!(fs::read_to_string(dest.join("evil")).unwrap(), "pwned");
            assert_eq!(
                fs::symlink_metadata(dest.join("evil")).unwrap().mode() & 0o7777,
                0o4777
            );
            assert!(fs::symlink_metadata(dest.join("d")).unwrap().is_dir());
        }
    }

    #[test]
    fn a_tarball_entry_that_climbs_out_is_refused() {
        let work = tempfile::tempdir().unwrap();
        let dest = work.path().join("dest");
        for name in ["../escape", "a/../../escape"] {
            let mut header = tar::Header::new_gnu();
            header.set_size(1);
            header.set_mode(0o644);
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            let mut tar = tar::Builder::new(Vec::new());
            tar.append(&header, &b"x"[..]).unwrap();
            let bytes = tar.into_inner().unwrap();
            let err = extract_tar(bytes.as_slice(), &dest)
                .unwrap_err()
                .to_string();
            assert!(err.contains("climbs above"), "{name}: {err}");
        }
        assert!(!work.path().join("escape").exists());
    }
}
