//! `ADD` of a local archive: detection by content and extraction with the rules of
//! moby/go-archive's `chrootarchive.Untar`, which BuildKit uses.
//!
//! This is a stop-gap until `hearth-layer` provides archive detection and extraction;
//! it only has to reproduce what BuildKit does for `ADD`:
//!
//! * A source is an archive when it is a regular file whose content, after optional
//!   gzip, bzip2, xz or zstd decompression (detected by magic number, as
//!   go-archive's `DecompressStream` does), starts with a valid tar header. The name
//!   does not matter; anything else is copied as a plain file.
//! * The destination is always a directory (created with mode 0o755 and the
//!   `--chown` owner). `--chmod` does not apply to extracted entries.
//! * Extraction runs chrooted into that directory in BuildKit, so every name and
//!   link is resolved inside it: `../x` and `/x` both land in the directory, and
//!   archive symlinks cannot lead out of it. Missing parent directories are created
//!   0o755 root-owned. An existing entry is replaced unless both are directories.
//! * Owners come from the headers, or all become the `--chown` owner. Modes are the
//!   header's twelve bits (applied after `lchown`, so setuid survives). `SCHILY.xattr`
//!   records are applied best effort.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, FileType, Mode};

use crate::error::FileOpError;
use crate::fsx::{self, Kind};
use crate::owner::Ids;
use crate::paths;

/// Mode of directories implied by entry names (go-archive's `ImpliedDirectoryMode`).
const IMPLIED_DIR_MODE: u32 = 0o755;
/// Mode of the extraction directory when `ADD` creates it.
const DEST_DIR_MODE: u32 = 0o755;
/// PAX records carrying extended attributes.
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// BuildKit's `unpack`: if the source (resolved inside `src_root`, links followed) is
/// an archive, extracts it into `dest` (inside `dest_root`) and returns `true`;
/// otherwise returns `false` and touches nothing.
///
/// # Errors
///
/// Resolution failures, and failures while extracting an archive.
pub(crate) fn try_unpack(
    src_root: &Path,
    src: &[u8],
    dest_root: &Path,
    dest: &str,
    owner: Option<Ids>,
) -> Result<bool, FileOpError> {
    let shown_src = String::from_utf8_lossy(&paths::clean_abs(src)).into_owned();
    let archive = paths::resolve(src_root, src)
        .map_err(|e| FileOpError::io("resolve", shown_src.clone(), e))?;
    if !is_archive(&archive) {
        return Ok(false);
    }
    let dest_dir = paths::resolve(dest_root, dest.as_bytes())
        .map_err(|e| FileOpError::io("resolve", dest, e))?;
    fsx::mkdir_all(&dest_dir, DEST_DIR_MODE, owner)
        .map_err(|e| FileOpError::io("mkdir", paths::shown(dest_root, &dest_dir), e))?;
    let error = |message: String| FileOpError::Archive {
        path: shown_src.clone(),
        message,
    };
    let reader = decompressed(&archive).map_err(|e| error(e.to_string()))?;
    extract(reader, &dest_dir, owner).map_err(error)?;
    Ok(true)
}

/// go-archive's `isArchivePath`: a regular file that decompresses (if compressed)
/// into something with a valid first tar header.
pub(crate) fn is_archive(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => {}
        _ => return false,
    }
    let Ok(reader) = decompressed(path) else {
        return false;
    };
    let mut archive = tar::Archive::new(reader);
    let Ok(mut entries) = archive.entries() else {
        return false;
    };
    matches!(entries.next(), Some(Ok(_)))
}

/// Opens `path` and wraps it in the decompressor its magic number calls for.
fn decompressed(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 10];
    let mut filled = 0;
    while filled < magic.len() {
        match file.read(&mut magic[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    let head = magic[..filled].to_vec();
    let stream = io::Cursor::new(head.clone()).chain(file);
    Ok(match Compression::detect(&head) {
        Compression::None => Box::new(stream),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(stream)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(stream)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(stream)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(stream)?),
    })
}

/// The compressions go-archive's `Detect` recognises, in its order of checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Bzip2,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    fn detect(head: &[u8]) -> Self {
        if head.starts_with(&[0x42, 0x5A, 0x68]) {
            Self::Bzip2
        } else if head.starts_with(&[0x1F, 0x8B, 0x08]) {
            Self::Gzip
        } else if head.starts_with(&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
            Self::Xz
        } else if head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) || is_zstd_skippable(head) {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// A zstd skippable frame: magic 0x184D2A50..=0x184D2A5F, little endian, and at
/// least a frame header's worth of bytes.
fn is_zstd_skippable(head: &[u8]) -> bool {
    if head.len() < 8 {
        return false;
    }
    let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    magic & 0xFFFF_FFF0 == 0x184D_2A50
}

/// go-archive's `Unpack` into `root`, as if chrooted there.
fn extract(reader: Box<dyn Read>, root: &Path, owner: Option<Ids>) -> Result<(), String> {
    let mut archive = tar::Archive::new(reader);
    let mut dirs: Vec<(PathBuf, i64)> = Vec::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let raw_type = entry.header().as_bytes()[156];
        if raw_type == b'g' {
            continue;
        }
        let name = entry.path_bytes().into_owned();
        let entry_type = effective_type(raw_type, &name);
        let in_root = paths::clean_abs(&name);
        let is_dot = name.first() != Some(&b'/') && in_root == b"/";
        let shown = String::from_utf8_lossy(&in_root).into_owned();
        let fail = |what: &str, e: io::Error| format!("{what} {shown}: {e}");

        if in_root != b"/" {
            create_implied_parent(root, &in_root).map_err(|e| fail("mkdir parent of", e))?;
        }
        let path =
            paths::resolve_parent_or_all(root, &in_root, false).map_err(|e| fail("resolve", e))?;
        if let Some(existing) = fsx::lstat_opt(&path).map_err(|e| fail("lstat", e))? {
            if existing.is_dir() && is_dot {
                continue;
            }
            if path == root && entry_type != b'5' {
                // go-archive would try to remove the whole extraction directory.
                return Err(format!(
                    "cannot replace the extraction directory with {shown}"
                ));
            }
            if !(existing.is_dir() && entry_type == b'5') {
                hearth_fsroot::remove_tree(&path).map_err(|e| fail("remove", e))?;
            }
        }

        let header = entry.header().clone();
        let mode = header.mode().map_err(|e| fail("mode of", e))? & fsx::MODE_BITS;
        let link_name = entry.link_name_bytes().map(|l| l.into_owned());
        let mut link_target_is_file = false;
        match entry_type {
            b'5' => {
                if !fsx::lstat_opt(&path)
                    .map_err(|e| fail("lstat", e))?
                    .is_some_and(|m| m.is_dir())
                {
                    rustix::fs::mkdirat(CWD, &path, Mode::from_raw_mode(mode & 0o1777))
                        .map_err(|e| fail("mkdir", e.into()))?;
                }
            }
            b'0' => {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| fail("create", e))?;
                io::copy(&mut entry, &mut file).map_err(|e| fail("write", e))?;
            }
            b'3' | b'4' | b'6' => {
                let file_type = match entry_type {
                    b'3' => FileType::CharacterDevice,
                    b'4' => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                rustix::fs::mknodat(
                    CWD,
                    &path,
                    file_type,
                    Mode::from_raw_mode(mode),
                    rustix::fs::makedev(major, minor),
                )
                .map_err(|e| fail("mknod", e.into()))?;
            }
            b'1' => {
                let link = link_name.clone().unwrap_or_default();
                let target = paths::resolve_parent_or_all(root, &link, false)
                    .map_err(|e| fail("resolve link target of", e))?;
                std::fs::hard_link(&target, &path).map_err(|e| fail("link", e))?;
                link_target_is_file = fsx::lstat_opt(&target)
                    .ok()
                    .flatten()
                    .is_some_and(|m| Kind::of(&m) != Kind::Symlink);
            }
            b'2' => {
                let link = link_name.clone().unwrap_or_default();
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&link), &path)
                    .map_err(|e| fail("symlink", e))?;
            }
            other => return Err(format!("unhandled tar header type {other}")),
        }

        let ids = owner.unwrap_or(Ids {
            uid: header.uid().unwrap_or(0) as u32,
            gid: header.gid().unwrap_or(0) as u32,
        });
        fsx::lchown(&path, ids).map_err(|e| fail("lchown", e))?;

        if let Ok(Some(extensions)) = entry.pax_extensions() {
            for extension in extensions.flatten() {
                let Ok(key) = extension.key() else { continue };
                if let Some(attr) = key.strip_prefix(PAX_XATTR_PREFIX) {
                    // Best effort, like go-archive's BestEffortXattrs.
                    let _ = xattr::set(&path, attr, extension.value_bytes());
                }
            }
        }

        // There is no lchmod; a hard link is chmod-ed only if its target is no link.
        let chmod = match entry_type {
            b'2' => false,
            b'1' => link_target_is_file,
            _ => true,
        };
        if chmod {
            fsx::chmod(&path, mode).map_err(|e| fail("chmod", e))?;
        }

        let mtime = header.mtime().unwrap_or(0) as i64;
        if entry_type == b'5' {
            dirs.push((path, mtime));
        } else if entry_type != b'1' || link_target_is_file {
            hearth_fsroot::set_times(&path, &hearth_fsroot::same_times(mtime, 0))
                .map_err(|e| fail("chtimes", e))?;
        }
    }
    // Directory times last, so that creating entries does not change them again.
    // Best effort: a later entry may have replaced the directory.
    for (path, mtime) in dirs {
        let _ = hearth_fsroot::set_times(&path, &hearth_fsroot::same_times(mtime, 0));
    }
    Ok(())
}

/// The type flag as Go's tar reader reports it: the old `\0` regular-file flag is a
/// directory when the name ends in `/`, else a regular file; `7` (contiguous) stays
/// unhandled as in go-archive.
fn effective_type(raw: u8, name: &[u8]) -> u8 {
    match raw {
        0 if name.last() == Some(&b'/') => b'5',
        0 => b'0',
        other => other,
    }
}

/// go-archive's `createImpliedDirectories`: if the entry's parent does not exist,
/// create it and its missing parents 0o755 owned by root.
fn create_implied_parent(root: &Path, in_root: &[u8]) -> io::Result<()> {
    let (dir, _) = paths::split(in_root);
    let parent = paths::clean_abs(dir);
    let lexical = paths::resolve_parent_or_all(root, &parent, false)?;
    if fsx::lstat_opt(&lexical)?.is_some() {
        return Ok(());
    }
    let resolved = paths::resolve(root, &parent)?;
    fsx::mkdir_all(&resolved, IMPLIED_DIR_MODE, Some(Ids { uid: 0, gid: 0 }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_detected_by_magic() {
        assert_eq!(Compression::detect(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(
            Compression::detect(&[0x1F, 0x8B, 0x08, 0]),
            Compression::Gzip
        );
        assert_eq!(
            Compression::detect(&[0x1F, 0x8B, 0x07, 0]),
            Compression::None
        );
        assert_eq!(
            Compression::detect(&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 0]),
            Compression::Xz
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xB5, 0x2F, 0xFD]),
            Compression::Zstd
        );
        assert_eq!(
            Compression::detect(&[0x5E, 0x2A, 0x4D, 0x18, 0, 0, 0, 0]),
            Compression::Zstd
        );
        assert_eq!(
            Compression::detect(&[0x5E, 0x2A, 0x4D, 0x18]),
            Compression::None
        );
        assert_eq!(Compression::detect(b"plain text"), Compression::None);
    }

    #[test]
    fn old_regular_flag_follows_the_name() {
        assert_eq!(effective_type(0, b"dir/"), b'5');
        assert_eq!(effective_type(0, b"file"), b'0');
        assert_eq!(effective_type(b'2', b"l"), b'2');
    }
}
