//! A full consistency check of the store: every blob re-hashed, every record's references
//! followed. Backs `hearth check` and the crash tests.
//!
//! Meant for an idle store: a layer committed by another thread between its rename and its
//! record's transaction would show up as an orphan.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io;
use std::path::PathBuf;

use hearth_core::Digest;

use crate::db::ReadTxn;
use crate::db::tables::{Blobs, Cache, Images, Layers, Leases, Table};
use crate::error::{IoContext, Result};
use crate::layers::LayerId;
use crate::store::Store;

/// The result of [`Store::verify`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blob files hashed.
    pub blobs_checked: u64,
    /// Layer directories looked at.
    pub layers_checked: u64,
    /// Database records checked.
    pub records_checked: u64,
    /// Everything found wrong.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One inconsistency found by [`Store::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A blob's content does not match its name.
    CorruptBlob {
        /// The blob's name.
        digest: Digest,
        /// Its file.
        path: PathBuf,
    },
    /// Something in `blobs/` or `layers/` that hearth does not write there.
    StrayFile {
        /// The file or directory.
        path: PathBuf,
    },
    /// A layer directory without a record.
    OrphanLayerDir {
        /// The layer.
        id: LayerId,
    },
    /// A layer directory without its `diff/`.
    IncompleteLayerDir {
        /// The layer.
        id: LayerId,
    },
    /// A layer record whose directory is missing.
    MissingLayerDir {
        /// The layer.
        id: LayerId,
    },
    /// A record names a blob the store does not have.
    MissingBlob {
        /// Which record, as "table key".
        referrer: String,
        /// The blob.
        digest: Digest,
    },
    /// A record names a layer the store does not have.
    MissingLayer {
        /// Which record, as "table key".
        referrer: String,
        /// The layer.
        id: LayerId,
    },
    /// A blob record's size differs from the file's.
    BlobSizeMismatch {
        /// The blob.
        digest: Digest,
        /// What the record says.
        recorded: u64,
        /// What the file has.
        actual: u64,
    },
    /// A record that does not decode, or is stored under a key other than its own.
    BadRecord {
        /// The table.
        table: &'static str,
        /// The key it is stored under.
        key: String,
        /// What is wrong with it.
        error: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CorruptBlob { digest, path } => {
                write!(
                    f,
                    "blob {digest} is corrupt: {} does not match its digest",
                    path.display()
                )
            }
            Self::StrayFile { path } => write!(f, "unexpected file {}", path.display()),
            Self::OrphanLayerDir { id } => write!(f, "layer directory {id} has no record"),
            Self::IncompleteLayerDir { id } => write!(f, "layer directory {id} has no diff/"),
            Self::MissingLayerDir { id } => write!(f, "layer {id} has a record but no directory"),
            Self::MissingBlob { referrer, digest } => {
                write!(f, "{referrer} names missing blob {digest}")
            }
            Self::MissingLayer { referrer, id } => write!(f, "{referrer} names missing layer {id}"),
            Self::BlobSizeMismatch {
                digest,
                recorded,
                actual,
            } => write!(
                f,
                "blob {digest} is {actual} bytes but its record says {recorded}"
            ),
            Self::BadRecord { table, key, error } => {
                write!(f, "bad record {key:?} in table {table}: {error}")
            }
        }
    }
}

impl Store {
    /// Re-hashes every blob and checks every record's references. Reads everything; run it
    /// on an idle store.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let blobs = self.verify_blob_files(&mut report)?;
        let txn = self.read()?;
        let layer_keys = self.verify_layer_dirs(&txn, &mut report)?;

        let has_blob = |d: &Digest| blobs.contains(d);
        let has_layer = |id: &LayerId| layer_keys.contains(id.as_str());

        for record in records::<Layers>(&txn, &mut report)? {
            if !self.layer_root(&record.id).is_dir() {
                report.problems.push(Problem::MissingLayerDir {
                    id: record.id.clone(),
                });
            }
            for blob in &record.blobs {
                if !has_blob(&blob.digest) {
                    report.problems.push(Problem::MissingBlob {
                        referrer: format!("layers {}", record.id),
                        digest: blob.digest,
                    });
                }
            }
        }
        for record in records::<Cache>(&txn, &mut report)? {
            for id in &record.layers {
                if !has_layer(id) {
                    report.problems.push(Problem::MissingLayer {
                        referrer: format!("cache {}", record.key),
                        id: id.clone(),
                    });
                }
            }
        }
        for record in records::<Images>(&txn, &mut report)? {
            for digest in [record.manifest, record.config] {
                if !has_blob(&digest) {
                    report.problems.push(Problem::MissingBlob {
                        referrer: format!("images {}", record.name),
                        digest,
                    });
                }
            }
        }
        for record in records::<Blobs>(&txn, &mut report)? {
            if !has_blob(&record.digest) {
                report.problems.push(Problem::MissingBlob {
                    referrer: format!("blobs {}", record.digest),
                    digest: record.digest,
                });
                continue;
            }
            let actual = self.blob_size(&record.digest)?;
            if actual != record.size {
                report.problems.push(Problem::BlobSizeMismatch {
                    digest: record.digest,
                    recorded: record.size,
                    actual,
                });
            }
        }
        // Leases may name what does not exist yet (a blob still being pulled), so only
        // their encoding is checked.
        records::<Leases>(&txn, &mut report)?;
        Ok(report)
    }

    /// Hashes every blob file; returns the digests of the good ones.
    fn verify_blob_files(&self, report: &mut VerifyReport) -> Result<HashSet<Digest>> {
        let dir = self.layout().blobs_dir();
        let mut good = HashSet::new();
        let mut names: Vec<_> = fs::read_dir(&dir)
            .ctx("read directory", &dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .ctx("read directory", &dir)?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let digest = name
                .to_str()
                .and_then(|hex| format!("sha256:{hex}").parse::<Digest>().ok());
            let is_file = fs::symlink_metadata(&path).ctx("inspect", &path)?.is_file();
            let Some(digest) = digest.filter(|_| is_file) else {
                report.problems.push(Problem::StrayFile { path });
                continue;
            };
            report.blobs_checked += 1;
            let mut reader = self.open_blob(&digest)?;
            match io::copy(&mut reader, &mut io::sink()) {
                Ok(_) => {
                    good.insert(digest);
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    report.problems.push(Problem::CorruptBlob { digest, path });
                }
                Err(e) => return Err(e).ctx("read", &path),
            }
        }
        Ok(good)
    }

    /// Checks each directory in `layers/` against the records; returns the record keys.
    fn verify_layer_dirs(
        &self,
        txn: &ReadTxn,
        report: &mut VerifyReport,
    ) -> Result<HashSet<String>> {
        let keys: HashSet<String> = txn
            .entries::<Layers>()?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        let dir = self.layout().layers_dir();
        let mut names: Vec<_> = fs::read_dir(&dir)
            .ctx("read directory", &dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .ctx("read directory", &dir)?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let Some(id) = name.to_str().and_then(|s| s.parse::<LayerId>().ok()) else {
                report.problems.push(Problem::StrayFile { path });
                continue;
            };
            report.layers_checked += 1;
            if !keys.contains(id.as_str()) {
                report.problems.push(Problem::OrphanLayerDir { id });
            } else if !path.join("diff").is_dir() {
                report.problems.push(Problem::IncompleteLayerDir { id });
            }
        }
        Ok(keys)
    }
}

/// The decodable records of table `T`; the others, and records stored under a key other
/// than their own, are reported.
fn records<T: Table>(txn: &ReadTxn, report: &mut VerifyReport) -> Result<Vec<T::Record>> {
    let mut out = Vec::new();
    for (key, record) in txn.entries::<T>()? {
        report.records_checked += 1;
        match record {
            Ok(record) if T::encode_key(T::key_of(&record)) == key.as_str() => out.push(record),
            Ok(record) => report.problems.push(Problem::BadRecord {
                table: T::NAME,
                key,
                error: format!(
                    "record names itself {:?}",
                    T::encode_key(T::key_of(&record))
                ),
            }),
            Err(e) => report.problems.push(Problem::BadRecord {
                table: T::NAME,
                key,
                error: e.to_string(),
            }),
        }
    }
    Ok(out)
}
