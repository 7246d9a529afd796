//! OCI platforms (`os/arch/variant`), parsed, normalised and formatted the way
//! containerd's `platforms` package does it, because BuildKit's `TARGETPLATFORM`,
//! `--platform` flags and image index selection all go through those rules.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An OCI platform. Empty strings mean "not set", as in the OCI JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in Go's spelling, e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// CPU variant, e.g. `v7` for 32-bit ARM; empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// Operating system version (Windows images); empty when none.
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    /// Required operating system features; empty when none.
    #[serde(default, rename = "os.features", skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
}

/// Why a platform specifier could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The specifier contains `*`.
    #[error("{0:?}: wildcards not yet supported")]
    Wildcard(String),
    /// A component has characters outside `[A-Za-z0-9_.-]` or the OS part is malformed.
    #[error("{component:?} is an invalid component of {specifier:?}")]
    InvalidComponent {
        /// The offending component.
        component: String,
        /// The whole specifier.
        specifier: String,
    },
    /// A single word that is neither a known OS nor a known architecture.
    #[error("{0:?}: unknown operating system or architecture")]
    Unknown(String),
    /// More than three `/`-separated components.
    #[error("{0:?}: cannot parse platform specifier")]
    TooManyComponents(String),
}

impl Platform {
    /// A platform from its parts, normalised.
    pub fn new(os: &str, architecture: &str, variant: &str) -> Self {
        Self {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.to_owned(),
            ..Self::default()
        }
        .normalized()
    }

    /// The platform of the machine hearth runs on, in Go's names (what BuildKit
    /// calls `platforms.DefaultSpec()`).
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "loongarch64" => "loong64",
            other => other,
        };
        let variant = if architecture == "arm" { "v7" } else { "" };
        Self {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.to_owned(),
            ..Self::default()
        }
    }

    /// Parses `os[(version[+feature]*)][/arch[/variant]]` or a lone `arch`.
    ///
    /// A lone OS takes the host's architecture and a lone architecture the host's OS,
    /// as containerd does.
    pub fn parse(specifier: &str) -> Result<Self, PlatformError> {
        if specifier.contains('*') {
            return Err(PlatformError::Wildcard(specifier.to_owned()));
        }
        let parts: Vec<&str> = specifier.splitn(4, '/').collect();
        let invalid = |component: &str| PlatformError::InvalidComponent {
            component: component.to_owned(),
            specifier: specifier.to_owned(),
        };
        let mut platform = Platform::default();
        let os_part = parts.first().copied().unwrap_or_default();
        let (os, version, features) =
            split_os_component(os_part).ok_or_else(|| invalid(os_part))?;
        platform.os = normalize_os(os);
        platform.os_version = decode_os_option(version).ok_or_else(|| invalid(os_part))?;
        for feature in features {
            let decoded = decode_os_option(feature).ok_or_else(|| invalid(os_part))?;
            if !decoded.is_empty() {
                platform.os_features.push(decoded);
            }
        }
        for part in &parts[1..] {
            if part.is_empty() || !part.bytes().all(is_specifier_byte) {
                return Err(invalid(part));
            }
        }
        let host = Self::host();
        match parts.len() {
            1 => {
                if is_known_os(&platform.os) {
                    platform.architecture = host.architecture;
                    if platform.architecture == "arm" && host.variant != "v7" {
                        platform.variant = host.variant;
                    }
                    return Ok(platform);
                }
                let (arch, variant) = normalize_arch(parts[0], "");
                platform.architecture = arch;
                platform.variant = if platform.architecture == "arm" && variant == "v7" {
                    String::new()
                } else {
                    variant
                };
                if is_known_arch(&platform.architecture) {
                    platform.os = host.os;
                    platform.os_version.clear();
                    platform.os_features.clear();
                    return Ok(platform);
                }
                Err(PlatformError::Unknown(specifier.to_owned()))
            }
            2 => {
                let (arch, variant) = normalize_arch(parts[1], "");
                platform.architecture = arch;
                platform.variant = if platform.architecture == "arm" && variant == "v7" {
                    String::new()
                } else {
                    variant
                };
                Ok(platform)
            }
            3 => {
                let (arch, variant) = normalize_arch(parts[1], parts[2]);
                platform.architecture = arch;
                platform.variant = if platform.architecture == "arm64" && variant.is_empty() {
                    "v8".to_owned()
                } else {
                    variant
                };
                Ok(platform)
            }
            _ => Err(PlatformError::TooManyComponents(specifier.to_owned())),
        }
    }

    /// The canonical spelling: lowercase OS, Go architecture names, default variants dropped.
    pub fn normalized(mut self) -> Self {
        self.os = normalize_os(&self.os);
        let (arch, variant) = normalize_arch(&self.architecture, &self.variant);
        self.architecture = arch;
        self.variant = variant;
        self.os_features.sort();
        self.os_features.dedup();
        self
    }

    /// `os/arch[/variant]`, or `unknown` without an OS (containerd's `Format`).
    pub fn format(&self) -> String {
        if self.os.is_empty() {
            return "unknown".to_owned();
        }
        join_path(&[&self.os, &self.architecture, &self.variant])
    }

    /// Like [`Platform::format`] but keeps the OS version and features
    /// (containerd's `FormatAll`, which BuildKit uses for `TARGETPLATFORM`).
    pub fn format_all(&self) -> String {
        if self.os.is_empty() {
            return "unknown".to_owned();
        }
        if self.os_version.is_empty() && self.os_features.is_empty() {
            return self.format();
        }
        let mut os = self.os.clone();
        let version = encode_os_option(&self.os_version);
        let mut features: Vec<&String> =
            self.os_features.iter().filter(|f| !f.is_empty()).collect();
        features.sort();
        features.dedup();
        let features: Vec<String> = features.into_iter().map(|f| encode_os_option(f)).collect();
        if !version.is_empty() || !features.is_empty() {
            os.push('(');
            os.push_str(&version);
            if !features.is_empty() {
                os.push('+');
                os.push_str(&features.join("+"));
            }
            os.push(')');
        }
        join_path(&[&os, &self.architecture, &self.variant])
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format_all())
    }
}

fn is_specifier_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

fn is_os_option_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'%' | b'-')
}

/// Splits `os(version+feat+feat)` into its parts; `None` when malformed.
fn split_os_component(part: &str) -> Option<(&str, &str, Vec<&str>)> {
    let (os, options) = match part.find('(') {
        Some(open) => {
            let inner = part[open + 1..].strip_suffix(')')?;
            (&part[..open], Some(inner))
        }
        None => (part, None),
    };
    if os.is_empty()
        || !os
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return None;
    }
    let Some(options) = options else {
        return Some((os, "", Vec::new()));
    };
    let mut pieces = options.split('+');
    let version = pieces.next().unwrap_or_default();
    if !version.bytes().all(is_os_option_byte) {
        return None;
    }
    let features: Vec<&str> = pieces.collect();
    if features
        .iter()
        .any(|f| f.is_empty() || !f.bytes().all(is_os_option_byte))
    {
        return None;
    }
    Some((os, version, features))
}

fn decode_os_option(value: &str) -> Option<String> {
    if !value.contains('%') {
        return Some(value.to_owned());
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn encode_os_option(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '%' => out.push_str("%25"),
            '+' => out.push_str("%2B"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `path.Join` for non-empty, slash-free parts: empty parts are skipped.
fn join_path(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

fn is_known_os(os: &str) -> bool {
    matches!(
        os,
        "aix"
            | "android"
            | "darwin"
            | "dragonfly"
            | "freebsd"
            | "hurd"
            | "illumos"
            | "ios"
            | "js"
            | "linux"
            | "nacl"
            | "netbsd"
            | "openbsd"
            | "plan9"
            | "solaris"
            | "windows"
            | "zos"
    )
}

fn is_known_arch(arch: &str) -> bool {
    matches!(
        arch,
        "386"
            | "amd64"
            | "amd64p32"
            | "arm"
            | "armbe"
            | "arm64"
            | "arm64be"
            | "ppc64"
            | "ppc64le"
            | "loong64"
            | "mips"
            | "mipsle"
            | "mips64"
            | "mips64le"
            | "mips64p32"
            | "mips64p32le"
            | "ppc"
            | "riscv"
            | "riscv64"
            | "s390"
            | "s390x"
            | "sparc"
            | "sparc64"
            | "wasm"
    )
}

fn normalize_os(os: &str) -> String {
    if os.is_empty() {
        return std::env::consts::OS.to_owned();
    }
    let os = os.to_ascii_lowercase();
    if os == "macos" {
        "darwin".to_owned()
    } else {
        os
    }
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let variant = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), variant)
        }
        "aarch64" | "arm64" => {
            let variant = match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => "v9".into(),
                _ => variant,
            };
            ("arm64".into(), variant)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let variant = match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), variant)
        }
        _ => (arch, variant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(os: &str, arch: &str, variant: &str) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.into(),
            ..Platform::default()
        }
    }

    #[test]
    fn parse_follows_containerd_normalisation() {
        let host = Platform::host();
        let cases: &[(&str, Platform)] = &[
            ("linux/amd64", p("linux", "amd64", "")),
            ("Linux/x86_64", p("linux", "amd64", "")),
            ("linux/aarch64", p("linux", "arm64", "")),
            ("linux/arm64/v8", p("linux", "arm64", "v8")),
            ("linux/arm64/8", p("linux", "arm64", "v8")),
            ("linux/arm", p("linux", "arm", "")),
            ("linux/arm/v7", p("linux", "arm", "v7")),
            ("linux/armhf", p("linux", "arm", "")),
            ("linux/armel", p("linux", "arm", "v6")),
            ("linux/arm/6", p("linux", "arm", "v6")),
            ("linux/i386", p("linux", "386", "")),
            ("darwin/amd64", p("darwin", "amd64", "")),
            ("macos/arm64", p("darwin", "arm64", "")),
            ("windows/amd64", p("windows", "amd64", "")),
            ("arm64", p(&host.os, "arm64", "")),
            ("linux", p("linux", &host.architecture, "")),
        ];
        for (spec, want) in cases {
            assert_eq!(&Platform::parse(spec).unwrap(), want, "{spec}");
        }
    }

    #[test]
    fn parse_reads_os_version_and_features() {
        let got = Platform::parse("windows(10.0.17763+win32k)/amd64").unwrap();
        assert_eq!(got.os, "windows");
        assert_eq!(got.os_version, "10.0.17763");
        assert_eq!(got.os_features, vec!["win32k".to_owned()]);
        assert_eq!(got.format_all(), "windows(10.0.17763+win32k)/amd64");
        assert_eq!(got.format(), "windows/amd64");
    }

    #[test]
    fn parse_rejects_bad_specifiers() {
        assert_eq!(
            Platform::parse("linux/*"),
            Err(PlatformError::Wildcard("linux/*".into()))
        );
        assert_eq!(
            Platform::parse("foo"),
            Err(PlatformError::Unknown("foo".into()))
        );
        assert!(matches!(
            Platform::parse("linux/am d64"),
            Err(PlatformError::InvalidComponent { .. })
        ));
        assert!(matches!(
            Platform::parse("linux/amd64/v2/x"),
            Err(PlatformError::TooManyComponents(_))
        ));
        assert!(matches!(
            Platform::parse(""),
            Err(PlatformError::InvalidComponent { .. })
        ));
    }

    #[test]
    fn format_joins_non_empty_parts() {
        assert_eq!(p("linux", "amd64", "").format(), "linux/amd64");
        assert_eq!(p("linux", "arm", "v7").format(), "linux/arm/v7");
        assert_eq!(p("", "amd64", "").format(), "unknown");
    }

    #[test]
    fn normalized_drops_default_variants() {
        assert_eq!(
            p("Linux", "aarch64", "v8").normalized(),
            p("linux", "arm64", "")
        );
        assert_eq!(p("linux", "arm", "").normalized(), p("linux", "arm", "v7"));
    }
}
