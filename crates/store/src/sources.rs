//! Where blobs are known to live in registries (`registry/path` repositories), kept
//! so that a later push to another repository of the same registry can mount a blob
//! instead of uploading it — containerd's `distribution.source` labels, as a table.

use hearth_core::Digest;

use crate::error::Result;
use crate::store::Store;

const PREFIX: &str = "blob-source/";
/// Sources kept per blob; the newest win.
const MAX_SOURCES: usize = 8;

fn key(digest: &Digest) -> String {
    format!("{PREFIX}{digest}")
}

fn decode(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Store {
    /// The repositories blob `digest` is known to exist in, most recent first.
    pub fn blob_sources(&self, digest: &Digest) -> Result<Vec<String>> {
        Ok(self
            .read()?
            .kv_get(&key(digest))?
            .map(|b| decode(&b))
            .unwrap_or_default())
    }

    /// Records that `repository` holds each of `digests`.
    pub fn add_blob_sources(&self, digests: &[Digest], repository: &str) -> Result<()> {
        let mut txn = self.write()?;
        for digest in digests {
            let mut sources = txn
                .kv_get(&key(digest))?
                .map(|b| decode(&b))
                .unwrap_or_default();
            sources.retain(|s| s != repository);
            sources.insert(0, repository.to_owned());
            sources.truncate(MAX_SOURCES);
            txn.kv_put(&key(digest), sources.join("\n").as_bytes())?;
        }
        txn.commit()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Store, StoreOptions};
    use hearth_core::Digest;

    #[test]
    fn sources_are_kept_newest_first_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let blob = Digest::of(b"layer");
        assert!(store.blob_sources(&blob).unwrap().is_empty());
        store.add_blob_sources(&[blob], "127.0.0.1:5000/a").unwrap();
        store.add_blob_sources(&[blob], "127.0.0.1:5000/b").unwrap();
        store.add_blob_sources(&[blob], "127.0.0.1:5000/a").unwrap();
        assert_eq!(
            store.blob_sources(&blob).unwrap(),
            vec!["127.0.0.1:5000/a", "127.0.0.1:5000/b"]
        );
        for i in 0..20 {
            store.add_blob_sources(&[blob], &format!("r/{i}")).unwrap();
        }
        assert_eq!(store.blob_sources(&blob).unwrap().len(), 8);
        assert_eq!(store.blob_sources(&blob).unwrap()[0], "r/19");
    }
}
