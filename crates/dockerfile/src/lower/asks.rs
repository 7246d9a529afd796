//! The secrets and SSH agents the build's steps mount, which the caller must provide.

use std::collections::BTreeMap;

use super::SessionRequest;

#[derive(Default)]
pub(crate) struct SessionAsks {
    /// By id, with whether the first step mounting it requires it (`required`).
    pub(crate) secrets: BTreeMap<String, bool>,
    /// Likewise for SSH agents.
    pub(crate) ssh: BTreeMap<String, bool>,
}

fn requests(asks: BTreeMap<String, bool>) -> Vec<SessionRequest> {
    asks.into_iter()
        .map(|(id, required)| SessionRequest { id, required })
        .collect()
}

impl SessionAsks {
    /// The secrets and the SSH agents asked for, in id order.
    pub(crate) fn into_requests(self) -> (Vec<SessionRequest>, Vec<SessionRequest>) {
        (requests(self.secrets), requests(self.ssh))
    }
}
