//! Disk usage and prune reports between the collector's form and the wire's.

/// The wire form of a usage record.
pub fn usage_to_wire(r: &hearth_engine::gc::UsageRecord) -> crate::v1::UsageRecord {
    crate::v1::UsageRecord {
        id: r.id.clone(),
        kind: r.kind.clone(),
        size: r.size,
        in_use: r.in_use,
        last_used_unix: i64::try_from(r.last_used).unwrap_or(i64::MAX),
        description: r.description.clone(),
        shared: r.shared,
        created_unix: i64::try_from(r.created).unwrap_or(i64::MAX),
    }
}

/// A usage record from the wire.
pub fn usage_from_wire(r: &crate::v1::UsageRecord) -> hearth_engine::gc::UsageRecord {
    hearth_engine::gc::UsageRecord {
        id: r.id.clone(),
        kind: r.kind.clone(),
        size: r.size,
        created: u64::try_from(r.created_unix).unwrap_or(0),
        last_used: u64::try_from(r.last_used_unix).unwrap_or(0),
        description: r.description.clone(),
        in_use: r.in_use,
        shared: r.shared,
    }
}

/// The prune rule a request asks for.
pub fn rule_from_wire(r: &crate::v1::PruneRequest) -> hearth_engine::gc::PruneRule {
    hearth_engine::gc::PruneRule {
        all: r.all,
        filters: r.filters.clone(),
        keep_duration: (r.keep_duration_seconds > 0)
            .then(|| std::time::Duration::from_secs(r.keep_duration_seconds)),
        reserved_space: r.reserved_space,
        max_used_space: r.max_used_space,
        min_free_space: r.min_free_space,
    }
}

/// The wire form of a prune report.
pub fn prune_to_wire(report: &hearth_engine::gc::PruneReport) -> crate::v1::PruneResponse {
    crate::v1::PruneResponse {
        removed: report.removed.iter().map(usage_to_wire).collect(),
        kept: report
            .kept
            .iter()
            .map(|(r, why)| crate::v1::KeptRecord {
                record: Some(usage_to_wire(r)),
                reason: why.clone(),
            })
            .collect(),
        freed_bytes: report.freed,
        before_bytes: report.before,
        after_bytes: report.after,
    }
}

/// A prune report from the wire.
pub fn prune_from_wire(r: &crate::v1::PruneResponse) -> hearth_engine::gc::PruneReport {
    hearth_engine::gc::PruneReport {
        removed: r.removed.iter().map(usage_from_wire).collect(),
        kept: r
            .kept
            .iter()
            .filter_map(|k| Some((usage_from_wire(k.record.as_ref()?), k.reason.clone())))
            .collect(),
        freed: r.freed_bytes,
        before: r.before_bytes,
        after: r.after_bytes,
    }
}
