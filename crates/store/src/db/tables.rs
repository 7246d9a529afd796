//! The typed tables of the metadata database and how their keys are spelled.
//!
//! Every record table maps a string key to a JSON record that also carries the key, so a
//! record is self-describing when listed. The marker types here select the table in the
//! generic transaction methods: `txn.get::<Layers>(&id)`.

use std::borrow::Cow;

use hearth_core::Digest;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::records::{BlobRecord, CacheRecord, ImageRecord, LayerRecord, Lease};
use crate::layers::LayerId;

/// The redb schema shared by all tables: string keys, byte values.
pub(crate) type RawTable = redb::TableDefinition<'static, &'static str, &'static [u8]>;

mod sealed {
    pub trait Sealed {}
}

/// A record table of the metadata database. Implemented by the marker types of this module
/// only.
pub trait Table: sealed::Sealed {
    /// What the table is keyed by.
    type Key: ?Sized;
    /// What it stores.
    type Record: Serialize + DeserializeOwned;
    /// The table's name in the database file. Renaming one is a layout change.
    const NAME: &'static str;
    /// The key as stored.
    fn encode_key(key: &Self::Key) -> Cow<'_, str>;
    /// The key a record is stored under.
    fn key_of(record: &Self::Record) -> &Self::Key;
}

pub(crate) const fn raw<T: Table>() -> RawTable {
    redb::TableDefinition::new(T::NAME)
}

/// The generic key/value table, for other crates' small indexes. Keys are namespaced by a
/// prefix that names the owner (`"context-stat/…"`).
pub(crate) const KV: RawTable = redb::TableDefinition::new("kv");

/// Committed layers, by [`LayerId`].
#[derive(Debug)]
pub struct Layers;
/// Build step results, by cache key.
#[derive(Debug)]
pub struct Cache;
/// Named images, by reference.
#[derive(Debug)]
pub struct Images;
/// What blobs are, by digest.
#[derive(Debug)]
pub struct Blobs;
/// Leases, by id.
#[derive(Debug)]
pub struct Leases;

impl sealed::Sealed for Layers {}
impl sealed::Sealed for Cache {}
impl sealed::Sealed for Images {}
impl sealed::Sealed for Blobs {}
impl sealed::Sealed for Leases {}

impl Table for Layers {
    type Key = LayerId;
    type Record = LayerRecord;
    const NAME: &'static str = "layers";
    fn encode_key(key: &LayerId) -> Cow<'_, str> {
        Cow::Borrowed(key.as_str())
    }
    fn key_of(record: &LayerRecord) -> &LayerId {
        &record.id
    }
}

impl Table for Cache {
    type Key = Digest;
    type Record = CacheRecord;
    const NAME: &'static str = "cache";
    fn encode_key(key: &Digest) -> Cow<'_, str> {
        Cow::Owned(key.to_string())
    }
    fn key_of(record: &CacheRecord) -> &Digest {
        &record.key
    }
}

impl Table for Images {
    type Key = str;
    type Record = ImageRecord;
    const NAME: &'static str = "images";
    fn encode_key(key: &str) -> Cow<'_, str> {
        Cow::Borrowed(key)
    }
    fn key_of(record: &ImageRecord) -> &str {
        &record.name
    }
}

impl Table for Blobs {
    type Key = Digest;
    type Record = BlobRecord;
    const NAME: &'static str = "blobs";
    fn encode_key(key: &Digest) -> Cow<'_, str> {
        Cow::Owned(key.to_string())
    }
    fn key_of(record: &BlobRecord) -> &Digest {
        &record.digest
    }
}

impl Table for Leases {
    type Key = str;
    type Record = Lease;
    const NAME: &'static str = "leases";
    fn encode_key(key: &str) -> Cow<'_, str> {
        Cow::Borrowed(key)
    }
    fn key_of(record: &Lease) -> &str {
        &record.id
    }
}

/// Every table, so that `Store::open` can create them all (a read transaction cannot open a
/// table that was never created).
pub(crate) const ALL: [RawTable; 6] = [
    raw::<Layers>(),
    raw::<Cache>(),
    raw::<Images>(),
    raw::<Blobs>(),
    raw::<Leases>(),
    KV,
];
