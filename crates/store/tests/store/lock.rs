//! The root lock: one owner at a time, waiting on request, and freed by the kernel when the
//! owner dies.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use hearth_store::{ErrorKind, Store, StoreError, StoreOptions};

use crate::support::{child_root, open, spawn_self, wait_for_file};

/// Long enough never to fire on a slow machine; only there so a bug fails instead of hangs.
const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn second_open_without_wait_fails_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let err = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    let StoreError::Locked { path, holder } = &err else {
        panic!("expected Locked, got {err:?}");
    };
    assert_eq!(path, dir.path());
    let pid_prefix = format!("pid {}: ", std::process::id());
    assert!(holder.starts_with(&pid_prefix), "{holder}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(
        err.to_string(),
        format!(
            "store {} is in use by {holder}; wait for it to finish, stop it, or use a different --root",
            dir.path().display()
        )
    );
}

#[test]
fn waiting_open_blocks_until_the_holder_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let calls = Arc::new(AtomicUsize::new(0));
    let (waiting_tx, waiting_rx) = mpsc::channel::<String>();
    let (opened_tx, opened_rx) = mpsc::channel::<Store>();

    let root = dir.path().to_path_buf();
    let thread_calls = Arc::clone(&calls);
    let waiter = std::thread::spawn(move || {
        let options = StoreOptions {
            wait: true,
            on_wait: Some(Box::new(move |holder: &str| {
                thread_calls.fetch_add(1, Ordering::SeqCst);
                waiting_tx.send(holder.to_owned()).unwrap();
            })),
            ..StoreOptions::default()
        };
        opened_tx
            .send(Store::open(&root, options).unwrap())
            .unwrap();
    });

    let holder = waiting_rx.recv_timeout(PATIENCE).unwrap();
    assert!(
        holder.starts_with(&format!("pid {}: ", std::process::id())),
        "{holder}"
    );
    // The waiter has announced that it waits, and `first` still holds the lock, so it
    // cannot have opened the store: no timing is involved in this check.
    assert!(opened_rx.try_recv().is_err());
    let digest = first.put_blob(b"written by the first owner").unwrap();

    drop(first);
    let second = opened_rx.recv_timeout(PATIENCE).unwrap();
    waiter.join().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        second.read_blob(&digest).unwrap(),
        b"written by the first owner"
    );
}

#[test]
fn clones_and_transactions_keep_the_lock_until_the_last_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let clone = store.clone();
    let txn = store.read().unwrap();
    drop(store);
    assert!(matches!(
        Store::open(dir.path(), StoreOptions::default()),
        Err(StoreError::Locked { .. })
    ));
    drop(clone);
    assert!(matches!(
        Store::open(dir.path(), StoreOptions::default()),
        Err(StoreError::Locked { .. })
    ));
    drop(txn);
    open(dir.path());
}

/// The child half: hold the store until killed.
fn hold_until_killed(root: &std::path::Path) -> ! {
    let _store = open(root);
    std::fs::write(root.join("holder-ready"), b"").unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[test]
fn lock_is_free_as_soon_as_the_holding_process_is_killed() {
    if let Some(root) = child_root() {
        hold_until_killed(&root);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_self(
        "lock::lock_is_free_as_soon_as_the_holding_process_is_killed",
        dir.path(),
    );
    wait_for_file(&dir.path().join("holder-ready"), &mut child);

    let err = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    let StoreError::Locked { holder, .. } = &err else {
        panic!("expected Locked, got {err:?}");
    };
    assert!(
        holder.starts_with(&format!("pid {}: ", child.0.id())),
        "{holder}"
    );

    child.kill();
    // No waiting and no stale-lock cleanup: the kernel released the flock with the process.
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert!(store.recovery().is_empty(), "{:?}", store.recovery());
}
