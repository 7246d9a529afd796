//! The runtime configuration (`config.json`) of a build step, with BuildKit's defaults.
//!
//! BuildKit starts from containerd's default Linux spec and adjusts it: `/run` is not
//! mounted, `/etc/resolv.conf` and `/etc/hosts` are bind-mounted read-only, a read-only
//! cgroup filesystem is mounted, new privileges are allowed and the process keeps no
//! rlimits of its own. A step in `insecure` mode gets every capability and device and
//! no masked paths. Each of those choices changes what `RUN` commands observe, so they
//! are reproduced here exactly and checked by the tests below.

use std::collections::HashSet;
use std::path::PathBuf;

use oci_spec::OciSpecError;
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount, MountBuilder,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use crate::{MountSpec, Network, RunSpec, Security};

/// Why a spec could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the OCI runtime spec for step {id}: {source}")]
pub struct SpecError {
    id: String,
    #[source]
    source: OciSpecError,
}

/// containerd's default capability set, which BuildKit keeps for sandboxed steps.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Kernel paths hidden from sandboxed steps.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/scsi",
];

/// Kernel paths sandboxed steps may read but not write.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn mount(
    destination: &str,
    typ: &str,
    source: &str,
    options: &[&str],
) -> Result<Mount, OciSpecError> {
    MountBuilder::default()
        .destination(PathBuf::from(destination))
        .typ(typ)
        .source(PathBuf::from(source))
        .options(options.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>())
        .build()
}

/// containerd's default mounts minus `/run` (BuildKit removes it), plus the read-only
/// cgroup filesystem BuildKit adds. `insecure` steps get writable sysfs and cgroupfs.
fn default_mounts(security: Security) -> Result<Vec<Mount>, OciSpecError> {
    let sys_ro: &[&str] = match security {
        Security::Sandbox => &["nosuid", "noexec", "nodev", "ro"],
        Security::Insecure => &["nosuid", "noexec", "nodev", "rw"],
    };
    let cgroup_opts: &[&str] = match security {
        Security::Sandbox => &["ro", "nosuid", "noexec", "nodev"],
        Security::Insecure => &["rw", "nosuid", "noexec", "nodev"],
    };
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount("/sys", "sysfs", "sysfs", sys_ro)?,
        mount("/sys/fs/cgroup", "cgroup", "cgroup", cgroup_opts)?,
    ])
}

fn user_mount(m: &MountSpec) -> Result<Mount, OciSpecError> {
    match m {
        MountSpec::Bind {
            source,
            destination,
            readonly,
        } => {
            let mut options = vec!["rbind".to_owned()];
            options.push(if *readonly { "ro" } else { "rw" }.to_owned());
            MountBuilder::default()
                .destination(PathBuf::from(destination))
                .typ("bind")
                .source(source.clone())
                .options(options)
                .build()
        }
        MountSpec::Tmpfs { destination, size } => {
            let mut options = vec!["nosuid".to_owned(), "nodev".to_owned()];
            if *size > 0 {
                options.push(format!("size={size}"));
            }
            MountBuilder::default()
                .destination(PathBuf::from(destination))
                .typ("tmpfs")
                .source(PathBuf::from("tmpfs"))
                .options(options)
                .build()
        }
    }
}

/// Builds the runtime spec for `run`. Pure: reads nothing from the system.
pub fn generate(run: &RunSpec) -> Result<Spec, SpecError> {
    build(run).map_err(|source| SpecError {
        id: run.id.clone(),
        source,
    })
}

fn build(run: &RunSpec) -> Result<Spec, OciSpecError> {
    let caps: HashSet<Capability> = match run.security {
        Security::Sandbox => DEFAULT_CAPABILITIES.iter().copied().collect(),
        Security::Insecure => all_capabilities(),
    };
    let mut capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .permitted(caps.clone())
        .effective(caps)
        .build()?;
    // The builder's defaults add inheritable and ambient sets; containerd sets neither.
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);
    // BuildKit always lists the primary group among the supplementary ones, so `id`
    // inside a step prints `groups=0(root)` even for a user with no memberships.
    let mut gids = run.process.additional_gids.clone();
    if !gids.contains(&run.process.gid) {
        gids.insert(0, run.process.gid);
    }
    let user = UserBuilder::default()
        .uid(run.process.uid)
        .gid(run.process.gid)
        .additional_gids(gids);
    let mut process = ProcessBuilder::default()
        .terminal(false)
        .user(user.build()?)
        .args(run.process.args.clone())
        .env(run.process.env.clone())
        .cwd(PathBuf::from(&run.process.cwd))
        .capabilities(capabilities)
        // BuildKit allows new privileges (setuid binaries work in RUN) and sets no rlimits.
        .no_new_privileges(false)
        .build()?;
    // The builder fills in containerd's RLIMIT_NOFILE=1024; BuildKit sets none, so the
    // process inherits the runtime's limits.
    process.set_rlimits(None);

    let mut mounts = default_mounts(run.security)?;
    for (source, destination) in [
        (&run.resolv_conf, "/etc/resolv.conf"),
        (&run.hosts, "/etc/hosts"),
    ] {
        mounts.push(
            MountBuilder::default()
                .destination(PathBuf::from(destination))
                .typ("bind")
                .source(source.clone())
                .options(
                    ["nosuid", "noexec", "nodev", "rbind", "ro"]
                        .map(String::from)
                        .to_vec(),
                )
                .build()?,
        );
    }
    for m in &run.mounts {
        mounts.push(user_mount(m)?);
    }
    let mounts = dedup_mounts(mounts);

    let mut namespaces = Vec::new();
    for typ in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ] {
        namespaces.push(LinuxNamespaceBuilder::default().typ(typ).build()?);
    }
    if run.network == Network::None {
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .build()?,
        );
    }
    let device_rule = LinuxDeviceCgroupBuilder::default()
        .allow(run.security == Security::Insecure)
        .access("rwm")
        .build()?;
    let resources = LinuxResourcesBuilder::default()
        .devices(vec![device_rule])
        .build()?;
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources)
        .cgroups_path(PathBuf::from(&run.cgroups_path));
    linux = match run.security {
        Security::Sandbox => linux
            .masked_paths(MASKED_PATHS.map(String::from).to_vec())
            .readonly_paths(READONLY_PATHS.map(String::from).to_vec()),
        Security::Insecure => linux
            .masked_paths(Vec::<String>::new())
            .readonly_paths(Vec::<String>::new()),
    };

    SpecBuilder::default()
        .version("1.0.2-dev")
        .root(
            RootBuilder::default()
                .path(run.rootfs.clone())
                .readonly(false)
                .build()?,
        )
        .process(process)
        .hostname(run.hostname.clone())
        .mounts(mounts)
        .linux(linux.build()?)
        .build()
}

/// Later mounts at the same destination replace earlier ones (a user's `--mount` at
/// `/dev/shm` wins over the default), keeping the position of the first.
fn dedup_mounts(mounts: Vec<Mount>) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::with_capacity(mounts.len());
    for m in mounts {
        match out.iter().position(|o| o.destination() == m.destination()) {
            Some(i) => out[i] = m,
            None => out.push(m),
        }
    }
    out
}

fn all_capabilities() -> HashSet<Capability> {
    use Capability::*;
    [
        AuditControl,
        AuditRead,
        AuditWrite,
        BlockSuspend,
        Bpf,
        CheckpointRestore,
        Chown,
        DacOverride,
        DacReadSearch,
        Fowner,
        Fsetid,
        IpcLock,
        IpcOwner,
        Kill,
        Lease,
        LinuxImmutable,
        MacAdmin,
        MacOverride,
        Mknod,
        NetAdmin,
        NetBindService,
        NetBroadcast,
        NetRaw,
        Perfmon,
        Setgid,
        Setfcap,
        Setpcap,
        Setuid,
        SysAdmin,
        SysBoot,
        SysChroot,
        SysModule,
        SysNice,
        SysPacct,
        SysPtrace,
        SysRawio,
        SysResource,
        SysTime,
        SysTtyConfig,
        Syslog,
        WakeAlarm,
    ]
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProcessSpec;

    fn run_spec() -> RunSpec {
        RunSpec {
            id: "step1".into(),
            rootfs: "/bundle/rootfs".into(),
            process: ProcessSpec {
                args: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
                env: vec!["PATH=/bin".into()],
                cwd: "/app".into(),
                uid: 1000,
                gid: 100,
                additional_gids: vec![10, 20],
            },
            mounts: vec![
                MountSpec::Bind {
                    source: "/cache/go".into(),
                    destination: "/root/.cache".into(),
                    readonly: false,
                },
                MountSpec::Tmpfs {
                    destination: "/tmp".into(),
                    size: 1 << 20,
                },
            ],
            network: Network::Host,
            security: Security::Sandbox,
            hostname: crate::DEFAULT_HOSTNAME.into(),
            resolv_conf: "/state/resolv.conf".into(),
            hosts: "/state/hosts".into(),
            cgroups_path: "/hearth/step1".into(),
        }
    }

    fn json(spec: &Spec) -> serde_json::Value {
        serde_json::to_value(spec).unwrap()
    }

    #[test]
    fn process_matches_buildkit_defaults() {
        let v = json(&generate(&run_spec()).unwrap());
        assert_eq!(v["hostname"], "buildkitsandbox");
        assert_eq!(
            v["process"]["args"],
            serde_json::json!(["/bin/sh", "-c", "echo hi"])
        );
        assert_eq!(v["process"]["cwd"], "/app");
        assert_eq!(
            v["process"]["user"],
            serde_json::json!({"uid": 1000, "gid": 100, "additionalGids": [100, 10, 20]})
        );
        let mut member = run_spec();
        member.process.additional_gids = vec![10, 100];
        let v2 = json(&generate(&member).unwrap());
        assert_eq!(
            v2["process"]["user"]["additionalGids"],
            serde_json::json!([10, 100]),
            "kept as given when present"
        );
        assert_eq!(v["process"]["noNewPrivileges"], false);
        assert!(
            v["process"].get("rlimits").is_none(),
            "BuildKit drops containerd's RLIMIT_NOFILE"
        );
        let mut caps: Vec<String> =
            serde_json::from_value(v["process"]["capabilities"]["bounding"].clone()).unwrap();
        caps.sort();
        let mut want: Vec<String> = [
            "CAP_AUDIT_WRITE",
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FOWNER",
            "CAP_FSETID",
            "CAP_KILL",
            "CAP_MKNOD",
            "CAP_NET_BIND_SERVICE",
            "CAP_NET_RAW",
            "CAP_SETFCAP",
            "CAP_SETGID",
            "CAP_SETPCAP",
            "CAP_SETUID",
            "CAP_SYS_CHROOT",
        ]
        .map(String::from)
        .to_vec();
        want.sort();
        assert_eq!(caps, want);
        assert!(v["process"]["capabilities"].get("inheritable").is_none());
    }

    #[test]
    fn mounts_follow_containerd_and_buildkit() {
        let v = json(&generate(&run_spec()).unwrap());
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            vec![
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup",
                "/etc/resolv.conf",
                "/etc/hosts",
                "/root/.cache",
                "/tmp"
            ]
        );
        let hosts = &v["mounts"][8];
        assert_eq!(hosts["source"], "/state/hosts");
        assert_eq!(
            hosts["options"],
            serde_json::json!(["nosuid", "noexec", "nodev", "rbind", "ro"])
        );
        assert_eq!(
            v["mounts"][9]["options"],
            serde_json::json!(["rbind", "rw"])
        );
        assert_eq!(
            v["mounts"][10]["options"],
            serde_json::json!(["nosuid", "nodev", "size=1048576"])
        );
        assert_eq!(
            v["mounts"][5]["options"],
            serde_json::json!(["nosuid", "noexec", "nodev", "ro"])
        );
    }

    #[test]
    fn namespaces_depend_on_network_mode() {
        let types = |spec: &RunSpec| -> Vec<String> {
            let v = json(&generate(spec).unwrap());
            v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["type"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            types(&run_spec()),
            vec!["pid", "ipc", "uts", "mount"],
            "host network shares the host's"
        );
        let mut none = run_spec();
        none.network = Network::None;
        assert_eq!(types(&none), vec!["pid", "ipc", "uts", "mount", "network"]);
    }

    #[test]
    fn sandbox_masks_kernel_paths_and_insecure_does_not() {
        let v = json(&generate(&run_spec()).unwrap());
        assert_eq!(v["linux"]["maskedPaths"].as_array().unwrap().len(), 11);
        assert_eq!(v["linux"]["readonlyPaths"][3], "/proc/sys");
        assert_eq!(
            v["linux"]["resources"]["devices"],
            serde_json::json!([{"allow": false, "access": "rwm"}])
        );
        assert_eq!(v["linux"]["cgroupsPath"], "/hearth/step1");
        let mut insecure = run_spec();
        insecure.security = Security::Insecure;
        let v = json(&generate(&insecure).unwrap());
        assert_eq!(v["linux"]["maskedPaths"], serde_json::json!([]));
        assert_eq!(v["linux"]["resources"]["devices"][0]["allow"], true);
        assert!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len()
                > 30
        );
        assert_eq!(v["mounts"][5]["options"][3], "rw");
    }

    #[test]
    fn a_user_mount_replaces_a_default_at_the_same_place() {
        let mut spec = run_spec();
        spec.mounts.push(MountSpec::Tmpfs {
            destination: "/dev/shm".into(),
            size: 0,
        });
        let v = json(&generate(&spec).unwrap());
        let shm: Vec<&serde_json::Value> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["destination"] == "/dev/shm")
            .collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(shm[0]["options"], serde_json::json!(["nosuid", "nodev"]));
    }
}
