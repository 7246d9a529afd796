//! Disk usage numbers match what was written.

use std::fs;
use std::io::Write;

use crate::support::open;

#[test]
fn disk_usage_matches_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.disk_usage().unwrap().blobs, 0);

    store.put_blob(&[1u8; 1000]).unwrap();
    store.put_blob(&[2u8; 2345]).unwrap();
    // Stored once however often it is put.
    store.put_blob(&[2u8; 2345]).unwrap();

    let pending = store.new_layer().unwrap();
    let diff = pending.diff_dir();
    fs::create_dir(diff.join("dir")).unwrap();
    fs::write(diff.join("ten"), [0u8; 10]).unwrap();
    fs::write(diff.join("dir/twenty"), [0u8; 20]).unwrap();
    // Hard links take no extra space; symlinks and directories are not counted.
    fs::hard_link(diff.join("ten"), diff.join("dir/ten-again")).unwrap();
    std::os::unix::fs::symlink("ten", diff.join("link")).unwrap();
    let id = pending.commit().unwrap();

    fs::write(store.cache_mounts_dir().join("apt-cache"), [0u8; 7]).unwrap();
    let mut in_progress = store.blob_writer().unwrap();
    in_progress.write_all(&[0u8; 5]).unwrap();
    in_progress.flush().unwrap();

    let usage = store.disk_usage().unwrap();
    let meta = fs::metadata(dir.path().join("v1/meta.redb")).unwrap().len();
    assert!(meta > 0);
    assert_eq!(
        usage,
        hearth_store::Usage {
            blobs: 3345,
            layers: 30,
            cache_mounts: 7,
            metadata: meta,
            tmp: 5,
        }
    );
    assert_eq!(usage.total(), 3345 + 30 + 7 + meta + 5);
    assert_eq!(store.layer_disk_size(&id).unwrap(), 30);
}
