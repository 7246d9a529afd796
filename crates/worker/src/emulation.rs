//! RUN steps for a platform the host's CPU does not execute, run as BuildKit runs them
//! (`solver/llbsolver/ops/exec_binfmt.go`, `util/archutil`).
//!
//! A step's platform is either run natively (the host's architecture, the amd64
//! micro-architecture levels this CPU has, and 386 on an amd64 kernel that still runs
//! 32-bit code), or through a QEMU user emulator. When the kernel has a binfmt_misc
//! handler for the architecture registered with the `F` (fix binary) flag, the step runs
//! unchanged: the kernel opened the interpreter at registration, so it works inside the
//! container's mount namespace, and every `execve` of a foreign binary goes through it.
//! Otherwise hearth does what BuildKit does without binfmt: it binds Debian's static
//! `qemu-<arch>-static` read-only into the container at [`EMULATOR_MOUNT`] and starts the
//! step's process through it.
//!
//! Limitation of the bound emulator, not worked around: Debian's QEMU (unlike BuildKit's
//! patched build) does not follow `execve` of foreign binaries itself but passes them to
//! the kernel, which without a binfmt handler refuses them ("exec format error"). What runs
//! inside the first process works (busybox's shell runs `uname`, `mkdir`, `ls`, `echo`
//! in-process, so `sh -c 'uname -m'` prints `aarch64`); whatever it starts with `execve`
//! fails (`sh -c /bin/busybox`, busybox's `cat` and `wc`, `apt-get` starting `dpkg`).
//! Registering the handler (Debian's `qemu-user-static` does through systemd-binfmt, with
//! `F`) lifts it.
//!
//! How a step runs never enters its cache key: the same step has the same key run
//! natively, through binfmt or through the bound emulator.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hearth_core::Platform;
use hearth_executor::MountSpec;
use hearth_fsroot::Root;
use rustix::fs::OFlags;

/// Where the bound emulator appears inside the container: on the `/dev` tmpfs the runtime
/// mounts, which no image or Dockerfile shapes (BuildKit: `/dev/.buildkit_qemu_emulator`).
pub const EMULATOR_MOUNT: &str = "/dev/.hearth_qemu_emulator";

/// Where the kernel shows binfmt_misc registrations.
const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// The directory searched after `PATH`: where Debian's `qemu-user-static` installs.
const SYSTEM_BIN: &str = "/usr/bin";

/// The architectures hearth can emulate, in the order `hearth debug info` lists them.
const EMULATED_ARCHITECTURES: [&str; 11] = [
    "amd64", "386", "arm64", "arm", "riscv64", "ppc64le", "ppc64", "s390x", "mips64le", "mips64",
    "loong64",
];

/// QEMU's name for a Go architecture: the `<arch>` of `qemu-<arch>-static` and of the
/// binfmt_misc entry `qemu-<arch>`.
pub fn qemu_arch(architecture: &str) -> Option<&'static str> {
    Some(match architecture {
        "amd64" => "x86_64",
        "386" => "i386",
        "arm64" => "aarch64",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "ppc64le" => "ppc64le",
        "ppc64" => "ppc64",
        "s390x" => "s390x",
        "mips64le" => "mips64el",
        "mips64" => "mips64",
        "loong64" => "loongarch64",
        _ => return None,
    })
}

/// How a step for some platform runs on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// The CPU executes it.
    Native,
    /// The kernel hands its binaries to a registered emulator.
    Binfmt {
        /// The handler's interpreter.
        interpreter: PathBuf,
    },
    /// Started through a static QEMU bound into the container.
    Emulator {
        /// The emulator on the host.
        path: PathBuf,
    },
}

impl Runner {
    /// The progress line of a step that does not run natively.
    pub fn status(&self, platform: &Platform) -> Option<String> {
        match self {
            Self::Native => None,
            Self::Binfmt { interpreter } => Some(format!(
                "running {} under emulation (binfmt_misc: {})",
                platform.format(),
                interpreter.display()
            )),
            Self::Emulator { path } => Some(format!(
                "running {} under emulation ({})",
                platform.format(),
                path.file_name()
                    .unwrap_or(path.as_os_str())
                    .to_string_lossy()
            )),
        }
    }
}

/// Why a step's platform cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmulationError {
    /// Containers of another operating system.
    #[error(
        "cannot run processes for {platform} on this {host} host: only {os} containers run here"
    )]
    OtherOs {
        /// The step's platform.
        platform: String,
        /// This host's platform.
        host: String,
        /// This host's operating system.
        os: String,
    },
    /// An amd64 micro-architecture level this CPU lacks. The wording is BuildKit's.
    #[error("no support for running processes with {platform} platform, supported: {supported}")]
    CpuLevel {
        /// The step's platform.
        platform: String,
        /// The amd64 platforms this CPU runs.
        supported: String,
    },
    /// An architecture QEMU has no user emulator for.
    #[error(
        "cannot run processes for {platform} on this {host} host: no QEMU user emulator exists for {architecture}"
    )]
    UnknownArchitecture {
        /// The step's platform.
        platform: String,
        /// This host's platform.
        host: String,
        /// The architecture.
        architecture: String,
    },
    /// No emulator installed and no binfmt_misc handler registered.
    #[error(
        "cannot run processes for {platform} on this {host} host: {program} was not found (searched {searched}); install Debian's qemu-user-static (apt-get install qemu-user-static), or register a binfmt_misc handler qemu-{qemu_arch} with the F flag"
    )]
    NoEmulator {
        /// The step's platform.
        platform: String,
        /// This host's platform.
        host: String,
        /// The emulator looked for, `qemu-<arch>-static`.
        program: String,
        /// QEMU's architecture name.
        qemu_arch: String,
        /// The directories searched, `:`-separated.
        searched: String,
    },
}

/// Where to look for emulators: binfmt_misc registrations (by default in
/// `/proc/sys/fs/binfmt_misc`), then `qemu-<arch>-static` (by default on `PATH`, then in
/// `/usr/bin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorSearch {
    dirs: Vec<PathBuf>,
    binfmt_dir: PathBuf,
}

impl Default for EmulatorSearch {
    fn default() -> Self {
        Self::from_env()
    }
}

impl EmulatorSearch {
    /// `PATH` of this process, then `/usr/bin`.
    pub fn from_env() -> Self {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&path)
            .filter(|d| d.is_absolute())
            .collect();
        dirs.push(PathBuf::from(SYSTEM_BIN));
        Self::in_dirs(dirs)
    }

    /// Exactly these directories, in order.
    pub fn in_dirs(dirs: Vec<PathBuf>) -> Self {
        let mut unique: Vec<PathBuf> = Vec::with_capacity(dirs.len());
        for d in dirs {
            if !unique.contains(&d) {
                unique.push(d);
            }
        }
        Self {
            dirs: unique,
            binfmt_dir: PathBuf::from(BINFMT_DIR),
        }
    }

    /// The same, with binfmt_misc registrations read from `dir` instead of the kernel's.
    pub fn with_binfmt_dir(mut self, dir: PathBuf) -> Self {
        self.binfmt_dir = dir;
        self
    }

    /// A usable binfmt_misc handler for `qemu_arch`.
    pub fn binfmt_handler(&self, qemu_arch: &str) -> Option<BinfmtEntry> {
        binfmt_entry_in(&self.binfmt_dir, qemu_arch).filter(BinfmtEntry::usable_in_containers)
    }

    /// The directories, in search order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The first executable regular `qemu-<qemu_arch>-static`, with links resolved so the
    /// runtime binds the file itself.
    pub fn find(&self, qemu_arch: &str) -> Option<PathBuf> {
        let name = emulator_program(qemu_arch);
        self.dirs.iter().find_map(|dir| {
            let path = std::fs::canonicalize(dir.join(&name)).ok()?;
            let meta = std::fs::metadata(&path).ok()?;
            (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(path)
        })
    }

    fn describe(&self) -> String {
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        dirs.join(":")
    }
}

fn emulator_program(qemu_arch: &str) -> String {
    format!("qemu-{qemu_arch}-static")
}

/// One binfmt_misc registration, as `/proc/sys/fs/binfmt_misc/<name>` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinfmtEntry {
    /// The handler is active.
    pub enabled: bool,
    /// The program the kernel starts.
    pub interpreter: PathBuf,
    /// Registration flags (`P`, `O`, `C`, `F`).
    pub flags: String,
}

impl BinfmtEntry {
    /// Parses an entry file (`enabled`, `interpreter …`, `flags: …`, `offset`, `magic`,
    /// `mask`); `None` without a state or interpreter line.
    pub fn parse(text: &str) -> Option<Self> {
        let mut enabled = None;
        let mut interpreter = None;
        let mut flags = String::new();
        for line in text.lines() {
            match line.trim() {
                "enabled" => enabled = Some(true),
                "disabled" => enabled = Some(false),
                other => {
                    if let Some(path) = other.strip_prefix("interpreter ") {
                        interpreter = Some(PathBuf::from(path.trim()));
                    } else if let Some(f) = other.strip_prefix("flags:") {
                        flags = f.trim().to_owned();
                    }
                }
            }
        }
        Some(Self {
            enabled: enabled?,
            interpreter: interpreter?,
            flags,
        })
    }

    /// Whether a container's processes can use it: active, and with the interpreter opened
    /// at registration (`F`), since the container's filesystem does not have it.
    pub fn usable_in_containers(&self) -> bool {
        self.enabled && self.flags.contains('F')
    }
}

/// The registration `qemu-<qemu_arch>` in the binfmt_misc filesystem at `dir`, if
/// binfmt_misc is mounted and enabled there and the entry exists.
fn binfmt_entry_in(dir: &Path, qemu_arch: &str) -> Option<BinfmtEntry> {
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    if status.trim() != "enabled" {
        return None;
    }
    let text = std::fs::read_to_string(dir.join(format!("qemu-{qemu_arch}"))).ok()?;
    BinfmtEntry::parse(&text)
}

/// The platforms this host's CPU and kernel execute, found once per process.
pub fn native_platforms() -> &'static [Platform] {
    static NATIVE: OnceLock<Vec<Platform>> = OnceLock::new();
    NATIVE.get_or_init(|| {
        let host = Platform::host();
        let mut native = vec![host.clone()];
        if host.os == "linux" && host.architecture == "amd64" {
            native.extend(
                amd64_levels()
                    .into_iter()
                    .map(|v| Platform::new("linux", "amd64", v)),
            );
            if runs_i386() {
                native.push(Platform::new("linux", "386", ""));
            }
        }
        native
    })
}

/// The amd64 micro-architecture levels beyond v1 this CPU implements (the x86-64 psABI
/// feature sets; BuildKit finds them by running a probe binary).
fn amd64_levels() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let v2 = has!("cmpxchg16b")
            && has!("popcnt")
            && has!("sse3")
            && has!("sse4.1")
            && has!("sse4.2")
            && has!("ssse3");
        let v3 = v2
            && has!("avx")
            && has!("avx2")
            && has!("bmi1")
            && has!("bmi2")
            && has!("f16c")
            && has!("fma")
            && has!("lzcnt")
            && has!("movbe")
            && has!("xsave");
        let v4 = v3
            && has!("avx512f")
            && has!("avx512bw")
            && has!("avx512cd")
            && has!("avx512dq")
            && has!("avx512vl");
        [("v2", v2), ("v3", v3), ("v4", v4)]
            .into_iter()
            .filter_map(|(v, ok)| ok.then_some(v))
            .collect()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}

/// A 96-byte static i386 ELF executable whose only instructions are `exit(42)` through
/// `int 0x80`: a kernel that runs it executes 32-bit x86 code natively.
fn i386_exit_probe() -> Vec<u8> {
    const BASE: u32 = 0x0804_8000;
    const HEADERS: u32 = 52 + 32;
    // mov eax, 1 (exit); mov ebx, 42; int 0x80
    const CODE: [u8; 12] = [0xb8, 1, 0, 0, 0, 0xbb, 42, 0, 0, 0, 0xcd, 0x80];
    let size = HEADERS + CODE.len() as u32;
    let mut elf = Vec::with_capacity(size as usize);
    elf.extend_from_slice(b"\x7fELF\x01\x01\x01\x00"); // 32-bit, little-endian, v1, SysV
    elf.extend_from_slice(&[0; 8]);
    for half in [2u16, 3] {
        elf.extend_from_slice(&half.to_le_bytes()); // ET_EXEC, EM_386
    }
    for word in [1, BASE + HEADERS, 52, 0, 0] {
        elf.extend_from_slice(&word.to_le_bytes()); // version, entry, phoff, shoff, flags
    }
    for half in [52u16, 32, 1, 0, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes()); // ehsize, phentsize, phnum, sh*
    }
    // One PT_LOAD of the whole file, readable and executable.
    for word in [1, 0, BASE, BASE, size, size, 5, 0x1000] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(&CODE);
    elf
}

/// Whether the kernel runs 32-bit x86 programs: BuildKit's way, by trying one. The probe
/// lives in a close-on-exec memfd, executed through its `/proc` path, so it needs no
/// writable executable directory and leaks no descriptor.
fn runs_i386() -> bool {
    let probe = || -> std::io::Result<bool> {
        let fd = rustix::fs::memfd_create("hearth-i386-probe", rustix::fs::MemfdFlags::CLOEXEC)?;
        let mut file = std::fs::File::from(fd);
        file.write_all(&i386_exit_probe())?;
        let path = format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            std::os::fd::AsRawFd::as_raw_fd(&file)
        );
        let status = std::process::Command::new(path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?;
        Ok(status.code() == Some(42))
    };
    probe().unwrap_or(false)
}

/// How a step for `platform` (none: the host's) runs here, looking for an emulator in
/// `search`.
pub fn runner_for(
    platform: Option<&Platform>,
    search: &EmulatorSearch,
) -> Result<Runner, EmulationError> {
    let Some(platform) = platform else {
        return Ok(Runner::Native);
    };
    let host = Platform::host();
    if !platform.os.is_empty() && platform.os != host.os {
        return Err(EmulationError::OtherOs {
            platform: platform.format(),
            host: host.format(),
            os: host.os,
        });
    }
    let native = native_platforms();
    if platform.architecture == "amd64"
        && !platform.variant.is_empty()
        && host.architecture == "amd64"
    {
        return if native
            .iter()
            .any(|n| n.variant == platform.variant && n.architecture == "amd64")
        {
            Ok(Runner::Native)
        } else {
            let supported: Vec<String> = native
                .iter()
                .filter(|n| n.architecture == "amd64")
                .map(Platform::format)
                .collect();
            Err(EmulationError::CpuLevel {
                platform: platform.format(),
                supported: supported.join(", "),
            })
        };
    }
    // Variants of other architectures (arm64/v8, arm/v7) are one emulator each.
    if native
        .iter()
        .any(|n| n.architecture == platform.architecture)
    {
        return Ok(Runner::Native);
    }
    let Some(qemu) = qemu_arch(&platform.architecture) else {
        return Err(EmulationError::UnknownArchitecture {
            platform: platform.format(),
            host: host.format(),
            architecture: platform.architecture.clone(),
        });
    };
    if let Some(entry) = search.binfmt_handler(qemu) {
        return Ok(Runner::Binfmt {
            interpreter: entry.interpreter,
        });
    }
    match search.find(qemu) {
        Some(path) => Ok(Runner::Emulator { path }),
        None => Err(EmulationError::NoEmulator {
            platform: platform.format(),
            host: host.format(),
            program: emulator_program(qemu),
            qemu_arch: qemu.to_owned(),
            searched: search.describe(),
        }),
    }
}

/// What this host builds, for `hearth debug info` and a daemon's info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlatforms {
    /// Run by the CPU.
    pub native: Vec<Platform>,
    /// Run through a registered binfmt_misc handler (its interpreter).
    pub binfmt: Vec<(Platform, PathBuf)>,
    /// Run through a bound `qemu-<arch>-static` (its path).
    pub emulated: Vec<(Platform, PathBuf)>,
}

impl HostPlatforms {
    /// One entry per way of running: `linux/amd64, linux/386 (native)`, then one
    /// `linux/arm64 (emulated: /usr/bin/qemu-aarch64-static)` per emulated platform.
    pub fn lines(&self) -> Vec<String> {
        let native: Vec<String> = self.native.iter().map(Platform::format).collect();
        let mut lines = vec![format!("{} (native)", native.join(", "))];
        for (platform, interpreter) in &self.binfmt {
            lines.push(format!(
                "{} (binfmt_misc: {})",
                platform.format(),
                interpreter.display()
            ));
        }
        for (platform, path) in &self.emulated {
            lines.push(format!(
                "{} (emulated: {})",
                platform.format(),
                path.display()
            ));
        }
        lines
    }
}

/// The platforms this host can build for: natively, through binfmt_misc, or through an
/// emulator found in `search`.
pub fn host_platforms(search: &EmulatorSearch) -> HostPlatforms {
    let native = native_platforms().to_vec();
    let mut platforms = HostPlatforms {
        native,
        binfmt: Vec::new(),
        emulated: Vec::new(),
    };
    for arch in EMULATED_ARCHITECTURES {
        if platforms.native.iter().any(|n| n.architecture == arch) {
            continue;
        }
        let platform = Platform::new("linux", arch, "");
        match runner_for(Some(&platform), search) {
            Ok(Runner::Binfmt { interpreter }) => platforms.binfmt.push((platform, interpreter)),
            Ok(Runner::Emulator { path }) => platforms.emulated.push((platform, path)),
            Ok(Runner::Native) | Err(_) => {}
        }
    }
    platforms
}

/// The process arguments and extra mount of a step run by `runner`: unchanged natively
/// and through binfmt; through a bound emulator, `[EMULATOR_MOUNT, -0, argv0, program,
/// args…]` so the program still sees its own `argv[0]` (busybox dispatches on it).
pub(crate) fn wrap(
    runner: &Runner,
    args: &[String],
    rootfs: &Path,
    env: &[String],
) -> (Vec<String>, Option<MountSpec>) {
    let Runner::Emulator { path } = runner else {
        return (args.to_vec(), None);
    };
    let Some((argv0, rest)) = args.split_first() else {
        return (args.to_vec(), None);
    };
    let mut wrapped = vec![
        EMULATOR_MOUNT.to_owned(),
        "-0".to_owned(),
        argv0.clone(),
        program_path(rootfs, argv0, env),
    ];
    wrapped.extend(rest.iter().cloned());
    let mount = MountSpec::Bind {
        source: path.clone(),
        destination: EMULATOR_MOUNT.to_owned(),
        readonly: true,
    };
    (wrapped, Some(mount))
}

/// The default `PATH` of a step without one (BuildKit's).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `name` as the runtime would find it: a name without `/` is looked up in the step's
/// `PATH` inside the root filesystem, because the emulator opens its program as a path
/// and knows no `PATH`. An unresolvable name is left as it is, for the emulator to report.
fn program_path(rootfs: &Path, name: &str, env: &[String]) -> String {
    if name.contains('/') {
        return name.to_owned();
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let Ok(root) = Root::open(rootfs) else {
        return name.to_owned();
    };
    path.split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| format!("{}/{name}", dir.trim_end_matches('/')))
        .find(|candidate| {
            root.open_in_root(candidate.as_bytes(), OFlags::PATH)
                .and_then(|fd| Ok(rustix::fs::fstat(&fd)?))
                .is_ok_and(|st| {
                    rustix::fs::FileType::from_raw_mode(st.st_mode)
                        == rustix::fs::FileType::RegularFile
                        && st.st_mode & 0o111 != 0
                })
        })
        .unwrap_or_else(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn qemu_names_follow_debian() {
        for (go, qemu) in [
            ("arm64", "aarch64"),
            ("amd64", "x86_64"),
            ("386", "i386"),
            ("arm", "arm"),
            ("riscv64", "riscv64"),
            ("ppc64le", "ppc64le"),
            ("s390x", "s390x"),
            ("mips64le", "mips64el"),
            ("loong64", "loongarch64"),
        ] {
            assert_eq!(qemu_arch(go), Some(qemu), "{go}");
        }
        assert_eq!(qemu_arch("wasm"), None);
    }

    /// Every architecture hearth offers has an emulator in Debian's qemu-user-static (the
    /// package is installed where the tests run).
    #[test]
    fn debian_ships_an_emulator_for_every_listed_architecture() {
        let search = EmulatorSearch::in_dirs(vec![PathBuf::from(SYSTEM_BIN)]);
        for arch in EMULATED_ARCHITECTURES {
            let qemu = qemu_arch(arch).unwrap();
            assert!(search.find(qemu).is_some(), "qemu-{qemu}-static for {arch}");
        }
    }

    #[test]
    fn binfmt_entries_parse_as_the_kernel_prints_them() {
        let text = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
        let entry = BinfmtEntry::parse(text).unwrap();
        assert_eq!(
            entry,
            BinfmtEntry {
                enabled: true,
                interpreter: PathBuf::from("/usr/libexec/qemu-binfmt/aarch64-binfmt-P"),
                flags: "POF".into(),
            }
        );
        assert!(entry.usable_in_containers());
        let without_fix = BinfmtEntry::parse(&text.replace("POF", "PO")).unwrap();
        assert!(!without_fix.usable_in_containers());
        let disabled = BinfmtEntry::parse(&text.replace("enabled", "disabled")).unwrap();
        assert!(!disabled.usable_in_containers());
        assert_eq!(BinfmtEntry::parse("enabled\nflags: F\n"), None);
    }

    #[test]
    fn binfmt_lookup_needs_the_filesystem_enabled_and_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let entry = "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\n";
        std::fs::write(dir.path().join("qemu-aarch64"), entry).unwrap();
        assert_eq!(binfmt_entry_in(dir.path(), "aarch64"), None, "no status");
        std::fs::write(dir.path().join("status"), "disabled\n").unwrap();
        assert_eq!(binfmt_entry_in(dir.path(), "aarch64"), None);
        std::fs::write(dir.path().join("status"), "enabled\n").unwrap();
        assert!(binfmt_entry_in(dir.path(), "aarch64").is_some());
        assert_eq!(binfmt_entry_in(dir.path(), "riscv64"), None);
    }

    /// Whatever this kernel has registered parses (entries are read from the real
    /// binfmt_misc when it is mounted).
    #[test]
    fn this_kernels_registrations_parse() {
        let Ok(entries) = std::fs::read_dir(BINFMT_DIR) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == "status" || name == "register" {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap();
            assert!(BinfmtEntry::parse(&text).is_some(), "{name:?}: {text}");
        }
    }

    #[test]
    fn the_host_platform_is_native() {
        let host = Platform::host();
        assert_eq!(native_platforms()[0], host);
        assert_eq!(
            runner_for(Some(&host), &EmulatorSearch::in_dirs(Vec::new())),
            Ok(Runner::Native)
        );
        assert_eq!(
            runner_for(None, &EmulatorSearch::in_dirs(Vec::new())),
            Ok(Runner::Native)
        );
    }

    /// The probe is a valid i386 program: Debian's amd64 kernels (the machines hearth is
    /// tested on) keep IA-32 emulation, so it runs and 386 is native.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn an_amd64_kernel_runs_the_i386_probe() {
        assert_eq!(i386_exit_probe().len(), 96);
        assert!(runs_i386());
        assert!(native_platforms().contains(&Platform::new("linux", "386", "")));
        assert_eq!(
            runner_for(
                Some(&Platform::new("linux", "386", "")),
                &EmulatorSearch::in_dirs(Vec::new())
            ),
            Ok(Runner::Native)
        );
    }

    #[test]
    fn a_foreign_platform_without_emulator_names_the_package() {
        let host = Platform::host();
        let foreign = if host.architecture == "arm64" {
            "riscv64"
        } else {
            "arm64"
        };
        let qemu = qemu_arch(foreign).unwrap();
        let empty = tempfile::tempdir().unwrap();
        let search = EmulatorSearch::in_dirs(vec![empty.path().to_path_buf()])
            .with_binfmt_dir(empty.path().to_path_buf());
        let err = runner_for(Some(&Platform::new("linux", foreign, "")), &search).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&format!("linux/{foreign}")), "{message}");
        assert!(message.contains("qemu-user-static"), "{message}");
        assert!(
            message.contains(&format!("qemu-{qemu}-static")),
            "{message}"
        );
        assert!(
            message.contains(&empty.path().display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn the_emulator_is_found_in_the_search_path() {
        let host = Platform::host();
        let foreign = if host.architecture == "arm64" {
            "riscv64"
        } else {
            "arm64"
        };
        let qemu = qemu_arch(foreign).unwrap();
        let empty = tempfile::tempdir().unwrap();
        let search = EmulatorSearch::in_dirs(vec![empty.path().to_path_buf(), SYSTEM_BIN.into()])
            .with_binfmt_dir(empty.path().to_path_buf());
        let runner = runner_for(Some(&Platform::new("linux", foreign, "")), &search).unwrap();
        assert_eq!(
            runner,
            Runner::Emulator {
                path: std::fs::canonicalize(format!("/usr/bin/qemu-{qemu}-static")).unwrap()
            }
        );
    }

    #[test]
    fn a_binfmt_handler_with_fix_binary_runs_the_step_unchanged() {
        let host = Platform::host();
        let foreign = if host.architecture == "arm64" {
            "riscv64"
        } else {
            "arm64"
        };
        let qemu = qemu_arch(foreign).unwrap();
        let binfmt = tempfile::tempdir().unwrap();
        std::fs::write(binfmt.path().join("status"), "enabled\n").unwrap();
        let entry = format!(
            "enabled\ninterpreter /usr/libexec/qemu-binfmt/{qemu}-binfmt-P\nflags: POF\noffset 0\n"
        );
        std::fs::write(binfmt.path().join(format!("qemu-{qemu}")), &entry).unwrap();
        let search = EmulatorSearch::in_dirs(vec![SYSTEM_BIN.into()])
            .with_binfmt_dir(binfmt.path().to_path_buf());
        let platform = Platform::new("linux", foreign, "");
        let runner = runner_for(Some(&platform), &search).unwrap();
        assert_eq!(
            runner,
            Runner::Binfmt {
                interpreter: PathBuf::from(format!("/usr/libexec/qemu-binfmt/{qemu}-binfmt-P"))
            }
        );
        assert!(runner.status(&platform).unwrap().starts_with(&format!(
            "running linux/{foreign} under emulation (binfmt_misc"
        )));
        // Without F the interpreter is looked up in the container, where it is missing:
        // the bound emulator is used instead.
        std::fs::write(
            binfmt.path().join(format!("qemu-{qemu}")),
            entry.replace("POF", "PO"),
        )
        .unwrap();
        assert!(matches!(
            runner_for(Some(&platform), &search),
            Ok(Runner::Emulator { .. })
        ));
    }

    #[test]
    fn host_platforms_list_native_then_emulated() {
        let host = Platform::host();
        let foreign = if host.architecture == "arm64" {
            "riscv64"
        } else {
            "arm64"
        };
        let qemu = qemu_arch(foreign).unwrap();
        let empty = tempfile::tempdir().unwrap();
        let search = EmulatorSearch::in_dirs(vec![SYSTEM_BIN.into()])
            .with_binfmt_dir(empty.path().to_path_buf());
        let platforms = host_platforms(&search);
        assert_eq!(platforms.native, native_platforms());
        assert!(platforms.binfmt.is_empty());
        let lines = platforms.lines();
        assert!(
            lines[0].starts_with(&format!("{}, ", host.format()))
                || lines[0] == format!("{} (native)", host.format()),
            "{lines:?}"
        );
        assert!(lines[0].ends_with(" (native)"), "{lines:?}");
        let emulator = std::fs::canonicalize(format!("/usr/bin/qemu-{qemu}-static")).unwrap();
        assert!(
            lines.contains(&format!(
                "linux/{foreign} (emulated: {})",
                emulator.display()
            )),
            "{lines:?}"
        );
        let nothing = EmulatorSearch::in_dirs(vec![empty.path().to_path_buf()])
            .with_binfmt_dir(empty.path().to_path_buf());
        assert_eq!(host_platforms(&nothing).lines().len(), 1);
    }

    #[test]
    fn other_operating_systems_are_refused() {
        let windows = Platform::new("windows", "amd64", "");
        let err = runner_for(Some(&windows), &EmulatorSearch::default()).unwrap_err();
        assert!(matches!(err, EmulationError::OtherOs { .. }), "{err}");
    }

    #[test]
    fn wrapping_keeps_argv0_and_finds_the_program_in_the_image() {
        let rootfs = tempfile::tempdir().unwrap();
        let bin = rootfs.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("uname"), b"").unwrap();
        std::fs::set_permissions(bin.join("uname"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(bin.join("data"), b"").unwrap();
        let runner = Runner::Emulator {
            path: PathBuf::from("/usr/bin/qemu-aarch64-static"),
        };
        let env = vec!["PATH=/usr/bin:/bin".to_owned()];
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

        let (wrapped, mount) = wrap(&runner, &args(&["uname", "-m"]), rootfs.path(), &env);
        assert_eq!(
            wrapped,
            args(&[EMULATOR_MOUNT, "-0", "uname", "/bin/uname", "-m"])
        );
        assert_eq!(
            mount,
            Some(MountSpec::Bind {
                source: PathBuf::from("/usr/bin/qemu-aarch64-static"),
                destination: EMULATOR_MOUNT.into(),
                readonly: true,
            })
        );
        let (wrapped, _) = wrap(
            &runner,
            &args(&["/bin/sh", "-c", "true"]),
            rootfs.path(),
            &env,
        );
        assert_eq!(
            wrapped,
            args(&[EMULATOR_MOUNT, "-0", "/bin/sh", "/bin/sh", "-c", "true"])
        );
        // Not executable, or absent: left for the emulator to report.
        let (wrapped, _) = wrap(&runner, &args(&["data"]), rootfs.path(), &env);
        assert_eq!(wrapped[3], "data");
        let (wrapped, mount) = wrap(&Runner::Native, &args(&["uname"]), rootfs.path(), &env);
        assert_eq!((wrapped, mount), (args(&["uname"]), None));
    }
}
