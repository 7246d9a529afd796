//! Opening a store: layout and version checks, and the repairs recovery makes for each kind of
//! leftover a crash can produce.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hearth_core::Digest;
use hearth_store::tables::{Blobs, Cache, Images, Layers, Leases};
use hearth_store::{
    BlobRecord, CacheRecord, ErrorKind, ImageRecord, LayerBlob, LayerId, LayerOrigin, LayerRecord,
    Lease, Problem, RecoveryReport, Store, StoreError, StoreOptions,
};

use crate::support::{names, open};

fn layer(id: &LayerId, blobs: &[Digest]) -> LayerRecord {
    LayerRecord {
        id: id.clone(),
        created: 1,
        size: 0,
        diff_id: None,
        blobs: blobs
            .iter()
            .map(|d| LayerBlob {
                compression: "gzip".into(),
                level: None,
                digest: *d,
                size: 1,
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                mtime_clamp: None,
            })
            .collect(),
        origin: LayerOrigin::Built,
    }
}

fn cache(key: Digest, layers: &[&LayerId]) -> CacheRecord {
    CacheRecord {
        key,
        layers: layers.iter().map(|l| (*l).clone()).collect(),
        created: 1,
        last_used: 1,
        description: "RUN true".into(),
        kind: "exec".into(),
        size: 0,
        extra: serde_json::Value::Null,
    }
}

fn image(name: &str, manifest: Digest, config: Digest) -> ImageRecord {
    ImageRecord {
        name: name.into(),
        manifest,
        config,
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        created: 1,
        size: 1,
        platforms: Vec::new(),
    }
}

fn blob_record(digest: Digest, size: u64) -> BlobRecord {
    BlobRecord {
        digest,
        size,
        media_type: "application/octet-stream".into(),
        created: 1,
    }
}

fn lease(id: &str, expires: Option<u64>) -> Lease {
    Lease {
        id: id.into(),
        created: 1,
        expires,
        layers: vec![],
        blobs: vec![],
        cache: vec![],
    }
}

#[test]
fn open_creates_the_versioned_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let store = open(&root);
    assert_eq!(names(&root), vec!["lock", "v1"]);
    assert_eq!(
        names(&root.join("v1")),
        vec![
            "VERSION",
            "blobs",
            "cache-mounts",
            "layers",
            "meta.redb",
            "runc",
            "tmp"
        ]
    );
    assert!(root.join("v1/blobs/sha256").is_dir());
    assert_eq!(fs::read_to_string(root.join("v1/VERSION")).unwrap(), "1\n");
    let mode = fs::metadata(root.join("v1")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert_eq!(store.cache_mounts_dir(), root.join("v1/cache-mounts"));
    assert_eq!(store.runc_dir(), root.join("v1/runc"));
    assert!(store.recovery().is_empty());
    assert_eq!(store.recovery().to_string(), "nothing to recover");
}

#[test]
fn a_different_layout_version_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let version = dir.path().join("v1/VERSION");

    fs::write(&version, "2\n").unwrap();
    let err = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    let StoreError::VersionMismatch {
        path,
        found,
        expected,
    } = &err
    else {
        panic!("expected VersionMismatch, got {err:?}");
    };
    assert_eq!((path, found.as_str(), *expected), (&version, "2", 1));
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert!(
        err.to_string().ends_with(
            "the store was written by a newer hearth; use that version or a different --root"
        ),
        "{err}"
    );

    fs::write(&version, "not a version").unwrap();
    let err = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StoreError::VersionMismatch { found, .. } if found == "not a version"),
        "{err:?}"
    );
}

#[test]
fn open_finishes_an_interrupted_first_open() {
    let dir = tempfile::tempdir().unwrap();
    // A first open killed before it wrote VERSION leaves only part of the layout.
    fs::create_dir_all(dir.path().join("v1/blobs")).unwrap();
    let store = open(dir.path());
    assert_eq!(
        fs::read_to_string(dir.path().join("v1/VERSION")).unwrap(),
        "1\n"
    );
    assert!(store.layout().layers_dir().is_dir());
    store.put_blob(b"works").unwrap();
}

#[test]
fn open_removes_exactly_what_a_crash_leaves_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store = open(root);
    let tmp = store.tmp_dir();

    // In-flight work: an ingest file and a layer being built.
    fs::write(tmp.join("ingest-aaaa"), b"partial").unwrap();
    fs::create_dir_all(tmp.join("layer-bbbb/diff/usr")).unwrap();
    fs::write(tmp.join("layer-bbbb/diff/usr/file"), b"partial").unwrap();
    fs::create_dir(tmp.join("layer-bbbb/work")).unwrap();

    // A layer committed to layers/ whose record was never written.
    let orphan = store.new_layer().unwrap().commit().unwrap();

    let present = store.put_blob(b"present").unwrap();
    let missing = Digest::of(b"missing");
    let good = store.new_layer().unwrap().commit().unwrap();
    let ghost = LayerId::random();
    let good_key = Digest::of(b"good cache");
    let bad_key = Digest::of(b"bad cache");
    let far_future = hearth_store::unix_now() + 86_400;

    let mut txn = store.write().unwrap();
    txn.put::<Layers>(&layer(&good, &[present, missing]))
        .unwrap();
    txn.put::<Layers>(&layer(&ghost, &[])).unwrap();
    txn.put::<Cache>(&cache(good_key, &[&good])).unwrap();
    txn.put::<Cache>(&cache(bad_key, &[&good, &ghost])).unwrap();
    txn.put::<Images>(&image("complete", present, present))
        .unwrap();
    txn.put::<Images>(&image("broken", present, missing))
        .unwrap();
    txn.put::<Blobs>(&blob_record(present, 7)).unwrap();
    txn.put::<Blobs>(&blob_record(missing, 7)).unwrap();
    txn.put::<Leases>(&lease("build", None)).unwrap();
    txn.put::<Leases>(&lease("expired", Some(1))).unwrap();
    txn.put::<Leases>(&lease("pinned", Some(far_future)))
        .unwrap();
    txn.commit().unwrap();
    drop(store);

    let store = open(root);
    let report = store.recovery().clone();
    assert_eq!(
        report,
        RecoveryReport {
            unmounted: vec![],
            tmp_removed: vec![tmp.join("ingest-aaaa"), tmp.join("layer-bbbb")],
            orphan_layer_dirs: vec![root.join("v1/layers").join(orphan.as_str())],
            layer_records_dropped: vec![ghost.clone()],
            layer_blobs_dropped: vec![(good.clone(), missing)],
            cache_records_dropped: vec![bad_key],
            images_dropped: vec!["broken".to_owned()],
            blob_records_dropped: vec![missing],
            leases_dropped: vec!["build".to_owned(), "expired".to_owned()],
            problems: vec![],
        }
    );
    assert_eq!(
        report.to_string(),
        "2 temporary entries removed, 1 orphan layer directories removed, \
         1 layer records dropped, 1 layer blob entries dropped, 1 cache records dropped, \
         1 images dropped, 1 blob records dropped, 2 leases dropped"
    );

    assert_eq!(names(&tmp), Vec::<String>::new());
    assert!(!store.has_layer(&orphan));
    assert!(store.has_layer(&good));
    let read = store.read().unwrap();
    assert_eq!(
        read.list::<Layers>().unwrap(),
        vec![layer(&good, &[present])]
    );
    assert_eq!(
        read.list::<Cache>().unwrap(),
        vec![cache(good_key, &[&good])]
    );
    assert_eq!(
        read.list::<Images>().unwrap(),
        vec![image("complete", present, present)]
    );
    assert_eq!(read.list::<Blobs>().unwrap(), vec![blob_record(present, 7)]);
    assert_eq!(
        read.list::<Leases>().unwrap(),
        vec![lease("pinned", Some(far_future))]
    );
    drop(read);
    let verify = store.verify().unwrap();
    assert!(verify.is_ok(), "{:?}", verify.problems);
    drop(store);

    assert!(open(root).recovery().is_empty());
}

#[test]
fn verify_reports_corruption_and_broken_references() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let corrupt = store.put_blob(b"will be damaged").unwrap();
    let resized = store.put_blob(b"twelve bytes").unwrap();
    let layer_id = store.new_layer().unwrap().commit().unwrap();
    let vanished = store.new_layer().unwrap().commit().unwrap();
    let unknown = LayerId::random();
    let key = Digest::of(b"k");

    let mut txn = store.write().unwrap();
    txn.put::<Layers>(&layer(&layer_id, &[])).unwrap();
    txn.put::<Layers>(&layer(&vanished, &[])).unwrap();
    txn.put::<Cache>(&cache(key, &[&layer_id, &unknown]))
        .unwrap();
    txn.put::<Blobs>(&blob_record(resized, 99)).unwrap();
    txn.commit().unwrap();

    let path = store.blob_path(&corrupt);
    fs::write(&path, b"damaged!").unwrap();
    let stray = store.layout().blobs_dir().join("not-a-digest");
    fs::write(&stray, b"?").unwrap();
    fs::remove_dir_all(dir.path().join("v1/layers").join(vanished.as_str())).unwrap();

    let report = store.verify().unwrap();
    assert_eq!(report.blobs_checked, 2);
    assert_eq!(report.layers_checked, 1);
    assert_eq!(report.records_checked, 4);
    let mut expected = vec![
        Problem::CorruptBlob {
            digest: corrupt,
            path,
        },
        Problem::StrayFile { path: stray },
        Problem::MissingLayerDir {
            id: vanished.clone(),
        },
        Problem::MissingLayer {
            referrer: format!("cache {key}"),
            id: unknown.clone(),
        },
        Problem::BlobSizeMismatch {
            digest: resized,
            recorded: 99,
            actual: 12,
        },
    ];
    // Blob files are checked in name order.
    if corrupt.hex().as_str() > "not-a-digest" {
        expected.swap(0, 1);
    }
    assert_eq!(report.problems, expected);
    assert_eq!(
        Problem::MissingLayer {
            referrer: format!("cache {key}"),
            id: unknown.clone()
        }
        .to_string(),
        format!("cache {key} names missing layer {unknown}")
    );
}

/// Unmounts what a test mounted even if the test fails halfway.
struct Mounts(Vec<PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        for path in self.0.iter().rev() {
            let _ = rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

fn mount_tmpfs(target: &Path) {
    rustix::mount::mount(
        "none",
        target,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        None::<&std::ffi::CStr>,
    )
    .unwrap();
}

#[test]
fn open_unmounts_leftover_mounts_before_emptying_tmp() {
    if !rustix::process::geteuid().is_root() {
        // Mounting needs CAP_SYS_ADMIN; CI runs as root, so this runs there.
        eprintln!("open_unmounts_leftover_mounts_before_emptying_tmp needs root; not run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let precious = dir.path().join("precious");
    fs::create_dir(&precious).unwrap();
    fs::write(precious.join("data"), b"keep me").unwrap();

    let store = open(&root);
    let tmp = store.tmp_dir();
    let rootfs = tmp.join("rootfs");
    let cache = rootfs.join("cache");
    let bind = tmp.join("bind");
    fs::create_dir(&rootfs).unwrap();
    fs::create_dir(&bind).unwrap();
    let mut guard = Mounts(vec![]);
    // What a killed RUN step leaves: its root filesystem with a cache mount inside, and a
    // bind mount of a directory on the store's own filesystem (same device, so only the
    // unmount protects it).
    mount_tmpfs(&rootfs);
    guard.0.push(rootfs.clone());
    fs::create_dir(&cache).unwrap();
    rustix::mount::mount_bind(&precious, &cache).unwrap();
    guard.0.push(cache.clone());
    rustix::mount::mount_bind(&precious, &bind).unwrap();
    guard.0.push(bind.clone());
    drop(store);

    let store = open(&root);
    let canonical = |p: &Path| {
        fs::canonicalize(dir.path())
            .unwrap()
            .join(p.strip_prefix(dir.path()).unwrap())
    };
    assert_eq!(
        store.recovery().unmounted,
        vec![canonical(&cache), canonical(&bind), canonical(&rootfs)]
    );
    assert_eq!(store.recovery().tmp_removed, vec![bind, rootfs]);
    assert_eq!(store.recovery().problems, Vec::<String>::new());
    assert_eq!(fs::read(precious.join("data")).unwrap(), b"keep me");
    assert_eq!(names(&tmp), Vec::<String>::new());
}
