//! BuildKit's default GC policies (`DefaultGCPolicy`, `DetectDefaultGCCap`) for given disks.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use hearth_config::{DiskSpace, GcPolicy, ResolvedGcPolicy, parse};

const GIB: u64 = 1 << 30;

/// The four default policies with the given bounds on the last three.
fn defaults(
    reserved: Option<DiskSpace>,
    max_used: Option<DiskSpace>,
    min_free: Option<DiskSpace>,
) -> Vec<GcPolicy> {
    let bounded = |all, keep_duration| GcPolicy {
        all,
        keep_duration,
        filters: Vec::new(),
        reserved_space: reserved,
        max_used_space: max_used,
        min_free_space: min_free,
    };
    vec![
        GcPolicy {
            all: false,
            keep_duration: Some(Duration::from_secs(48 * 3600)),
            filters: vec![
                "type==source.local,type==exec.cachemount,type==source.git.checkout".into(),
            ],
            reserved_space: None,
            max_used_space: Some(DiskSpace::Bytes(512_000_000)),
            min_free_space: None,
        },
        bounded(false, Some(Duration::from_secs(60 * 24 * 3600))),
        bounded(false, None),
        bounded(true, None),
    ]
}

#[test]
fn default_policies_by_disk_size() {
    use DiskSpace::{Bytes, Percentage};
    let worker = parse("", "f").config.worker.oci;
    // (disk size, reserved, max used); min free is always 20%.
    let cases = [
        // Unknown size: percentages stay (each resolves to 2 GB later).
        (0, Percentage(10), Percentage(80)),
        (50_000_000_000, Percentage(10), Percentage(80)),
        // 10% rounds up to 10 GB exactly, which is not above the 10 GB cap.
        (100_000_000_000, Percentage(10), Percentage(80)),
        (120 * GIB, Bytes(10_000_000_000), Percentage(80)),
        (500 * GIB, Bytes(10_000_000_000), Bytes(100_000_000_000)),
        (2048 * GIB, Bytes(10_000_000_000), Bytes(100_000_000_000)),
    ];
    for (disk, reserved, max_used) in cases {
        assert_eq!(
            worker.default_gc_policies(disk),
            defaults(Some(reserved), Some(max_used), Some(Percentage(20))),
            "disk of {disk} bytes"
        );
    }
}

#[test]
fn worker_level_sizes_bound_the_defaults() {
    let worker = parse(
        "[worker.oci]\nreservedSpace = \"30%\"\nmaxUsedSpace = \"60%\"\n",
        "f",
    )
    .config
    .worker
    .oci;
    assert_eq!(
        worker.default_gc_policies(500 * GIB),
        defaults(
            Some(DiskSpace::Percentage(30)),
            Some(DiskSpace::Percentage(60)),
            None
        )
    );
    // gckeepstorage stands in for reservedSpace when none of the three is set.
    let worker = parse("[worker.oci]\ngckeepstorage = 5000000000\n", "f")
        .config
        .worker
        .oci;
    assert_eq!(
        worker.default_gc_policies(500 * GIB),
        defaults(Some(DiskSpace::Bytes(5_000_000_000)), None, None)
    );
}

#[test]
fn effective_policies() {
    let off = parse("[worker.oci]\ngc = false\n", "f").config.worker.oci;
    assert_eq!(off.gc_policies(500 * GIB), []);

    let unset = parse("", "f").config.worker.oci;
    assert!(unset.gc.is_enabled());
    assert_eq!(
        unset.gc_policies(500 * GIB),
        unset.default_gc_policies(500 * GIB)
    );

    let own = parse(
        "[[worker.oci.gcpolicy]]\nall = true\nmaxUsedSpace = \"1GB\"\n",
        "f",
    )
    .config
    .worker
    .oci;
    assert_eq!(
        own.gc_policies(500 * GIB),
        [GcPolicy {
            all: true,
            max_used_space: Some(DiskSpace::Bytes(GIB)),
            ..GcPolicy::default()
        }]
    );
}

#[test]
fn policies_resolve_to_bytes() {
    let worker = parse("", "f").config.worker.oci;
    let resolved: Vec<ResolvedGcPolicy> = worker
        .default_gc_policies(100 * GIB)
        .iter()
        .map(|policy| policy.resolve(100 * GIB))
        .collect();
    assert_eq!(resolved[0].max_used_space, 512_000_000);
    assert_eq!(resolved[0].reserved_space, 0);
    // 80% and 20% of 100 GiB, each rounded up to whole GiB and counted in GB; 10% would
    // be 11 GB that way, over the 10 GB cap, so the reserve is the cap.
    assert_eq!(
        (
            resolved[3].reserved_space,
            resolved[3].max_used_space,
            resolved[3].min_free_space
        ),
        (10_000_000_000, 81_000_000_000, 21_000_000_000)
    );
    assert!(resolved[3].all);
    assert_eq!(
        resolved[1].keep_duration,
        Some(Duration::from_secs(60 * 86_400))
    );
    // An unknown disk resolves every percentage to 2 GB.
    let unknown = worker.default_gc_policies(0)[3].resolve(0);
    assert_eq!(
        (
            unknown.reserved_space,
            unknown.max_used_space,
            unknown.min_free_space
        ),
        (2_000_000_000, 2_000_000_000, 2_000_000_000)
    );
}
