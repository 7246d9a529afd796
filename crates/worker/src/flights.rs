//! One execution per cache key across every build on the host: a build that needs a
//! result another build is producing waits for it instead of running the same step.
//! After waiting, the cache answers; if the other build failed or was cancelled, the
//! waiter runs the step itself, so one client's Ctrl-C never fails another's build.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use hearth_core::Digest;
use tokio::sync::OwnedMutexGuard;

/// In-flight work by cache key.
#[derive(Default)]
pub(crate) struct Flights {
    /// Locks of keys being worked on; entries go stale once nobody holds them.
    locks: Mutex<HashMap<Digest, Weak<tokio::sync::Mutex<()>>>>,
}

impl Flights {
    /// Waits until no other build works on `key`; the guard marks this build as the one
    /// working on it. Returns whether it had to wait.
    pub(crate) async fn acquire(&self, key: Digest) -> (OwnedMutexGuard<()>, bool) {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.retain(|_, weak| weak.strong_count() > 0);
            match locks.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        match Arc::clone(&lock).try_lock_owned() {
            Ok(guard) => (guard, false),
            Err(_) => (lock.lock_owned().await, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_worker_on_the_same_key_waits_for_the_first() {
        let flights = Arc::new(Flights::default());
        let key = Digest::of(b"step");
        let (first, waited) = flights.acquire(key).await;
        assert!(!waited);
        let other = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move { flights.acquire(key).await.1 })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !other.is_finished(),
            "the second waits while the first works"
        );
        // A different key does not wait.
        let (_unrelated, waited) = flights.acquire(Digest::of(b"other")).await;
        assert!(!waited);
        drop(first);
        assert!(other.await.unwrap(), "it waited, then went on");
    }
}
