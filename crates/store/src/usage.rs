//! Disk usage of the store by area, for `hearth du` and GC's `keepBytes`.
//!
//! Sizes are the apparent sizes of regular files (what `du --apparent-size` counts), so they
//! match what was written byte for byte. A file hard-linked several times within one area is
//! counted once. Walks stay on one filesystem: a leftover mount under `tmp/` is not the
//! store's to count.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use walkdir::WalkDir;

use crate::error::{IoContext, Result, StoreError};
use crate::layers::LayerId;
use crate::store::Store;

/// Bytes used, by area.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// `blobs/`.
    pub blobs: u64,
    /// `layers/`.
    pub layers: u64,
    /// `cache-mounts/`.
    pub cache_mounts: u64,
    /// `meta.redb`.
    pub metadata: u64,
    /// `tmp/`: work in progress.
    pub tmp: u64,
}

impl Usage {
    /// The sum of all areas.
    pub fn total(&self) -> u64 {
        self.blobs + self.layers + self.cache_mounts + self.metadata + self.tmp
    }
}

impl Store {
    /// Measures every area. Walks every file, so it takes a while on a large store.
    pub fn disk_usage(&self) -> Result<Usage> {
        let layout = self.layout();
        let meta = layout.meta_file();
        Ok(Usage {
            blobs: tree_size(&layout.blobs_dir())?,
            layers: tree_size(&layout.layers_dir())?,
            cache_mounts: tree_size(&layout.cache_mounts_dir())?,
            metadata: std::fs::metadata(&meta).ctx("inspect", &meta)?.len(),
            tmp: tree_size(&layout.tmp_dir())?,
        })
    }

    /// The bytes committed layer `id` takes, for its record's `size`.
    pub fn layer_disk_size(&self, id: &LayerId) -> Result<u64> {
        let root = self.layer_root(id);
        if !root.is_dir() {
            return Err(StoreError::LayerNotFound { id: id.clone() });
        }
        tree_size(&root)
    }
}

/// Apparent size of the regular files under `dir` (on its filesystem; hard-linked files
/// once; files vanishing during the walk are skipped).
pub fn tree_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut seen = HashSet::new();
    for entry in WalkDir::new(dir).same_file_system(true) {
        let entry = match entry {
            Ok(entry) => entry,
            // Work in progress may vanish while we walk (tmp/, a layer being removed).
            Err(e)
                if e.io_error()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
            {
                continue;
            }
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                return Err(StoreError::io("measure", path, e.into()));
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let md = match entry.metadata() {
            Ok(md) => md,
            Err(e)
                if e.io_error()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
            {
                continue;
            }
            Err(e) => return Err(StoreError::io("measure", entry.path(), e.into())),
        };
        if md.nlink() > 1 && !seen.insert((md.dev(), md.ino())) {
            continue;
        }
        total += md.len();
    }
    Ok(total)
}
