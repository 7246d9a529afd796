//! Layer directories: immutable file trees under `layers/<id>/diff`.
//!
//! A layer is built (by a RUN step's overlay upper dir, a file operation, or unpacking an
//! image layer) in a [`PendingLayer`] under `tmp/`, and becomes visible only by the atomic
//! rename in [`PendingLayer::commit`]. As with containerd snapshots, a pending layer never
//! becomes a committed one in place, and a committed layer is never written again.

use std::fmt;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil;
use crate::store::Store;

const LAYER_ID_LEN: usize = 26;

/// The name of a committed layer: 26 random lowercase base32 characters.
///
/// Random rather than content-derived because the same content can be produced by
/// different builds at the same time, and each needs its own directory to commit into;
/// content identity is the layer record's `diff_id`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId(String);

impl LayerId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(fsutil::random_name())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LayerId({})", self.0)
    }
}

/// Why a string is not a [`LayerId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid layer id {0:?}: expected 26 lowercase base32 characters (a-z, 2-7)")]
pub struct LayerIdError(pub String);

impl FromStr for LayerId {
    type Err = LayerIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == LAYER_ID_LEN && s.bytes().all(fsutil::is_base32_char) {
            Ok(Self(s.to_owned()))
        } else {
            Err(LayerIdError(s.to_owned()))
        }
    }
}

impl Serialize for LayerId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LayerId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Store {
    /// Starts a new layer in `tmp/layer-<id>/`, with an empty `diff/` for its files and an
    /// empty `work/` for overlayfs (which needs its work dir on the upper dir's filesystem).
    pub fn new_layer(&self) -> Result<PendingLayer> {
        let id = LayerId::random();
        let dir = self.layout().tmp_dir().join(format!("layer-{id}"));
        fs::create_dir(&dir).ctx("create directory", &dir)?;
        let layer = PendingLayer {
            id,
            dir,
            store: self.clone(),
            committed: false,
        };
        for sub in [layer.diff_dir(), layer.work_dir()] {
            fs::create_dir(&sub).ctx("create directory", &sub)?;
        }
        Ok(layer)
    }

    /// The file tree of committed layer `id` (`layers/<id>/diff`), whether or not it exists.
    pub fn layer_dir(&self, id: &LayerId) -> PathBuf {
        self.layer_root(id).join("diff")
    }

    /// `layers/<id>`.
    pub(crate) fn layer_root(&self, id: &LayerId) -> PathBuf {
        self.layout().layers_dir().join(id.as_str())
    }

    /// Whether committed layer `id` exists.
    pub fn has_layer(&self, id: &LayerId) -> bool {
        self.layer_root(id).is_dir()
    }

    /// Deletes committed layer `id`.
    ///
    /// Delete the layer's record and every cache record that names it (and commit) first:
    /// the database may only name layers that exist. The directory is first renamed into
    /// `tmp/`, so the layer disappears atomically and a crash during the slow removal leaves
    /// only `tmp/` garbage, which the next open deletes.
    pub fn remove_layer(&self, id: &LayerId) -> Result<()> {
        let dir = self.layer_root(id);
        let doomed = self
            .layout()
            .tmp_dir()
            .join(format!("removing-{id}-{}", fsutil::random_name()));
        match fs::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::LayerNotFound { id: id.clone() });
            }
            Err(e) => return Err(e).ctx("remove layer", &dir),
        }
        fsutil::fsync_dir(&self.layout().layers_dir())?;
        fsutil::remove_tree(&doomed)
    }

    /// The ids of every committed layer directory, in no particular order. Entries whose
    /// names are not layer ids are skipped (recovery removes them).
    pub fn layer_ids(&self) -> Result<Vec<LayerId>> {
        let dir = self.layout().layers_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let entry = entry.ctx("read directory", &dir)?;
            if let Some(id) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
                out.push(id);
            }
        }
        Ok(out)
    }
}

/// A layer being built in `tmp/`. Fill [`diff_dir`](Self::diff_dir), then
/// [`commit`](Self::commit); dropping it instead removes the directory (best effort: what is
/// left, for example after a crash, is removed by the next open).
///
/// Unmount anything that uses the directories (an overlay with `diff/` as upper dir and
/// `work/` as work dir) before committing or dropping.
#[derive(Debug)]
pub struct PendingLayer {
    id: LayerId,
    dir: PathBuf,
    store: Store,
    committed: bool,
}

impl PendingLayer {
    /// The id the layer will have once committed.
    pub fn id(&self) -> &LayerId {
        &self.id
    }

    /// Where the layer's files go (an overlay upper dir).
    pub fn diff_dir(&self) -> PathBuf {
        self.dir.join("diff")
    }

    /// An empty directory on the same filesystem, for overlayfs's `workdir=`.
    pub fn work_dir(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// Makes the layer visible as `layers/<id>` and returns its id. The tree must not change
    /// afterwards.
    pub fn commit(mut self) -> Result<LayerId> {
        fsutil::remove_tree(&self.work_dir())?;
        if self.store.inner.sync_layers {
            // The rename below is durable once the parent is synced, but the files inside
            // were written by other code without fsync. syncfs flushes the whole filesystem
            // in one call, which is far cheaper than syncing every file of a large tree.
            let dir = fs::File::open(&self.dir).ctx("open", &self.dir)?;
            rustix::fs::syncfs(&dir)
                .map_err(io::Error::from)
                .ctx("sync filesystem of", &self.dir)?;
        }
        let target = self.store.layer_root(&self.id);
        fs::rename(&self.dir, &target).ctx("commit layer to", &target)?;
        self.committed = true;
        fsutil::fsync_dir(&self.store.layout().layers_dir())?;
        Ok(self.id.clone())
    }
}

impl Drop for PendingLayer {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fsutil::remove_tree(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_ids_parse_print_and_serialize_as_plain_strings() {
        let id = LayerId::random();
        assert_eq!(id.as_str().len(), 26);
        assert_eq!(id.to_string().parse::<LayerId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<LayerId>(&json).unwrap(), id);

        for bad in [
            "",
            "short",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "abcdefghijklmnopqrstuvwxy1",
            "abcdefghijklmnopqrstuvwxyz2",
        ] {
            assert_eq!(
                bad.parse::<LayerId>(),
                Err(LayerIdError(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(serde_json::from_str::<LayerId>("\"../../etc\"").is_err());
    }
}
