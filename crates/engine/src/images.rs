//! The named images of the store and its upkeep, for commands that do not build
//! (`hearth images`, `rmi`, `debug info`, `debug verify`), so callers never open the
//! store's tables themselves.

use std::path::Path;

use hearth_store::tables::Images;
use hearth_store::{ImageRecord, VerifyReport};

use crate::{Engine, EngineError};

impl Engine {
    /// Every named image.
    pub fn images(&self) -> Result<Vec<ImageRecord>, EngineError> {
        Ok(self.store().read()?.list::<Images>()?)
    }

    /// Removes the names (already normalised); returns, per name, whether it existed.
    pub fn untag(&self, names: &[String]) -> Result<Vec<bool>, EngineError> {
        let mut txn = self.store().write()?;
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            found.push(txn.delete::<Images>(name)?);
        }
        txn.commit()?;
        Ok(found)
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        self.store().root()
    }

    /// Bytes the store uses on disk (blocking: it walks the store).
    pub fn disk_usage(&self) -> Result<u64, EngineError> {
        Ok(self.store().disk_usage()?.total())
    }

    /// Re-hashes every blob and checks every record (blocking).
    pub fn verify(&self) -> Result<VerifyReport, EngineError> {
        Ok(self.store().verify()?)
    }
}
