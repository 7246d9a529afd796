//! The metadata database (`meta.redb`): typed, transactional access to the record tables,
//! so that no other crate touches redb directly.
//!
//! Reads see a snapshot taken when the transaction began. Writes become visible, all at
//! once and durably (redb fsyncs on commit), at [`WriteTxn::commit`]; a write transaction
//! dropped without commit changes nothing.
//!
//! redb allows one write transaction at a time per database; [`Store::write`] blocks while
//! another is open. Keep write transactions short and do the slow work (writing blobs,
//! building layers) before opening one. That order is also what crash safety requires: the
//! files a record names must be complete before the record is committed. Never call
//! [`Store::write`] while holding a [`WriteTxn`] on the same thread: it would wait for
//! itself.

pub(crate) mod records;
pub mod tables;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::error::{Result, StoreError};
use crate::store::Store;
use tables::{KV, Table};

impl Store {
    /// Begins a read transaction: a consistent snapshot of the metadata.
    pub fn read(&self) -> Result<ReadTxn> {
        Ok(ReadTxn {
            txn: self.inner.db.begin_read()?,
            _store: self.clone(),
        })
    }

    /// Begins a write transaction, waiting for any other one to finish.
    ///
    /// There is one writer at a time per store, so keep write transactions short: do the
    /// slow work (writing blobs, building layers) before opening one. That order is also
    /// what crash safety requires, since the files a record names must be complete before
    /// the record is committed. Never call `write` while this thread already holds a
    /// [`WriteTxn`]: it would wait for itself.
    pub fn write(&self) -> Result<WriteTxn> {
        Ok(WriteTxn {
            txn: self.inner.db.begin_write()?,
            _store: self.clone(),
        })
    }
}

/// A read-only snapshot of the metadata.
pub struct ReadTxn {
    txn: redb::ReadTransaction,
    // Keeps the root lock (and the database) alive as long as the transaction.
    _store: Store,
}

/// A set of metadata changes applied atomically and durably by [`commit`](Self::commit);
/// dropped without commit, it changes nothing. Reads through it see its own changes.
pub struct WriteTxn {
    txn: redb::WriteTransaction,
    _store: Store,
}

impl std::fmt::Debug for ReadTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadTxn")
    }
}

impl std::fmt::Debug for WriteTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteTxn")
    }
}

type Raw = &'static str;
type Bytes = &'static [u8];

fn decode<T: Table>(key: &str, bytes: &[u8]) -> Result<T::Record> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Serde {
        table: T::NAME,
        key: key.to_owned(),
        source,
    })
}

fn get_in<T: Table>(
    table: &impl ReadableTable<Raw, Bytes>,
    key: &T::Key,
) -> Result<Option<T::Record>> {
    let key = T::encode_key(key);
    match table.get(key.as_ref())? {
        Some(value) => decode::<T>(&key, value.value()).map(Some),
        None => Ok(None),
    }
}

fn contains_in<T: Table>(table: &impl ReadableTable<Raw, Bytes>, key: &T::Key) -> Result<bool> {
    Ok(table.get(T::encode_key(key).as_ref())?.is_some())
}

/// Every entry, each decoded on its own, so that one bad record does not hide the others.
fn entries_in<T: Table>(
    table: &impl ReadableTable<Raw, Bytes>,
) -> Result<Vec<(String, Result<T::Record>)>> {
    let mut out = Vec::new();
    for item in table.iter()? {
        let (key, value) = item?;
        let key = key.value().to_owned();
        let record = decode::<T>(&key, value.value());
        out.push((key, record));
    }
    Ok(out)
}

fn kv_list_in(
    table: &impl ReadableTable<Raw, Bytes>,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for item in table.range::<&str>(prefix..)? {
        let (key, value) = item?;
        if !key.value().starts_with(prefix) {
            break;
        }
        out.push((key.value().to_owned(), value.value().to_vec()));
    }
    Ok(out)
}

// The read methods are the same on both transaction types, but redb's read-only and
// writable tables are different types, so the bodies are stamped out for each.
macro_rules! read_methods {
    () => {
        /// The record stored under `key` in table `T`.
        pub fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Record>> {
            get_in::<T>(&self.txn.open_table(tables::raw::<T>())?, key)
        }

        /// Whether table `T` has a record under `key`.
        pub fn contains<T: Table>(&self, key: &T::Key) -> Result<bool> {
            contains_in::<T>(&self.txn.open_table(tables::raw::<T>())?, key)
        }

        /// Every record of table `T`, in key order. Fails on the first record that does
        /// not decode.
        pub fn list<T: Table>(&self) -> Result<Vec<T::Record>> {
            entries_in::<T>(&self.txn.open_table(tables::raw::<T>())?)?
                .into_iter()
                .map(|(_, record)| record)
                .collect()
        }

        /// Every entry of table `T` in key order, each decoded on its own.
        pub fn entries<T: Table>(&self) -> Result<Vec<(String, Result<T::Record>)>> {
            entries_in::<T>(&self.txn.open_table(tables::raw::<T>())?)
        }

        /// The number of records in table `T`.
        pub fn count<T: Table>(&self) -> Result<u64> {
            Ok(self.txn.open_table(tables::raw::<T>())?.len()?)
        }

        /// The value stored under `key` in the generic key/value table.
        pub fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            let table = self.txn.open_table(KV)?;
            let value = table.get(key)?;
            Ok(value.map(|v| v.value().to_vec()))
        }

        /// Every key/value entry whose key starts with `prefix`, in key order.
        pub fn kv_list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
            kv_list_in(&self.txn.open_table(KV)?, prefix)
        }
    };
}

impl ReadTxn {
    read_methods!();
}

impl WriteTxn {
    read_methods!();

    /// Stores `record` under its own key in table `T`, replacing any record there.
    pub fn put<T: Table>(&mut self, record: &T::Record) -> Result<()> {
        let key = T::encode_key(T::key_of(record));
        let bytes = serde_json::to_vec(record).map_err(|source| StoreError::Serde {
            table: T::NAME,
            key: key.clone().into_owned(),
            source,
        })?;
        self.txn
            .open_table(tables::raw::<T>())?
            .insert(key.as_ref(), bytes.as_slice())?;
        Ok(())
    }

    /// Deletes the record under `key` from table `T`; `false` if there was none.
    pub fn delete<T: Table>(&mut self, key: &T::Key) -> Result<bool> {
        let key = T::encode_key(key);
        let removed = self
            .txn
            .open_table(tables::raw::<T>())?
            .remove(key.as_ref())?
            .is_some();
        Ok(removed)
    }

    /// Deletes the entry stored under the raw `key`, for recovery of keys that do not parse.
    pub(crate) fn delete_raw<T: Table>(&mut self, key: &str) -> Result<bool> {
        let removed = self
            .txn
            .open_table(tables::raw::<T>())?
            .remove(key)?
            .is_some();
        Ok(removed)
    }

    /// Stores `value` under `key` in the generic key/value table.
    pub fn kv_put(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.txn.open_table(KV)?.insert(key, value)?;
        Ok(())
    }

    /// Deletes `key` from the generic key/value table; `false` if it was not there.
    pub fn kv_delete(&mut self, key: &str) -> Result<bool> {
        let removed = self.txn.open_table(KV)?.remove(key)?.is_some();
        Ok(removed)
    }

    /// Applies every change of this transaction, atomically and durably.
    pub fn commit(self) -> Result<()> {
        self.txn.commit()?;
        Ok(())
    }
}

/// Opens (creating if needed) the database and every table.
pub(crate) fn open(path: &std::path::Path) -> Result<redb::Database> {
    let db = redb::Database::create(path).map_err(|source| StoreError::DbOpen {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let txn = db.begin_write()?;
    for table in tables::ALL {
        txn.open_table(table)?;
    }
    txn.commit()?;
    Ok(db)
}
