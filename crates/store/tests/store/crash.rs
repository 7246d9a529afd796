//! Real crashes: a child process writes blobs, layers and records in a loop and is SIGKILLed
//! at random moments; every reopen must succeed and find a consistent store.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use hearth_core::Digest;
use hearth_store::tables::{Blobs, Cache, Images, Layers, Leases};
use hearth_store::{
    BlobRecord, CacheRecord, ImageRecord, LayerBlob, LayerId, LayerOrigin, LayerRecord, Lease,
    Store, unix_now,
};

use crate::support::{child_root, names, open, spawn_self, wait_for_file};

const TEST_NAME: &str = "crash::sigkill_at_random_moments_never_leaves_an_unusable_store";
const ROUNDS: usize = 8;
/// Records the child keeps before it starts deleting the oldest, so that deletion (the GC
/// path) is crashed into as well.
const KEEP: usize = 3;

#[test]
fn sigkill_at_random_moments_never_leaves_an_unusable_store() {
    if let Some(dir) = child_root() {
        churn(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let store_root = dir.path().join("store");
    for round in 0..ROUNDS {
        let mut child = spawn_self(TEST_NAME, dir.path());
        if round % 2 == 0 {
            // Let it get into its loop, then kill it somewhere in there.
            let ready = dir.path().join(format!("ready-{}", child.0.id()));
            wait_for_file(&ready, &mut child);
        }
        // Odd rounds may also hit the child's own open and recovery.
        std::thread::sleep(Duration::from_millis(rand::random_range(0..300)));
        child.kill();

        let store = Store::open(&store_root, Default::default())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        assert!(
            store.recovery().problems.is_empty(),
            "round {round}: {:?}",
            store.recovery()
        );
        assert_eq!(names(&store.tmp_dir()), Vec::<String>::new());
        let verify = store.verify().unwrap();
        assert!(verify.is_ok(), "round {round}: {:?}", verify.problems);
        check_records(&store, round);
        // The first round waited for at least one full iteration, and the child never
        // deletes below KEEP records.
        assert!(
            store.read().unwrap().count::<Layers>().unwrap() >= 1,
            "round {round}"
        );
    }
}

/// Every record is usable: blobs read back verified, layers have their trees.
fn check_records(store: &Store, round: usize) {
    let read = store.read().unwrap();
    for record in read.list::<Blobs>().unwrap() {
        let data = store.read_blob(&record.digest).unwrap();
        assert_eq!(data.len() as u64, record.size, "round {round}");
    }
    for record in read.list::<Layers>().unwrap() {
        let marker = store.layer_dir(&record.id).join("marker");
        assert_eq!(
            fs::read_to_string(&marker).unwrap(),
            record.id.to_string(),
            "round {round}"
        );
        for blob in &record.blobs {
            store.read_blob(&blob.digest).unwrap();
        }
    }
    for record in read.list::<Cache>().unwrap() {
        for id in &record.layers {
            assert!(read.contains::<Layers>(id).unwrap(), "round {round}");
        }
    }
    for record in read.list::<Images>().unwrap() {
        store.read_blob(&record.manifest).unwrap();
        store.read_blob(&record.config).unwrap();
    }
    // The child's leases have no expiry, so they died with it.
    assert_eq!(read.count::<Leases>().unwrap(), 0, "round {round}");
}

/// The child half: build, record and delete forever, in the orders the store's rules
/// require (files before records when adding, records before files when deleting).
fn churn(dir: &Path) -> ! {
    let store = open(&dir.join("store"));
    let mut ready = false;
    loop {
        let lease_id = format!("build-{}", rand::random::<u32>());
        let mut txn = store.write().unwrap();
        txn.put::<Leases>(&Lease {
            id: lease_id.clone(),
            created: unix_now(),
            expires: None,
            layers: vec![],
            blobs: vec![],
            cache: vec![],
        })
        .unwrap();
        txn.commit().unwrap();

        let size = rand::random_range(1..200_000);
        let data: Vec<u8> = (0..size).map(|_| rand::random::<u8>()).collect();
        let mut writer = store.blob_writer().unwrap();
        for chunk in data.chunks(8192) {
            writer.write_all(chunk).unwrap();
        }
        let (blob, blob_size) = writer.commit(Some(&Digest::of(&data))).unwrap();
        let config = store.put_blob(blob.to_string().as_bytes()).unwrap();

        // A writer and a pending layer that are never finished, as a cancelled pull would.
        let mut abandoned = store.blob_writer().unwrap();
        abandoned.write_all(&data[..size / 2]).unwrap();

        let pending = store.new_layer().unwrap();
        let id = pending.id().clone();
        fs::create_dir_all(pending.diff_dir().join("usr/bin")).unwrap();
        fs::write(pending.diff_dir().join("marker"), id.to_string()).unwrap();
        fs::write(pending.diff_dir().join("usr/bin/data"), &data).unwrap();
        let id = pending.commit().unwrap();
        drop(abandoned);

        let key = Digest::of(id.as_str().as_bytes());
        let mut txn = store.write().unwrap();
        txn.put::<Blobs>(&BlobRecord {
            digest: blob,
            size: blob_size,
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            created: unix_now(),
        })
        .unwrap();
        txn.put::<Layers>(&LayerRecord {
            id: id.clone(),
            created: unix_now(),
            size: store.layer_disk_size(&id).unwrap(),
            diff_id: Some(blob),
            blobs: vec![LayerBlob {
                compression: "uncompressed".into(),
                level: None,
                digest: blob,
                size: blob_size,
                media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                mtime_clamp: None,
            }],
            origin: LayerOrigin::Built,
        })
        .unwrap();
        txn.put::<Cache>(&CacheRecord {
            key,
            layers: vec![id.clone()],
            created: unix_now(),
            last_used: unix_now(),
            description: "RUN churn".into(),
            kind: "exec".into(),
            size: blob_size,
            extra: serde_json::Value::Null,
        })
        .unwrap();
        txn.put::<Images>(&ImageRecord {
            name: format!("churn:{id}"),
            manifest: blob,
            config,
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            created: unix_now(),
            size: blob_size,
            platforms: Vec::new(),
        })
        .unwrap();
        txn.delete::<Leases>(&lease_id).unwrap();
        txn.commit().unwrap();

        delete_oldest(&store);
        if !ready {
            fs::write(dir.join(format!("ready-{}", std::process::id())), b"").unwrap();
            ready = true;
        }
    }
}

/// The GC path: drop every record naming the oldest layer, commit, then delete files that
/// no remaining record names.
fn delete_oldest(store: &Store) {
    let read = store.read().unwrap();
    let mut layers = read.list::<Layers>().unwrap();
    if layers.len() <= KEEP {
        return;
    }
    layers.sort_by_key(|l| l.created);
    let victim: LayerId = layers[0].id.clone();
    let blob = layers[0].blobs[0].digest;
    let images: Vec<ImageRecord> = read
        .list::<Images>()
        .unwrap()
        .into_iter()
        .filter(|i| i.manifest == blob)
        .collect();
    drop(read);

    let mut txn = store.write().unwrap();
    txn.delete::<Layers>(&victim).unwrap();
    txn.delete::<Cache>(&Digest::of(victim.as_str().as_bytes()))
        .unwrap();
    for image in &images {
        txn.delete::<Images>(&image.name).unwrap();
    }
    txn.delete::<Blobs>(&blob).unwrap();
    txn.commit().unwrap();

    store.remove_layer(&victim).unwrap();
    // Content is shared by digest; only delete blobs nothing else names.
    let read = store.read().unwrap();
    let still_used = |d: &Digest| {
        read.list::<Layers>()
            .unwrap()
            .iter()
            .any(|l| l.blobs.iter().any(|b| b.digest == *d))
            || read
                .list::<Images>()
                .unwrap()
                .iter()
                .any(|i| i.manifest == *d || i.config == *d)
            || read.contains::<Blobs>(d).unwrap()
    };
    let mut doomed = vec![blob];
    doomed.extend(images.iter().map(|i| i.config));
    for digest in doomed {
        if !still_used(&digest) {
            store.remove_blob(&digest).unwrap();
        }
    }
}
