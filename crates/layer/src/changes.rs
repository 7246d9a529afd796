//! Turning a sequence of file-system changes into an OCI layer tar: containerd's
//! `ChangeWriter`, which every BuildKit differ feeds.
//!
//! For each change it writes the entry's header (see `header`), its content for regular
//! files, and first the headers of any parent directories not yet written, so a layer
//! always carries the metadata of the directories it touches. Deletions become `.wh.<name>`
//! entries with mode 0, ids 0 and mtime 0 (containerd 2 dropped the wall-clock time to make
//! layers reproducible). A file with several links is written once, and its other paths as
//! hardlink entries to the first one written.

use std::collections::{HashMap, HashSet};
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::LayerError;
use crate::header::{self, typeflag};
use crate::walk::abs_path;
use crate::whiteout::WHITEOUT_PREFIX;
use hearth_fsroot::{self as fsutil, DotDot, RelPath};

const COPY_BUFFER: usize = 1 << 20;

/// Which extended attributes a written layer records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XattrPolicy {
    /// Only `security.capability`, as containerd's writer (and so BuildKit) does.
    #[default]
    Capability,
    /// Every attribute except overlayfs' own (`trusted.overlay.*`, `user.overlay.*`).
    All,
}

/// Options shared by the layer writers.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Paths relative to the tree root (a leading `/` is ignored) that are left out of the
    /// layer together with everything below them, such as the mount-point stubs a `RUN`
    /// left behind. Which paths qualify is the caller's decision.
    pub exclude: Vec<PathBuf>,
    /// Clamp for modification times, in seconds since the epoch (BuildKit's
    /// `SOURCE_DATE_EPOCH` rewrite): later mtimes are written as this value.
    pub mtime_clamp: Option<i64>,
    /// Which extended attributes are recorded.
    pub xattrs: XattrPolicy,
    /// For [`write_layer_tar`](crate::write_layer_tar) only: a mounted view of everything
    /// below the upper directory. With it the output follows BuildKit's overlay differ
    /// exactly — whiteouts of paths the lower view lacks are dropped, copied-up directories
    /// whose metadata did not change are written only as parents of changes, and an opaque
    /// directory is expressed as explicit whiteouts of the lower entries it hides. Without
    /// it every upper entry is written and opaque directories carry a `.wh..wh..opq` entry.
    pub lower: Option<PathBuf>,
}

impl DiffOptions {
    pub(crate) fn excluded(&self) -> Vec<RelPath> {
        self.exclude
            .iter()
            .filter_map(|p| RelPath::clean(p.as_os_str().as_encoded_bytes(), DotDot::Clamp).ok())
            .filter(|p| !p.is_root())
            .collect()
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TarStats {
    /// Tar entries (PAX extended headers not counted).
    pub entries: u64,
    /// Bytes of the tar stream, end-of-archive blocks included.
    pub size: u64,
}

/// The kind of a change, as continuity reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Add,
    Modify,
    Delete,
    /// Same in both trees, reported only for files with several links so their other
    /// paths can be linked to whichever one is written.
    Unmodified,
}

/// Writes changes as tar entries into `out`, reading contents from `source`.
pub(crate) struct ChangeWriter<'o, W: Write> {
    out: W,
    source: PathBuf,
    options: &'o DiffOptions,
    inode_src: HashMap<(u64, u64), Vec<u8>>,
    inode_refs: HashMap<(u64, u64), Vec<Vec<u8>>>,
    added_dirs: HashSet<RelPath>,
    header_buf: Vec<u8>,
    copy_buf: Vec<u8>,
    stats: TarStats,
}

impl<'o, W: Write> ChangeWriter<'o, W> {
    pub(crate) fn new(out: W, source: &Path, options: &'o DiffOptions) -> Self {
        Self {
            out,
            source: source.to_path_buf(),
            options,
            inode_src: HashMap::new(),
            inode_refs: HashMap::new(),
            added_dirs: HashSet::new(),
            header_buf: Vec::with_capacity(3 * header::BLOCK),
            copy_buf: vec![0; COPY_BUFFER],
            stats: TarStats::default(),
        }
    }

    /// Records one change. `meta` is the upper side's `lstat` (ignored for deletions).
    pub(crate) fn handle(
        &mut self,
        kind: ChangeKind,
        rel: &RelPath,
        meta: Option<&Metadata>,
    ) -> Result<(), LayerError> {
        if kind == ChangeKind::Delete {
            let mut name = rel.parent().join(WHITEOUT_PREFIX).into_bytes();
            name.extend_from_slice(rel.file_name());
            return self.write_marker(&RelPath::from_bytes(name), 0, 0, 0);
        }
        let Some(meta) = meta else {
            return Ok(());
        };
        let file_type = meta.file_type();
        if file_type.is_socket() {
            // Sockets cannot be archived; containerd leaves them out silently.
            return Ok(());
        }
        let path = abs_path(&self.source, rel);
        let link_target = if file_type.is_symlink() {
            std::fs::read_link(&path)
                .map_err(|source| LayerError::ReadTree {
                    path: path.clone(),
                    source,
                })?
                .into_os_string()
                .into_encoded_bytes()
        } else {
            Vec::new()
        };
        let flag = if file_type.is_dir() {
            typeflag::DIR
        } else if file_type.is_symlink() {
            typeflag::SYMLINK
        } else if file_type.is_char_device() {
            typeflag::CHAR
        } else if file_type.is_block_device() {
            typeflag::BLOCK
        } else if file_type.is_fifo() {
            typeflag::FIFO
        } else {
            typeflag::REG
        };
        let mut name = rel.as_bytes().to_vec();
        if flag == typeflag::DIR {
            name.push(b'/');
        }
        let mut entry = Entry {
            name,
            linkname: link_target,
            typeflag: flag,
            mode: meta.mode() & 0o7777,
            uid: u64::from(meta.uid()),
            gid: u64::from(meta.gid()),
            size: if flag == typeflag::REG {
                meta.size()
            } else {
                0
            },
            mtime: self.clamp(meta.mtime()),
            devmajor: 0,
            devminor: 0,
            pax: Vec::new(),
        };
        // containerd tests the S_IFBLK and S_IFCHR bits separately, which also matches
        // directories and symlinks; their rdev is zero, so only devices get numbers.
        if meta.mode() & 0o060_000 != 0 {
            entry.devmajor = u64::from(rustix::fs::major(meta.rdev()));
            entry.devminor = u64::from(rustix::fs::minor(meta.rdev()));
        }

        let mut additional_links = Vec::new();
        let inode = (meta.dev(), meta.ino());
        if !file_type.is_dir() && meta.nlink() > 1 {
            if let Some(first) = self.inode_src.get(&inode) {
                entry.typeflag = typeflag::LINK;
                entry.linkname = first.clone();
                entry.size = 0;
            } else {
                if kind == ChangeKind::Unmodified {
                    self.inode_refs.entry(inode).or_default().push(entry.name);
                    return Ok(());
                }
                self.inode_src.insert(inode, entry.name.clone());
                additional_links = self.inode_refs.remove(&inode).unwrap_or_default();
            }
        } else if kind == ChangeKind::Unmodified {
            return Ok(());
        }

        entry.pax = self.xattr_records(&path)?;
        self.include_parents(rel)?;
        if flag == typeflag::DIR {
            self.added_dirs.insert(rel.clone());
        }
        self.write_header(&entry, &path)?;
        if entry.typeflag == typeflag::REG && entry.size > 0 {
            self.copy_content(&path, entry.size)?;
        }
        if !additional_links.is_empty() {
            let first = std::mem::take(&mut entry.name);
            for extra in additional_links {
                let extra_rel = RelPath::from_bytes(extra.clone());
                self.include_parents(&extra_rel)?;
                entry.name = extra;
                entry.typeflag = typeflag::LINK;
                entry.linkname = first.clone();
                entry.size = 0;
                self.write_header(&entry, &path)?;
            }
        }
        Ok(())
    }

    /// Writes an empty regular-file entry such as a whiteout or an opaque marker.
    pub(crate) fn write_marker(
        &mut self,
        rel: &RelPath,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<(), LayerError> {
        self.include_parents(rel)?;
        let entry = Entry {
            name: rel.as_bytes().to_vec(),
            linkname: Vec::new(),
            typeflag: typeflag::REG,
            mode,
            uid: u64::from(uid),
            gid: u64::from(gid),
            size: 0,
            mtime: 0,
            devmajor: 0,
            devminor: 0,
            pax: Vec::new(),
        };
        let path = abs_path(&self.source, rel);
        self.write_header(&entry, &path)
    }

    /// Writes the end-of-archive blocks and returns the writer and the counts.
    pub(crate) fn finish(mut self) -> Result<(W, TarStats), LayerError> {
        self.out
            .write_all(&[0u8; 2 * header::BLOCK])
            .map_err(LayerError::Write)?;
        self.stats.size += 2 * header::BLOCK as u64;
        self.out.flush().map_err(LayerError::Write)?;
        Ok((self.out, self.stats))
    }

    fn clamp(&self, mtime: i64) -> i64 {
        match self.options.mtime_clamp {
            Some(bound) if mtime > bound => bound,
            _ => mtime,
        }
    }

    /// Writes the headers of the parent directories of `rel` that are not written yet,
    /// outermost first, with their current metadata.
    fn include_parents(&mut self, rel: &RelPath) -> Result<(), LayerError> {
        let mut missing = Vec::new();
        let mut parent = rel.parent();
        while !parent.is_root() && !self.added_dirs.contains(&parent) {
            missing.push(parent.clone());
            parent = parent.parent();
        }
        for dir in missing.into_iter().rev() {
            self.added_dirs.insert(dir.clone());
            let path = abs_path(&self.source, &dir);
            // os.Stat in containerd: a parent is looked at through symlinks.
            let meta =
                std::fs::metadata(&path).map_err(|source| LayerError::ReadTree { path, source })?;
            self.handle(ChangeKind::Modify, &dir, Some(&meta))?;
        }
        Ok(())
    }

    fn xattr_records(&self, path: &Path) -> Result<header::PaxRecords, LayerError> {
        let read_err = |source| LayerError::ReadTree {
            path: path.to_path_buf(),
            source,
        };
        let names: Vec<Vec<u8>> = match self.options.xattrs {
            XattrPolicy::Capability => vec![b"security.capability".to_vec()],
            XattrPolicy::All => fsutil::list_xattrs(path)
                .map_err(read_err)?
                .into_iter()
                .filter(|n| !n.starts_with(b"trusted.overlay.") && !n.starts_with(b"user.overlay."))
                .collect(),
        };
        let mut records = Vec::new();
        for name in names {
            let Ok(text) = std::str::from_utf8(&name) else {
                continue;
            };
            match fsutil::get_xattr(path, text).map_err(read_err)? {
                // containerd records only non-empty values.
                Some(value) if !value.is_empty() || self.options.xattrs == XattrPolicy::All => {
                    let mut key = b"SCHILY.xattr.".to_vec();
                    key.extend_from_slice(&name);
                    records.push((key, value));
                }
                _ => {}
            }
        }
        Ok(records)
    }

    fn write_header(&mut self, entry: &Entry, path: &Path) -> Result<(), LayerError> {
        self.header_buf.clear();
        header::encode(
            &header::Header {
                name: &entry.name,
                linkname: &entry.linkname,
                typeflag: entry.typeflag,
                mode: entry.mode,
                uid: entry.uid,
                gid: entry.gid,
                size: entry.size,
                mtime: entry.mtime,
                devmajor: entry.devmajor,
                devminor: entry.devminor,
                pax: &entry.pax,
            },
            &mut self.header_buf,
        )
        .map_err(|e| LayerError::UnsupportedFile {
            path: path.to_path_buf(),
            reason: e.0.to_owned(),
        })?;
        self.out
            .write_all(&self.header_buf)
            .map_err(LayerError::Write)?;
        self.stats.entries += 1;
        self.stats.size += self.header_buf.len() as u64;
        Ok(())
    }

    fn copy_content(&mut self, path: &Path, size: u64) -> Result<(), LayerError> {
        let read_err = |source| LayerError::ReadTree {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(read_err)?;
        let mut remaining = size;
        while remaining > 0 {
            let want = remaining.min(self.copy_buf.len() as u64) as usize;
            let n = match file.read(&mut self.copy_buf[..want]) {
                Ok(0) => {
                    return Err(read_err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while it was archived",
                    )));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            self.out
                .write_all(&self.copy_buf[..n])
                .map_err(LayerError::Write)?;
            remaining -= n as u64;
        }
        let pad = header::padding(size);
        self.out
            .write_all(&[0u8; header::BLOCK][..pad])
            .map_err(LayerError::Write)?;
        self.stats.size += size + pad as u64;
        Ok(())
    }
}

/// An owned header, so hardlink entries can reuse it.
struct Entry {
    name: Vec<u8>,
    linkname: Vec<u8>,
    typeflag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: i64,
    devmajor: u64,
    devminor: u64,
    pax: header::PaxRecords,
}
