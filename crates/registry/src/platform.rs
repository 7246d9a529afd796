//! Choosing an index entry for a platform, with containerd's `platforms.Only` rules
//! (containerd/platforms v1.0, as BuildKit's `imageutil.Config` uses them).
//!
//! A wanted platform expands to an ordered list of compatible platforms: itself first,
//! then what it can also run (`amd64/v3` → `amd64/v2`, `amd64`, `386`; `arm/v7` →
//! `arm/v6`, `arm/v5`; `arm64/v8.2` → `arm64/v8.1`, `arm64/v8`, `arm/v8`, `arm/v7`, …).
//! Every platform is normalised before comparing, so `arm64` ≡ `arm64/v8`,
//! `arm` ≡ `arm/v7` and `amd64/v1` ≡ `amd64`. The best entry is the one matching the
//! earliest platform in that list; an exact variant match therefore always wins.

use hearth_core::Platform;

use crate::manifest::Descriptor;

/// The annotation BuildKit puts on attestation manifests in an index; those entries
/// (platform `unknown/unknown`) are not images and are left out of listings.
const REFERENCE_TYPE_ANNOTATION: &str = "vnd.docker.reference.type";

/// containerd's `platforms.Only`: matches a platform and the ones it can also run,
/// ranking them in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformMatcher {
    /// Normalised platforms, most preferred first.
    vector: Vec<Platform>,
}

impl PlatformMatcher {
    /// The matcher for `wanted`.
    pub fn only(wanted: &Platform) -> Self {
        let vector = platform_vector(wanted.clone().normalized())
            .into_iter()
            .map(Platform::normalized)
            .collect();
        Self { vector }
    }

    /// Whether `candidate` can be used for the wanted platform.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.rank(candidate).is_some()
    }

    /// The position of `candidate` in the preference order (0 is best); `None` if it does
    /// not match at all.
    pub fn rank(&self, candidate: &Platform) -> Option<usize> {
        let candidate = candidate.clone().normalized();
        self.vector
            .iter()
            .position(|want| matches_one(want, &candidate))
    }

    /// The index entries usable for the wanted platform, best first. Entries without a
    /// platform come last: they may still fit, which only their configuration can tell.
    pub fn candidates<'a>(&self, entries: &'a [Descriptor]) -> Vec<&'a Descriptor> {
        let mut ranked: Vec<(usize, usize, &Descriptor)> = entries
            .iter()
            .filter_map(|entry| match &entry.platform {
                Some(p) => self
                    .rank(p)
                    .map(|rank| (rank, usize::MAX - p.os_features.len(), entry)),
                None => Some((usize::MAX, usize::MAX, entry)),
            })
            .collect();
        // Stable: equally good entries keep the index's order, as containerd's
        // `sort.SliceStable` does.
        ranked.sort_by_key(|(rank, features, _)| (*rank, *features));
        ranked.into_iter().map(|(_, _, entry)| entry).collect()
    }
}

/// The platforms an index offers, formatted, for error messages.
pub fn available_platforms(entries: &[Descriptor]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| !e.annotations.contains_key(REFERENCE_TYPE_ANNOTATION))
        .filter_map(|e| e.platform.as_ref().map(Platform::format_all))
        .collect()
}

/// containerd's matcher for one normalised platform: same OS, architecture and variant
/// after normalisation, the same OS version if one is wanted, and OS features that are a
/// subset of the wanted ones.
fn matches_one(want: &Platform, candidate: &Platform) -> bool {
    want.os == candidate.os
        && want.architecture == candidate.architecture
        && want.variant == candidate.variant
        && (want.os_version.is_empty() || want.os_version == candidate.os_version)
        && candidate
            .os_features
            .iter()
            .all(|f| want.os_features.contains(f))
}

/// containerd's `platformVector`.
fn platform_vector(platform: Platform) -> Vec<Platform> {
    let with = |architecture: &str, variant: String| Platform {
        architecture: architecture.to_owned(),
        variant,
        ..platform.clone()
    };
    let version = |variant: &str| variant.strip_prefix('v').unwrap_or(variant).parse::<u32>();
    let mut vector = Vec::new();
    match platform.architecture.as_str() {
        "amd64" => {
            vector.push(platform.clone());
            if let Ok(v) = version(&platform.variant) {
                for lower in (1..v).rev() {
                    vector.push(with("amd64", format!("v{lower}")));
                }
            }
            vector.push(with("386", String::new()));
        }
        "arm" => {
            vector.push(platform.clone());
            if let Ok(v) = version(&platform.variant) {
                for lower in (5..v).rev() {
                    vector.push(with("arm", format!("v{lower}")));
                }
            }
        }
        "arm64" => {
            let variant = if platform.variant.is_empty() {
                "v8".to_owned()
            } else {
                platform.variant.clone()
            };
            if let Some(versions) = arm64_versions(&variant) {
                for (major, top_minor) in versions {
                    for minor in (0..=top_minor).rev() {
                        let v = if minor == 0 {
                            format!("v{major}")
                        } else {
                            format!("v{major}.{minor}")
                        };
                        vector.push(with("arm64", v));
                    }
                }
            }
            // Every arm64 v8.x/v9.x CPU also runs 32-bit arm/v8 and below.
            let arm_variant = if variant.starts_with("v8") || variant.starts_with("v9") {
                "v8".to_owned()
            } else {
                variant
            };
            vector.extend(platform_vector(with("arm", arm_variant)));
        }
        _ => vector.push(platform),
    }
    vector
}

/// containerd's `arm64variantToVersion`: the (major, highest minor) pairs a variant
/// runs, newest first; an arm64/v9.x CPU also runs v8.(x+5).
fn arm64_versions(variant: &str) -> Option<Vec<(u32, u32)>> {
    let rest = variant.strip_prefix('v')?;
    let (major, minor) = match rest.split_once('.') {
        Some((major, minor)) => (major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?),
        None => (rest.parse::<u32>().ok()?, 0),
    };
    match (major, minor) {
        (8, 0..=9) => Some(vec![(8, minor)]),
        (9, 0..=7) => Some(vec![(9, minor), (8, (minor + 5).min(9))]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::manifest::media_type;
    use hearth_core::Digest;

    fn p(spec: &str) -> Platform {
        let mut parts = spec.split('/');
        Platform {
            os: parts.next().unwrap_or_default().to_owned(),
            architecture: parts.next().unwrap_or_default().to_owned(),
            variant: parts.next().unwrap_or_default().to_owned(),
            ..Platform::default()
        }
    }

    #[test]
    fn matching_table() {
        // (wanted, candidate, matches)
        let table = [
            ("linux/amd64", "linux/amd64", true),
            ("linux/amd64", "linux/amd64/v1", true),
            ("linux/amd64", "linux/386", true),
            ("linux/amd64", "linux/amd64/v2", false),
            ("linux/amd64/v3", "linux/amd64/v2", true),
            ("linux/amd64/v3", "linux/amd64", true),
            ("linux/amd64", "linux/arm64", false),
            ("linux/amd64", "windows/amd64", false),
            ("linux/arm64", "linux/arm64/v8", true),
            ("linux/arm64/v8", "linux/arm64", true),
            ("linux/arm64", "linux/aarch64", true),
            ("linux/arm64", "linux/arm/v7", true),
            ("linux/arm64", "linux/arm64/v8.2", false),
            ("linux/arm64/v8.2", "linux/arm64/v8.1", true),
            ("linux/arm64/v9", "linux/arm64/v8.5", true),
            ("linux/arm64/v9", "linux/arm64/v8.6", false),
            ("linux/arm", "linux/arm/v7", true),
            ("linux/arm/v7", "linux/arm", true),
            ("linux/arm/v7", "linux/arm/v6", true),
            ("linux/arm/v6", "linux/arm/v7", false),
            ("linux/arm/v6", "linux/armel", true),
            ("Linux/x86_64", "linux/amd64", true),
            ("linux/s390x", "linux/s390x", true),
            ("linux/riscv64", "unknown/unknown", false),
        ];
        for (want, candidate, expected) in table {
            let m = PlatformMatcher::only(&p(want));
            assert_eq!(m.matches(&p(candidate)), expected, "{want} vs {candidate}");
        }
    }

    fn entry(n: u8, platform: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: media_type::OCI_MANIFEST.into(),
            digest: Digest::of(&[n]),
            size: u64::from(n),
            platform: platform.map(p),
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        }
    }

    #[test]
    fn exact_variant_beats_compatible_and_order_is_stable() {
        let entries = vec![
            entry(1, Some("linux/arm/v6")),
            entry(2, None),
            entry(3, Some("linux/arm/v7")),
            entry(4, Some("linux/arm64")),
            entry(5, Some("linux/arm/v7")),
        ];
        let ranked: Vec<u64> = PlatformMatcher::only(&p("linux/arm/v7"))
            .candidates(&entries)
            .iter()
            .map(|d| d.size)
            .collect();
        assert_eq!(ranked, vec![3, 5, 1, 2]);

        let ranked: Vec<u64> = PlatformMatcher::only(&p("linux/arm64/v8"))
            .candidates(&entries)
            .iter()
            .map(|d| d.size)
            .collect();
        assert_eq!(ranked, vec![4, 3, 5, 1, 2]);
    }

    #[test]
    fn available_platforms_skip_attestations() {
        let mut attestation = entry(9, Some("unknown/unknown"));
        attestation.annotations.insert(
            REFERENCE_TYPE_ANNOTATION.into(),
            "attestation-manifest".into(),
        );
        let entries = vec![entry(1, Some("linux/amd64")), attestation, entry(2, None)];
        assert_eq!(available_platforms(&entries), vec!["linux/amd64"]);
    }
}
