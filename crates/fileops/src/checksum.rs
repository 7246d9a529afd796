//! Content checksums of copy sources, used as the content part of a `COPY` cache key.
//!
//! The checksum covers exactly what [`crate::copy`] reads for the same source path
//! and options: the same wildcard matches, the same link following, the same
//! include/exclude selection (the shared walk in `walk.rs`), and for each selected
//! entry its path relative to the source, type, mode, owner, extended attributes,
//! link target or device number, content, and whether it is a hard link to an
//! earlier entry. Wildcard matches also contribute their names, since those name the
//! copies. Nothing else is read, so editing an unselected file never changes the
//! checksum, and timestamps (which BuildKit's cache ignores too) never do.
//!
//! The values are hearth's own (BuildKit's digests are not reproduced); they are
//! versioned by [`FORMAT`] so a format change cannot collide with old keys.

use std::collections::HashMap;
use std::io::Read as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use hearth_core::Digest;
use sha2::{Digest as _, Sha256};

use crate::error::FileOpError;
use crate::fsx::{self, Kind};
use crate::walk::{self, Filter, Node, Visitor};
use crate::{paths, wildcard};

/// Identifies the record format below.
const FORMAT: &[u8] = b"hearth-fileops/checksum/v1\0";

/// What to select, as for the matching copy action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChecksumOptions {
    /// Follow a symlink named by the path itself (and by each wildcard match).
    pub follow_symlinks: bool,
    /// Expand wildcards in the path.
    pub wildcard: bool,
    /// Only paths matching these patterns, relative to each source.
    pub include_patterns: Vec<String>,
    /// Skip paths matching these patterns.
    pub exclude_patterns: Vec<String>,
}

/// The checksum of what a copy of `path` (inside `root`) with these options reads.
///
/// A wildcard that matches nothing has the checksum of an empty selection (as in
/// BuildKit, even when its directory part is missing; the copy itself then decides
/// whether that is an error).
///
/// # Errors
///
/// [`FileOpError::NotFound`] (`"/path": not found`) when a path without wildcards
/// does not exist, malformed patterns, and I/O errors.
pub fn checksum(root: &Path, path: &str, options: &ChecksumOptions) -> Result<Digest, FileOpError> {
    checksum_cached(root, path, options, None)
}

/// Content digests a caller already knows, so that [`checksum_cached`] need not read
/// files again (a synced build context hashes each file once, when it copies it).
pub trait ContentDigests {
    /// The sha256 of the regular file at host path `path` whose `lstat` is `meta`, if
    /// known for exactly this version of the file.
    fn sha256(&self, path: &Path, meta: &std::fs::Metadata) -> Option<[u8; 32]>;
}

/// [`checksum`], taking file content digests from `known` where it has them.
///
/// # Errors
///
/// As [`checksum`].
pub fn checksum_cached(
    root: &Path,
    path: &str,
    options: &ChecksumOptions,
    known: Option<&dyn ContentDigests>,
) -> Result<Digest, FileOpError> {
    let src_path = paths::clean_keep_slash(path);
    let filter = Filter::new(&options.include_patterns, &options.exclude_patterns)?;
    let sources = if options.wildcard {
        match wildcard::resolve(root, src_path.as_bytes(), options.follow_symlinks) {
            Ok(matches) => matches,
            Err(e) if fsx::is_not_found(&e) => Vec::new(),
            Err(e) => return Err(FileOpError::io("walk", src_path, e)),
        }
    } else {
        vec![src_path.into_bytes()]
    };

    let mut hasher = Sha256::new();
    hasher.update(FORMAT);
    for source in &sources {
        let shown = String::from_utf8_lossy(&paths::clean_abs(source)).into_owned();
        let not_found = |e: std::io::Error| {
            if fsx::is_not_found(&e) {
                FileOpError::NotFound {
                    path: shown.clone(),
                }
            } else {
                FileOpError::io("lstat", shown.clone(), e)
            }
        };
        let followed = paths::resolve_parent_or_all(root, source, options.follow_symlinks)
            .map_err(not_found)?;
        let meta = std::fs::symlink_metadata(&followed).map_err(not_found)?;
        put_bytes(&mut hasher, b"source");
        put_bytes(&mut hasher, paths::base(source));
        let mut visitor = HashVisitor {
            root,
            hasher: &mut hasher,
            inodes: HashMap::new(),
            known,
        };
        let shown_path = |p: &Path| paths::shown(root, p);
        walk::walk(&followed, &meta, &filter, &mut visitor, &shown_path)?;
    }
    Ok(Digest::from_sha256_bytes(hasher.finalize().into()))
}

/// Feeds one record per selected entry to the hash.
struct HashVisitor<'a> {
    root: &'a Path,
    hasher: &'a mut Sha256,
    /// First relative path of each multiply-linked inode, as the copy tracks it.
    inodes: HashMap<(u64, u64), PathBuf>,
    known: Option<&'a dyn ContentDigests>,
}

impl HashVisitor<'_> {
    fn header(&mut self, tag: &[u8], node: &Node<'_>) {
        put_bytes(self.hasher, tag);
        put_bytes(self.hasher, node.rel.as_os_str().as_bytes());
        put_u64(self.hasher, u64::from(node.meta.mode()));
        put_u64(self.hasher, u64::from(node.meta.uid()));
        put_u64(self.hasher, u64::from(node.meta.gid()));
        let attrs = hearth_fsroot::xattr_pairs(node.src);
        put_u64(self.hasher, attrs.len() as u64);
        for (name, value) in &attrs {
            put_bytes(self.hasher, name);
            put_bytes(self.hasher, value);
        }
    }

    fn content(&mut self, node: &Node<'_>) -> Result<(), FileOpError> {
        if let Some(sha) = self.known.and_then(|k| k.sha256(node.src, node.meta)) {
            put_u64(self.hasher, node.meta.len());
            self.hasher.update(sha);
            return Ok(());
        }
        let shown = || paths::shown(self.root, node.src);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(node.src)
            .map_err(|e| FileOpError::io("open", shown(), e))?;
        let mut content = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| FileOpError::io("read", shown(), e))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            content.update(&buf[..n]);
        }
        put_u64(self.hasher, size);
        self.hasher.update(content.finalize());
        Ok(())
    }
}

impl Visitor for HashVisitor<'_> {
    fn parent(&mut self, node: &Node<'_>) -> Result<(), FileOpError> {
        self.header(b"parent", node);
        Ok(())
    }

    fn enter_dir(&mut self, node: &Node<'_>) -> Result<(), FileOpError> {
        self.header(b"dir", node);
        Ok(())
    }

    fn leave_dir(&mut self, _: &Node<'_>, _: bool) -> Result<(), FileOpError> {
        Ok(())
    }

    fn leaf(&mut self, node: &Node<'_>) -> Result<(), FileOpError> {
        match Kind::of(node.meta) {
            Kind::File => {
                let key = (node.meta.dev(), node.meta.ino());
                let first = if node.meta.nlink() > 1 {
                    self.inodes.get(&key).cloned()
                } else {
                    None
                };
                if let Some(first) = first {
                    self.header(b"hardlink", node);
                    put_bytes(self.hasher, first.as_os_str().as_bytes());
                    return Ok(());
                }
                if node.meta.nlink() > 1 {
                    self.inodes.insert(key, node.rel.to_path_buf());
                }
                self.header(b"file", node);
                self.content(node)
            }
            Kind::Symlink => {
                self.header(b"symlink", node);
                let target = std::fs::read_link(node.src).map_err(|e| {
                    FileOpError::io("readlink", paths::shown(self.root, node.src), e)
                })?;
                put_bytes(self.hasher, target.as_os_str().as_bytes());
                Ok(())
            }
            Kind::Special => {
                self.header(b"special", node);
                put_u64(self.hasher, node.meta.rdev());
                Ok(())
            }
            Kind::Dir => Ok(()),
        }
    }
}

fn put_u64(hasher: &mut Sha256, value: u64) {
    hasher.update(value.to_le_bytes());
}

/// Length-prefixed, so that no two different record streams hash the same bytes.
fn put_bytes(hasher: &mut Sha256, bytes: &[u8]) {
    put_u64(hasher, bytes.len() as u64);
    hasher.update(bytes);
}
