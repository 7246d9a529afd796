//! Layers: built in tmp/, committed by rename, removed atomically.

use std::fs;

use hearth_store::StoreError;

use crate::support::{names, open};

#[test]
fn commit_moves_the_directory_and_its_contents() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let pending = store.new_layer().unwrap();
    let id = pending.id().clone();
    let tmp_dir = store.tmp_dir().join(format!("layer-{id}"));
    assert_eq!(pending.diff_dir(), tmp_dir.join("diff"));
    assert_eq!(pending.work_dir(), tmp_dir.join("work"));
    assert!(pending.work_dir().is_dir());

    let diff = pending.diff_dir();
    fs::create_dir_all(diff.join("etc/deep")).unwrap();
    fs::write(diff.join("etc/hostname"), b"box\n").unwrap();
    fs::write(diff.join("etc/deep/file"), b"x").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", diff.join("link")).unwrap();
    // Something overlayfs would leave in its work dir.
    fs::create_dir(pending.work_dir().join("work")).unwrap();

    assert_eq!(pending.commit().unwrap(), id);
    assert!(!tmp_dir.exists());
    assert_eq!(names(&store.tmp_dir()), Vec::<String>::new());

    let layer_dir = store.layer_dir(&id);
    assert_eq!(
        layer_dir,
        dir.path().join("v1/layers").join(id.as_str()).join("diff")
    );
    assert_eq!(
        names(&dir.path().join("v1/layers").join(id.as_str())),
        vec!["diff"]
    );
    assert_eq!(fs::read(layer_dir.join("etc/hostname")).unwrap(), b"box\n");
    assert_eq!(fs::read(layer_dir.join("etc/deep/file")).unwrap(), b"x");
    assert_eq!(
        fs::read_link(layer_dir.join("link")).unwrap(),
        std::path::Path::new("/etc/hostname")
    );
    assert!(store.has_layer(&id));
    assert_eq!(store.layer_ids().unwrap(), vec![id]);
}

#[test]
fn dropped_pending_layer_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let pending = store.new_layer().unwrap();
    fs::create_dir_all(pending.diff_dir().join("a/b")).unwrap();
    fs::write(pending.diff_dir().join("a/b/c"), b"data").unwrap();
    let id = pending.id().clone();
    drop(pending);
    assert_eq!(names(&store.tmp_dir()), Vec::<String>::new());
    assert!(!store.has_layer(&id));
    assert_eq!(store.layer_ids().unwrap(), vec![]);
}

#[test]
fn remove_layer_deletes_it_and_reports_missing_layers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let pending = store.new_layer().unwrap();
    fs::write(pending.diff_dir().join("f"), b"1").unwrap();
    let id = pending.commit().unwrap();
    let keep = store.new_layer().unwrap().commit().unwrap();

    store.remove_layer(&id).unwrap();
    assert!(!store.has_layer(&id));
    assert!(!store.layer_dir(&id).exists());
    assert_eq!(store.layer_ids().unwrap(), vec![keep.clone()]);
    assert_eq!(names(&store.tmp_dir()), Vec::<String>::new());

    let err = store.remove_layer(&id).unwrap_err();
    assert!(
        matches!(&err, StoreError::LayerNotFound { id: i } if *i == id),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("layer {id} not found in the store")
    );
    assert!(store.has_layer(&keep));
}
