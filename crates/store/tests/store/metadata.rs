//! The metadata database: typed tables, transactions, persistence.

use std::fs;

use hearth_core::Digest;
use hearth_store::tables::{Blobs, Cache, Images, Layers, Leases};
use hearth_store::{
    BlobRecord, CacheRecord, ImageRecord, LayerBlob, LayerId, LayerOrigin, LayerRecord, Lease,
    Store,
};
use serde_json::json;

use crate::support::open;

fn layer_record(id: &LayerId, blob: Digest) -> LayerRecord {
    LayerRecord {
        id: id.clone(),
        created: 100,
        size: 5,
        diff_id: Some(Digest::of(b"tar")),
        blobs: vec![LayerBlob {
            compression: "gzip".into(),
            level: Some(6),
            digest: blob,
            size: 3,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            mtime_clamp: None,
        }],
        origin: LayerOrigin::Pulled { blob },
    }
}

fn cache_record(key: Digest, layers: Vec<LayerId>) -> CacheRecord {
    CacheRecord {
        key,
        layers,
        created: 100,
        last_used: 200,
        description: "RUN make".into(),
        kind: "exec".into(),
        size: 5,
        extra: json!({"config": "sha256:00"}),
    }
}

fn image_record(name: &str, manifest: Digest, config: Digest) -> ImageRecord {
    ImageRecord {
        name: name.into(),
        manifest,
        config,
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        created: 100,
        size: 10,
        platforms: Vec::new(),
    }
}

fn blob_record(digest: Digest, size: u64) -> BlobRecord {
    BlobRecord {
        digest,
        size,
        media_type: "application/octet-stream".into(),
        created: 100,
    }
}

fn lease(id: &str, expires: Option<u64>) -> Lease {
    Lease {
        id: id.into(),
        created: 100,
        expires,
        layers: vec!["bbbbbbbbbbbbbbbbbbbbbbbbbb".parse().unwrap()],
        blobs: vec![Digest::of(b"b")],
        cache: vec![Digest::of(b"c")],
    }
}

#[test]
fn every_table_puts_gets_lists_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (LayerId::random(), LayerId::random());
    let blob = Digest::of(b"blob");
    let key = Digest::of(b"key");

    let mut txn = store.write().unwrap();
    txn.put::<Layers>(&layer_record(&a, blob)).unwrap();
    txn.put::<Layers>(&layer_record(&b, blob)).unwrap();
    txn.put::<Cache>(&cache_record(key, vec![a.clone(), b.clone()]))
        .unwrap();
    txn.put::<Images>(&image_record("docker.io/library/app:latest", blob, blob))
        .unwrap();
    txn.put::<Blobs>(&blob_record(blob, 4)).unwrap();
    txn.put::<Leases>(&lease("build-1", None)).unwrap();
    txn.kv_put("stat/ctx1/a", b"1").unwrap();
    txn.kv_put("stat/ctx1/b", b"2").unwrap();
    txn.kv_put("stat/ctx2/a", b"3").unwrap();
    txn.kv_put("statx", b"4").unwrap();
    // Reads inside the write transaction see its own changes.
    assert_eq!(txn.count::<Layers>().unwrap(), 2);
    txn.commit().unwrap();

    let read = store.read().unwrap();
    assert_eq!(
        read.get::<Layers>(&a).unwrap(),
        Some(layer_record(&a, blob))
    );
    let mut want = vec![layer_record(&a, blob), layer_record(&b, blob)];
    want.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(read.list::<Layers>().unwrap(), want);
    assert_eq!(
        read.get::<Cache>(&key).unwrap(),
        Some(cache_record(key, vec![a.clone(), b.clone()]))
    );
    assert_eq!(
        read.get::<Images>("docker.io/library/app:latest").unwrap(),
        Some(image_record("docker.io/library/app:latest", blob, blob))
    );
    assert_eq!(
        read.get::<Images>("docker.io/library/other:latest")
            .unwrap(),
        None
    );
    assert_eq!(
        read.get::<Blobs>(&blob).unwrap(),
        Some(blob_record(blob, 4))
    );
    assert_eq!(read.list::<Leases>().unwrap(), vec![lease("build-1", None)]);
    assert!(read.contains::<Blobs>(&blob).unwrap());
    assert!(!read.contains::<Blobs>(&key).unwrap());
    assert_eq!(read.kv_get("stat/ctx1/a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(read.kv_get("stat/none").unwrap(), None);
    assert_eq!(
        read.kv_list("stat/ctx1/").unwrap(),
        vec![
            ("stat/ctx1/a".to_owned(), b"1".to_vec()),
            ("stat/ctx1/b".to_owned(), b"2".to_vec())
        ]
    );
    assert_eq!(read.kv_list("stat/").unwrap().len(), 3);
    drop(read);

    let mut txn = store.write().unwrap();
    assert!(txn.delete::<Layers>(&a).unwrap());
    assert!(!txn.delete::<Layers>(&a).unwrap());
    assert!(txn.delete::<Cache>(&key).unwrap());
    assert!(
        txn.delete::<Images>("docker.io/library/app:latest")
            .unwrap()
    );
    assert!(txn.delete::<Blobs>(&blob).unwrap());
    assert!(txn.delete::<Leases>("build-1").unwrap());
    assert!(txn.kv_delete("stat/ctx1/a").unwrap());
    assert!(!txn.kv_delete("stat/ctx1/a").unwrap());
    txn.commit().unwrap();

    let read = store.read().unwrap();
    assert_eq!(read.list::<Layers>().unwrap(), vec![layer_record(&b, blob)]);
    assert_eq!(read.count::<Cache>().unwrap(), 0);
    assert_eq!(read.count::<Images>().unwrap(), 0);
    assert_eq!(read.count::<Blobs>().unwrap(), 0);
    assert_eq!(read.count::<Leases>().unwrap(), 0);
    assert_eq!(read.kv_list("stat/ctx1/").unwrap().len(), 1);
}

#[test]
fn uncommitted_write_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let blob = Digest::of(b"x");
    let mut txn = store.write().unwrap();
    txn.put::<Blobs>(&blob_record(blob, 1)).unwrap();
    txn.kv_put("k", b"v").unwrap();
    drop(txn);
    let read = store.read().unwrap();
    assert_eq!(read.get::<Blobs>(&blob).unwrap(), None);
    assert_eq!(read.kv_get("k").unwrap(), None);
}

#[test]
fn a_read_transaction_sees_the_snapshot_it_started_with() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let before = store.read().unwrap();
    let mut txn = store.write().unwrap();
    txn.kv_put("k", b"v").unwrap();
    txn.commit().unwrap();
    assert_eq!(before.kv_get("k").unwrap(), None);
    assert_eq!(
        store.read().unwrap().kv_get("k").unwrap(),
        Some(b"v".to_vec())
    );
}

#[test]
fn committed_records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // Records must name things that exist, or recovery would rightly drop them.
    let blob = store.put_blob(b"manifest").unwrap();
    let pending = store.new_layer().unwrap();
    fs::write(pending.diff_dir().join("f"), b"hello").unwrap();
    let id = pending.commit().unwrap();
    let key = Digest::of(b"key");
    let far_future = hearth_store::unix_now() + 86_400;

    let mut txn = store.write().unwrap();
    txn.put::<Layers>(&layer_record(&id, blob)).unwrap();
    txn.put::<Cache>(&cache_record(key, vec![id.clone()]))
        .unwrap();
    txn.put::<Images>(&image_record("app:1", blob, blob))
        .unwrap();
    txn.put::<Blobs>(&blob_record(blob, 8)).unwrap();
    let held = lease("pinned", Some(far_future));
    txn.put::<Leases>(&held).unwrap();
    txn.kv_put("ns/key", b"value").unwrap();
    txn.commit().unwrap();
    drop(store);

    let store = Store::open(dir.path(), Default::default()).unwrap();
    assert!(store.recovery().is_empty(), "{:?}", store.recovery());
    let read = store.read().unwrap();
    assert_eq!(
        read.get::<Layers>(&id).unwrap(),
        Some(layer_record(&id, blob))
    );
    assert_eq!(
        read.get::<Cache>(&key).unwrap(),
        Some(cache_record(key, vec![id.clone()]))
    );
    assert_eq!(
        read.get::<Images>("app:1").unwrap(),
        Some(image_record("app:1", blob, blob))
    );
    assert_eq!(
        read.get::<Blobs>(&blob).unwrap(),
        Some(blob_record(blob, 8))
    );
    assert_eq!(read.get::<Leases>("pinned").unwrap(), Some(held));
    assert_eq!(read.kv_get("ns/key").unwrap(), Some(b"value".to_vec()));
    assert_eq!(fs::read(store.layer_dir(&id).join("f")).unwrap(), b"hello");
    assert!(store.verify().unwrap().is_ok());
}
