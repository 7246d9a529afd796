//! What running builds are using, so the collector leaves it alone, and when each cache
//! record was last used, so `keepDuration` means "used recently", not "made recently".
//!
//! A build registers when its worker is made and unregisters when it is dropped. Cache
//! keys it loads or produces are in use until then; anything created after the oldest
//! running build started is in use too (a blob just downloaded, a layer just committed,
//! not yet named by a cache record). On unregistering, the build's keys get their
//! `last_used` set in one transaction rather than one write per cached step.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use hearth_core::Digest;
use hearth_store::tables::Cache;
use hearth_store::unix_now;

use crate::Host;

/// Running builds and their cache keys.
#[derive(Default)]
pub(crate) struct InUse {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// Build id → (start, keys it used).
    builds: HashMap<u64, (u64, HashSet<Digest>)>,
}

/// What the collector must not touch.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    /// Cache keys running builds use.
    pub keys: HashSet<Digest>,
    /// Anything created at or after this unix time (the oldest running build's start).
    pub since: Option<u64>,
}

impl InUse {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn register(&self) -> u64 {
        let mut state = self.state();
        state.next_id += 1;
        let id = state.next_id;
        state.builds.insert(id, (unix_now(), HashSet::new()));
        id
    }

    pub(crate) fn add(&self, build: u64, key: Digest) {
        if let Some((_, keys)) = self.state().builds.get_mut(&build) {
            keys.insert(key);
        }
    }

    pub(crate) fn unregister(&self, build: u64) -> HashSet<Digest> {
        self.state()
            .builds
            .remove(&build)
            .map(|(_, keys)| keys)
            .unwrap_or_default()
    }

    pub(crate) fn protected(&self) -> Protected {
        let state = self.state();
        Protected {
            keys: state
                .builds
                .values()
                .flat_map(|(_, keys)| keys.iter().copied())
                .collect(),
            since: state.builds.values().map(|(start, _)| *start).min(),
        }
    }
}

/// Sets `last_used` of `keys` to now; best effort (a failure only ages the records).
pub(crate) fn touch(host: &Host, keys: &HashSet<Digest>) {
    if keys.is_empty() {
        return;
    }
    let Ok(mut txn) = host.store.write() else {
        return;
    };
    let now = unix_now();
    for key in keys {
        if let Ok(Some(mut record)) = txn.get::<Cache>(key)
            && record.last_used < now
        {
            record.last_used = now;
            let _ = txn.put::<Cache>(&record);
        }
    }
    let _ = txn.commit();
}
