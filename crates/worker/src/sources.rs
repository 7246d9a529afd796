//! Where a cached result can come from besides the store's own records: one trait the
//! worker asks in order, as BuildKit makes a cache import one more cache source. A new
//! backend (an S3-compatible bucket, say) is one new implementation.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use hearth_core::Digest;
use hearth_registry::Client;

use crate::imported::{self, ImportedRecord};
use crate::{Error, FileFetcher, Host, Ref};

/// What a cache source needs from the build asking it.
pub struct LoadContext<'a> {
    /// The worker host: its store receives what a source loads.
    pub host: &'a Host,
    /// The build's registry client (its own credentials).
    pub registry: &'a Client,
    /// Where the build's client serves files from, when it is a daemon's client.
    pub client: Option<Arc<dyn FileFetcher>>,
}

/// A source of cached results.
pub trait CacheSource: Send + Sync {
    /// What the source is, for messages.
    fn name(&self) -> &str;

    /// Whether the source knows a result for `key`: cheap, nothing is downloaded.
    fn knows(&self, host: &Host, key: &Digest) -> Result<bool, Error>;

    /// Brings the result for `key` into the store (an ordinary cache record afterwards)
    /// and returns it; `None` when the source has none after all.
    fn load<'a>(
        &'a self,
        ctx: &'a LoadContext<'a>,
        key: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<Ref>, Error>>;
}

/// The records of caches imported into the store (`--cache-from` of registries and of
/// directories on this machine): keys and blob locations kept until a build hits them.
pub struct StoreImports;

impl CacheSource for StoreImports {
    fn name(&self) -> &str {
        "imported caches"
    }

    fn knows(&self, host: &Host, key: &Digest) -> Result<bool, Error> {
        Ok(imported::get(host, key)?.is_some())
    }

    fn load<'a>(
        &'a self,
        ctx: &'a LoadContext<'a>,
        key: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<Ref>, Error>> {
        Box::pin(async move {
            match imported::get(ctx.host, key)? {
                Some(record) => materialize(ctx, &record).await,
                None => Ok(None),
            }
        })
    }
}

/// The imports one daemon client offers for its own build only (`--cache-from
/// type=local` directories on the client's machine), never recorded in the store.
pub struct ClientImports {
    records: HashMap<Digest, ImportedRecord>,
}

impl ClientImports {
    /// The client's records, by key.
    pub fn new(records: &[ImportedRecord]) -> Self {
        Self {
            records: records.iter().map(|r| (r.key, r.clone())).collect(),
        }
    }

    /// The record for `key`, for cache exports that re-export it.
    pub fn get(&self, key: &Digest) -> Option<&ImportedRecord> {
        self.records.get(key)
    }
}

impl CacheSource for ClientImports {
    fn name(&self) -> &str {
        "the client's cache directories"
    }

    fn knows(&self, _host: &Host, key: &Digest) -> Result<bool, Error> {
        Ok(self.records.contains_key(key))
    }

    fn load<'a>(
        &'a self,
        ctx: &'a LoadContext<'a>,
        key: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<Ref>, Error>> {
        Box::pin(async move {
            match self.records.get(key) {
                Some(record) => materialize(ctx, record).await,
                None => Ok(None),
            }
        })
    }
}

/// Downloads an imported record. An import is only a shortcut: one this build cannot
/// fetch (another client's private cache, a registry gone meanwhile) is a miss, and the
/// step runs.
async fn materialize(ctx: &LoadContext<'_>, record: &ImportedRecord) -> Result<Option<Ref>, Error> {
    match imported::materialize(ctx.host, ctx.registry, record, ctx.client.as_deref()).await {
        Ok(found) => Ok(Some(found)),
        Err(Error::Registry(_) | Error::Download { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
