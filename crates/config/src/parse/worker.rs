//! The `[worker.oci]` and `[worker.containerd]` sections: snapshotter, network and
//! garbage-collection settings, including the deprecated GC keys.

use toml::de::DeValue;

use super::sub;
use crate::decode::{Entry, Expected, Section};
use crate::findings::{FindingKind, Report, Sink};
use crate::mistakes;
use crate::model::{
    ContainerdRuntime, ContainerdWorker, GcConfig, GcPolicy, Network, NetworkMode, OciWorker,
    Snapshotter, Workers,
};
use crate::schema;
use crate::suggest::did_you_mean;

pub(super) fn workers(sink: &mut Sink<'_>, s: Section<'_, '_>) -> Workers {
    let oci = sub(sink, &s, "oci", schema::OCI, oci_worker);
    let containerd = s.section(sink, "containerd", schema::CONTAINERD);
    let containerd = containerd
        .is_present()
        .then(|| containerd_worker(sink, containerd));
    s.finish(sink);
    Workers { oci, containerd }
}

fn oci_worker(sink: &mut Sink<'_>, s: Section<'_, '_>) -> OciWorker {
    for (key, what) in [
        ("proxySnapshotterPath", "proxy snapshotters"),
        ("stargzSnapshotter", "the stargz snapshotter"),
        (
            "userRemapUnsupported",
            "BuildKit's experimental user remapping",
        ),
    ] {
        if let Some(entry) = s.entry(sink, key) {
            sink.push(
                entry.key_span.clone(),
                Report::warning(
                    FindingKind::Unsupported,
                    &entry.path,
                    format!("hearth does not support {what}; it ignores `{key}`"),
                ),
            );
        }
    }
    let worker = OciWorker {
        enabled: s.bool(sink, "enabled"),
        labels: s.string_map(sink, "labels"),
        platforms: s.strings(sink, "platforms"),
        snapshotter: snapshotter(sink, &s),
        rootless: s.bool(sink, "rootless").unwrap_or(false),
        no_process_sandbox: s.bool(sink, "noProcessSandbox").unwrap_or(false),
        gc: gc_config(sink, &s),
        network: network(sink, &s),
        binary: s.string(sink, "binary"),
        apparmor_profile: s.string(sink, "apparmor-profile"),
        selinux: s.bool(sink, "selinux").unwrap_or(false),
        max_parallelism: s.count(sink, "max-parallelism").filter(|n| *n > 0),
        default_cgroup_parent: s.string(sink, "defaultCgroupParent"),
    };
    s.finish(sink);
    worker
}

/// BuildKit's snapshotter names (`snapshotterFactory` in buildkitd's OCI worker).
const BUILDKIT_SNAPSHOTTERS: &[&str] = &["auto", "overlayfs", "native", "fuse-overlayfs", "stargz"];

fn snapshotter(sink: &mut Sink<'_>, s: &Section<'_, '_>) -> Snapshotter {
    let Some(entry) = s.entry(sink, "snapshotter") else {
        return Snapshotter::Auto;
    };
    let Some(name) = s.entry_string(sink, &entry) else {
        return Snapshotter::Auto;
    };
    match name.as_str() {
        "auto" => return Snapshotter::Auto,
        "overlayfs" => return Snapshotter::Overlayfs,
        "native" => return Snapshotter::Native,
        _ => {}
    }
    // With a proxy snapshotter any name is valid in BuildKit; the proxy itself is
    // already reported as unsupported.
    let proxied = s.entry_quiet("proxySnapshotterPath").is_some();
    if BUILDKIT_SNAPSHOTTERS.contains(&name.as_str()) || proxied {
        sink.push(
            entry.span(),
            Report::warning(
                FindingKind::Unsupported,
                &entry.path,
                format!("snapshotter {name:?} is not supported by hearth; it uses \"auto\" instead"),
            )
            .hint("hearth has \"overlayfs\" and \"native\"; \"auto\" picks overlayfs where the filesystem allows it"),
        );
    } else {
        let near = did_you_mean(&name, BUILDKIT_SNAPSHOTTERS.iter().copied());
        sink.push(
            entry.span(),
            Report::error(
                FindingKind::InvalidValue,
                &entry.path,
                format!("unknown snapshotter name: {name:?}"),
            )
            .hint(match near {
                Some(near) => format!("did you mean \"{near}\"?"),
                None => "write \"auto\", \"overlayfs\" or \"native\"".to_owned(),
            }),
        );
    }
    Snapshotter::Auto
}

fn network(sink: &mut Sink<'_>, s: &Section<'_, '_>) -> Network {
    const MODES: &[(&str, NetworkMode)] = &[
        ("auto", NetworkMode::Auto),
        ("cni", NetworkMode::Cni),
        ("host", NetworkMode::Host),
        ("bridge", NetworkMode::Bridge),
    ];
    let mode = s
        .entry(sink, "networkMode")
        .and_then(|entry| {
            let name = s.entry_string(sink, &entry)?;
            let found = MODES
                .iter()
                .find(|(m, _)| *m == name)
                .map(|(_, mode)| *mode);
            if found.is_none() {
                sink.push(
                    entry.span(),
                    Report::error(
                        FindingKind::InvalidValue,
                        &entry.path,
                        format!("invalid network mode: {name:?}"),
                    )
                    .hint(
                        match did_you_mean(&name, MODES.iter().map(|(m, _)| *m)) {
                            Some(near) => format!("did you mean \"{near}\"?"),
                            None => "write \"auto\", \"cni\", \"host\" or \"bridge\"".to_owned(),
                        },
                    ),
                );
            }
            found
        })
        .unwrap_or_default();
    Network {
        mode,
        cni_config_path: s.path(sink, "cniConfigPath"),
        cni_binary_path: s.path(sink, "cniBinaryPath"),
        cni_pool_size: s.count(sink, "cniPoolSize"),
        bridge_name: s.string(sink, "bridgeName"),
        bridge_subnet: s.string(sink, "bridgeSubnet"),
    }
}

/// The garbage-collection keys of a worker section.
fn gc_config(sink: &mut Sink<'_>, s: &Section<'_, '_>) -> GcConfig {
    let mut seed = None;
    let enabled = s
        .entry(sink, "gc")
        .and_then(|entry| match entry.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            DeValue::Table(table) => {
                let found = mistakes::seed_gc(sink, s, &entry, table);
                let enabled = found.enabled;
                seed = Some(found);
                enabled
            }
            _ => {
                s.wrong_type(sink, &entry, Expected::Bool);
                None
            }
        });

    let keep_storage = s.entry(sink, "gckeepstorage").and_then(|entry| {
        deprecated(sink, &entry, "reservedSpace");
        s.entry_disk_space(sink, &entry)
    });
    let mut gc = GcConfig {
        enabled,
        reserved_space: s.disk_space(sink, "reservedSpace"),
        max_used_space: s.disk_space(sink, "maxUsedSpace"),
        min_free_space: s.disk_space(sink, "minFreeSpace"),
        policies: gc_policies(sink, s),
    };
    if let Some(seed) = seed {
        gc.reserved_space = gc.reserved_space.or(seed.reserved_space);
        gc.max_used_space = gc.max_used_space.or(seed.max_used_space);
        gc.min_free_space = gc.min_free_space.or(seed.min_free_space);
        if gc.policies.is_empty() {
            gc.policies = seed.policies;
        }
    }
    // BuildKit's DefaultGCPolicy falls back to gckeepstorage only when none of the
    // three newer keys is set.
    let newer_unset =
        gc.reserved_space.is_none() && gc.max_used_space.is_none() && gc.min_free_space.is_none();
    if let Some(keep) = keep_storage {
        if newer_unset {
            gc.reserved_space = Some(keep);
        } else if let Some(entry) = s.entry_quiet("gckeepstorage") {
            sink.push(
                entry.key_span.clone(),
                Report::warning(
                    FindingKind::Deprecated,
                    &entry.path,
                    "`gckeepstorage` is ignored because `reservedSpace`, `maxUsedSpace` or `minFreeSpace` is set",
                ),
            );
        }
    }
    gc
}

/// `gcpolicy`: an array of tables, or (a mistake) a single table.
fn gc_policies(sink: &mut Sink<'_>, s: &Section<'_, '_>) -> Vec<GcPolicy> {
    let Some(entry) = s.entry(sink, "gcpolicy") else {
        return Vec::new();
    };
    match entry.value.get_ref() {
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                let path = format!("{}[{index}]", entry.path);
                match item.get_ref() {
                    DeValue::Table(table) => Some(gc_policy(
                        sink,
                        Section::new(Some(table), path, item.span(), schema::GC_POLICY),
                        true,
                    )),
                    other => {
                        sink.push(
                            item.span(),
                            Report::error(
                                FindingKind::WrongType,
                                &path,
                                format!(
                                    "`{path}` must be a table, not {}",
                                    crate::decode::type_name(other)
                                ),
                            ),
                        );
                        None
                    }
                }
            })
            .collect(),
        DeValue::Table(table) => {
            mistakes::single_gcpolicy(sink, &s.path, &entry, table);
            vec![gc_policy(
                sink,
                Section::new(
                    Some(table),
                    entry.path.clone(),
                    entry.span(),
                    schema::GC_POLICY,
                ),
                true,
            )]
        }
        _ => {
            s.wrong_type(sink, &entry, Expected::TableList);
            Vec::new()
        }
    }
}

/// One `[[gcpolicy]]` table. `deprecations` is off for policies inside the mistaken
/// `[worker.oci.gc]` table, whose corrected TOML already renames them.
pub(crate) fn gc_policy(sink: &mut Sink<'_>, s: Section<'_, '_>, deprecations: bool) -> GcPolicy {
    let keep_bytes = s.entry(sink, "keepBytes").and_then(|entry| {
        if deprecations {
            deprecated(sink, &entry, "reservedSpace");
        }
        s.entry_disk_space(sink, &entry)
    });
    let mut reserved_space = s.disk_space(sink, "reservedSpace");
    if reserved_space.is_none() {
        // BuildKit's getGCPolicy: keepBytes stands in for an unset reservedSpace.
        reserved_space = keep_bytes;
    } else if keep_bytes.is_some() {
        if let Some(entry) = s.entry_quiet("keepBytes") {
            sink.push(
                entry.key_span.clone(),
                Report::warning(
                    FindingKind::Deprecated,
                    &entry.path,
                    "`keepBytes` is ignored because `reservedSpace` is also set",
                ),
            );
        }
    }
    let policy = GcPolicy {
        all: s.bool(sink, "all").unwrap_or(false),
        keep_duration: s.duration(sink, "keepDuration"),
        filters: s.strings(sink, "filters").unwrap_or_default(),
        reserved_space,
        max_used_space: s.disk_space(sink, "maxUsedSpace"),
        min_free_space: s.disk_space(sink, "minFreeSpace"),
    };
    s.finish(sink);
    policy
}

/// The warning for a deprecated size key that is still honoured.
fn deprecated(sink: &mut Sink<'_>, entry: &Entry<'_, '_>, new_name: &str) {
    let written = sink.text(entry.span()).to_owned();
    sink.push(
        entry.key_span.clone(),
        Report::warning(
            FindingKind::Deprecated,
            &entry.path,
            format!(
                "`{}` is deprecated; it is now called `{new_name}`",
                entry.name
            ),
        )
        .hint(format!(
            "write `{new_name} = {written}`; it is a floor the collector never prunes below, \
             not a cap (use `maxUsedSpace` for a cap)"
        )),
    );
}

fn containerd_worker(sink: &mut Sink<'_>, s: Section<'_, '_>) -> ContainerdWorker {
    let runtime = s.section(sink, "runtime", schema::CONTAINERD_RUNTIME);
    let runtime_config = ContainerdRuntime {
        name: runtime.string(sink, "name"),
        path: runtime.string(sink, "path"),
        options: runtime.any_table(sink, "options").unwrap_or_default(),
    };
    runtime.finish(sink);
    let worker = ContainerdWorker {
        address: s.string(sink, "address"),
        enabled: s.bool(sink, "enabled"),
        labels: s.string_map(sink, "labels"),
        platforms: s.strings(sink, "platforms"),
        namespace: s.string(sink, "namespace"),
        runtime: runtime_config,
        gc: gc_config(sink, &s),
        network: network(sink, &s),
        snapshotter: s.string(sink, "snapshotter"),
        apparmor_profile: s.string(sink, "apparmor-profile"),
        selinux: s.bool(sink, "selinux").unwrap_or(false),
        max_parallelism: s.count(sink, "max-parallelism").filter(|n| *n > 0),
        default_cgroup_parent: s.string(sink, "defaultCgroupParent"),
        rootless: s.bool(sink, "rootless").unwrap_or(false),
    };
    // Turning the containerd worker off is what hearth does anyway.
    if worker.enabled != Some(false) {
        sink.push(
            s.span.clone(),
            Report::warning(
                FindingKind::Unsupported,
                &s.path,
                "hearth has no containerd worker; it ignores [worker.containerd] and builds with its OCI worker",
            )
            .hint("configure the worker under [worker.oci]"),
        );
    }
    s.finish(sink);
    worker
}
