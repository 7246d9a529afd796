//! `ADD` of a local archive: BuildKit v0.24's `unpack` with moby/go-archive's `Untar`.
//!
//! A source counts as an archive when it is a regular file whose (possibly bzip2-, gzip-,
//! xz- or zstd-compressed) content starts with a readable tar header; anything else is
//! copied by the caller as a plain file. Extraction then follows docker, not the layer
//! rules: `.wh.` names are ordinary files, symlinks met on the way are resolved inside the
//! destination as in docker's chroot (an absolute link target starts at the destination,
//! `..` stops there), ownership comes from the tar unless `--chown` overrides it, implied
//! parent directories are 0755 root-owned, and xattrs are set best-effort.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::apply::{Owner, SymlinkPolicy, Unpack, Whiteouts, XattrRule, unpack};
use crate::detect::{ArchiveFormat, decompressed, detect_compression, is_tar_header};
use crate::error::LayerError;
use crate::header::BLOCK;

/// Options of [`extract_archive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractOptions {
    /// `ADD --chown`: owner of every extracted entry instead of the tar's ids.
    pub chown: Option<(u32, u32)>,
    /// Chown to the tar's ids when `chown` is not given (true as root, as BuildKit does).
    pub same_owner: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            chown: None,
            same_owner: true,
        }
    }
}

/// If `src` is a tar archive (plain or compressed), extracts it into `dest_dir` (missing
/// directories are created 0755, owned by `chown` when given) and returns true; otherwise
/// returns false and touches nothing.
pub fn extract_archive(
    src: &Path,
    dest_dir: &Path,
    options: &ExtractOptions,
) -> Result<bool, LayerError> {
    let Some(format) = archive_format(src) else {
        return Ok(false);
    };
    make_dest(dest_dir, options.chown).map_err(|source| LayerError::Destination {
        path: dest_dir.to_path_buf(),
        source,
    })?;
    let file = open(src)?;
    let stream = decompressed(file, format)?;
    let config = Unpack {
        whiteouts: Whiteouts::Literal,
        symlinks: SymlinkPolicy::ResolveInRoot,
        owner: match (options.chown, options.same_owner) {
            (Some((uid, gid)), _) => Owner::Fixed(uid, gid),
            (None, true) => Owner::FromTar,
            (None, false) => Owner::Keep,
        },
        xattrs: XattrRule::BestEffort,
    };
    unpack(stream, dest_dir, &config)?;
    Ok(true)
}

/// BuildKit's `copy.MkdirAll(dest, 0755, chowner)`: every directory it creates is 0755 and,
/// with `--chown`, owned by that user.
fn make_dest(dest: &Path, chown: Option<(u32, u32)>) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut dir = dest;
    while std::fs::symlink_metadata(dir).is_err() {
        missing.push(dir);
        match dir.parent() {
            Some(parent) => dir = parent,
            None => break,
        }
    }
    for dir in missing.into_iter().rev() {
        match std::fs::DirBuilder::new().mode(0o755).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        if let Some((uid, gid)) = chown {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

/// BuildKit's `isArchivePath`: a regular file whose decompressed stream opens with a tar
/// header. Any failure along the way means "not an archive".
fn archive_format(src: &Path) -> Option<ArchiveFormat> {
    let meta = std::fs::symlink_metadata(src).ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    let mut file = File::open(src).ok()?;
    let mut magic = [0u8; 8];
    let n = read_up_to(&mut file, &mut magic).ok()?;
    let format = detect_compression(&magic[..n]).unwrap_or(ArchiveFormat::Tar);
    let file = File::open(src).ok()?;
    let mut stream = decompressed(file, format).ok()?;
    let mut block = [0u8; BLOCK];
    let n = read_up_to(&mut stream, &mut block).ok()?;
    is_tar_header(&block[..n]).then_some(format)
}

fn open(src: &Path) -> Result<File, LayerError> {
    File::open(src).map_err(|source| LayerError::ReadSource {
        path: src.to_path_buf(),
        source,
    })
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
