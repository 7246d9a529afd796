//! Garbage-collection policies: BuildKit's defaults, the effective list for a worker, and
//! policies resolved to bytes for a given disk.
//!
//! The defaults follow `DefaultGCPolicy` and `DetectDefaultGCCap` in BuildKit's
//! `cmd/buildkitd/config/gcpolicy.go` with the Unix constants of `gcpolicy_unix.go`:
//! keep 10% of the disk (at most 10 GB), use at most 80% (at most 100 GB), try to leave
//! 20% free. Note the units: these constants and the 512 MB of the first policy are
//! decimal, while sizes written in the file are binary (see [`crate::sizes`]).

use std::time::Duration;

use crate::model::{GcConfig, GcPolicy, OciWorker};
use crate::sizes::DiskSpace;

/// `DiskSpaceReservePercentage`.
const RESERVE_PERCENT: u8 = 10;
/// `DiskSpaceReserveBytes`: 10 GB.
const RESERVE_BYTES: u64 = 10_000_000_000;
/// `DiskSpaceFreePercentage`.
const FREE_PERCENT: u8 = 20;
/// `DiskSpaceMaxPercentage`.
const MAX_PERCENT: u8 = 80;
/// `DiskSpaceMaxBytes`: 100 GB.
const MAX_BYTES: u64 = 100_000_000_000;

/// A policy with every size resolved to bytes for one disk; what the collector runs
/// (BuildKit's `client.PruneInfo`). Zero bytes means "no limit".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedGcPolicy {
    /// Also remove internal and shared records.
    pub all: bool,
    /// Keep records used more recently than this.
    pub keep_duration: Option<Duration>,
    /// Which records the policy considers.
    pub filters: Vec<String>,
    /// Never prune below this many bytes.
    pub reserved_space: u64,
    /// Prune down to this many bytes.
    pub max_used_space: u64,
    /// Prune until this many bytes are free.
    pub min_free_space: u64,
}

impl GcPolicy {
    /// This policy's sizes in bytes for a disk of `total_disk` bytes (0: unknown).
    pub fn resolve(&self, total_disk: u64) -> ResolvedGcPolicy {
        let bytes = |space: Option<DiskSpace>| space.map_or(0, |s| s.resolve(total_disk));
        ResolvedGcPolicy {
            all: self.all,
            keep_duration: self.keep_duration,
            filters: self.filters.clone(),
            reserved_space: bytes(self.reserved_space),
            max_used_space: bytes(self.max_used_space),
            min_free_space: bytes(self.min_free_space),
        }
    }
}

impl GcConfig {
    /// Whether the collector runs: `gc` unset means yes.
    pub fn is_enabled(&self) -> bool {
        self.enabled != Some(false)
    }

    /// BuildKit's default policies for this worker on a disk of `total_disk` bytes
    /// (0: unknown, as when statting the root fails). The worker-level sizes, when any is
    /// set, bound the last three policies; otherwise BuildKit's caps for the disk do.
    pub fn default_policies(&self, total_disk: u64) -> Vec<GcPolicy> {
        let (reserved, max_used, min_free) = if self.reserved_space.is_none()
            && self.max_used_space.is_none()
            && self.min_free_space.is_none()
        {
            detect_default_caps(total_disk)
        } else {
            (
                self.reserved_space,
                self.max_used_space,
                self.min_free_space,
            )
        };
        let bounded = |all: bool, keep_duration: Option<Duration>| GcPolicy {
            all,
            keep_duration,
            filters: Vec::new(),
            reserved_space: reserved,
            max_used_space: max_used,
            min_free_space: min_free,
        };
        vec![
            // Past 512 MB, drop what is cheapest to reproduce (local context, cache
            // mounts, git checkouts) once unused for two days. BuildKit writes the three
            // filters as one comma-joined string, and so does hearth.
            GcPolicy {
                all: false,
                keep_duration: Some(Duration::from_secs(48 * 3600)),
                filters: vec![
                    "type==source.local,type==exec.cachemount,type==source.git.checkout".to_owned(),
                ],
                reserved_space: None,
                max_used_space: Some(DiskSpace::Bytes(512_000_000)),
                min_free_space: None,
            },
            // Drop anything unused for 60 days.
            bounded(false, Some(Duration::from_secs(60 * 24 * 3600))),
            // Keep the unshared cache under the cap.
            bounded(false, None),
            // If that was not enough, internal and shared records go too.
            bounded(true, None),
        ]
    }

    /// The policies the collector runs: none when `gc = false`, the file's
    /// `[[gcpolicy]]` tables when it has any, else [`GcConfig::default_policies`].
    pub fn policies(&self, total_disk: u64) -> Vec<GcPolicy> {
        if !self.is_enabled() {
            Vec::new()
        } else if self.policies.is_empty() {
            self.default_policies(total_disk)
        } else {
            self.policies.clone()
        }
    }
}

impl OciWorker {
    /// BuildKit's default GC policies for this worker on a disk of `total_disk` bytes: what
    /// runs when GC is on and the file has no `[[worker.oci.gcpolicy]]`.
    pub fn default_gc_policies(&self, total_disk: u64) -> Vec<GcPolicy> {
        self.gc.default_policies(total_disk)
    }

    /// The GC policies this worker runs; see [`GcConfig::policies`].
    pub fn gc_policies(&self, total_disk: u64) -> Vec<GcPolicy> {
        self.gc.policies(total_disk)
    }
}

/// `DetectDefaultGCCap`: percentages of the disk, each replaced by a fixed number of
/// bytes when that is smaller.
fn detect_default_caps(
    total_disk: u64,
) -> (Option<DiskSpace>, Option<DiskSpace>, Option<DiskSpace>) {
    let capped = |percent: u8, cap: u64| {
        let share = DiskSpace::Percentage(percent);
        if share.resolve(total_disk) > cap {
            DiskSpace::Bytes(cap)
        } else {
            share
        }
    };
    (
        Some(capped(RESERVE_PERCENT, RESERVE_BYTES)),
        Some(capped(MAX_PERCENT, MAX_BYTES)),
        Some(DiskSpace::Percentage(FREE_PERCENT)),
    )
}
