//! Results in the store's metadata: layer records and cache records.

use std::sync::Arc;

use hearth_core::Digest;
use hearth_store::tables::{Cache, Layers};
use hearth_store::{CacheRecord, LayerId, LayerOrigin, LayerRecord, PendingLayer, unix_now};

use crate::{Error, Host, Ref};

/// The cached result under `key`, if every layer it names still exists.
pub(crate) fn load(host: &Host, key: &Digest) -> Result<Option<Ref>, Error> {
    let txn = host.store.read()?;
    let Some(record) = txn.get::<Cache>(key)? else {
        return Ok(None);
    };
    if record.layers.iter().any(|l| !host.store.has_layer(l)) {
        return Ok(None);
    }
    Ok(Some(Ref::Layers(Arc::new(record.layers))))
}

/// Records `layers` as the result of `key`.
pub(crate) fn save(
    host: &Host,
    key: Digest,
    layers: &[LayerId],
    kind: &str,
    description: &str,
) -> Result<(), Error> {
    let now = unix_now();
    let mut txn = host.store.write()?;
    txn.put::<Cache>(&CacheRecord {
        key,
        layers: layers.to_vec(),
        created: now,
        last_used: now,
        description: description.to_owned(),
        kind: kind.to_owned(),
        size: 0,
        extra: serde_json::Value::Null,
    })?;
    txn.commit()?;
    Ok(())
}

/// Commits a layer directory and records it. The directory is in place before the
/// record that names it, so a crash in between leaves only an orphan directory, which
/// recovery removes.
pub(crate) fn commit_layer(
    host: &Host,
    pending: PendingLayer,
    origin: LayerOrigin,
) -> Result<LayerId, Error> {
    let id = pending.commit()?;
    let size = host.store.layer_disk_size(&id)?;
    let mut txn = host.store.write()?;
    txn.put::<Layers>(&LayerRecord {
        id: id.clone(),
        created: unix_now(),
        size,
        diff_id: None,
        blobs: Vec::new(),
        origin,
    })?;
    txn.commit()?;
    Ok(id)
}
