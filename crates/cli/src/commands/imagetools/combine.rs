//! buildx's rules for making one document out of `imagetools create`'s sources
//! (`Resolver.Combine`): a single index source is kept as it is, every other set of
//! sources becomes an index of their manifests — an index source contributes its entries,
//! a manifest its own descriptor with the platform of its configuration — with repeated
//! digests listed once. The index is a Docker manifest list when every entry is a Docker
//! type, else an OCI index, written as buildx writes it (so its digest is buildx's), and
//! `--platform` keeps only the entries of those platforms.

use std::collections::BTreeMap;

use anyhow::bail;
use hearth_core::{Digest, Platform};
use hearth_registry::{Descriptor, Index, media_type};

/// Docker's annotations linking an attestation manifest to the image it describes;
/// the attestation stays whenever its image does.
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// A fetched source, as combining needs it.
#[derive(Debug, Clone)]
pub(super) struct Source {
    /// Media type, digest and size; for a manifest, its platform too.
    pub(super) descriptor: Descriptor,
    /// The document exactly as stored.
    pub(super) bytes: Vec<u8>,
    /// For an index: its entries and annotations.
    pub(super) index: Option<(Vec<Descriptor>, BTreeMap<String, String>)>,
}

/// The document to push, and which source each manifest it lists comes from.
#[derive(Debug, Clone)]
pub(super) struct Combined {
    /// The index (or, for one manifest without `--prefer-index`, that manifest).
    pub(super) bytes: Vec<u8>,
    /// Its media type, digest and size.
    pub(super) descriptor: Descriptor,
    /// The manifests to copy into the target repositories first, with the position of
    /// the source each comes from.
    pub(super) manifests: Vec<(Descriptor, usize)>,
}

impl Combined {
    fn of(bytes: Vec<u8>, media_type: &str, manifests: Vec<(Descriptor, usize)>) -> Self {
        let descriptor = Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::of(&bytes),
            size: bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        };
        Self {
            bytes,
            descriptor,
            manifests,
        }
    }

    fn is_index(&self) -> bool {
        Index::is_index_media_type(&self.descriptor.media_type)
    }
}

/// Combines `sources` (in order) and keeps the entries for `platforms` (all when empty).
pub(super) fn combine(
    sources: &[Source],
    prefer_index: bool,
    platforms: &[Platform],
) -> anyhow::Result<Combined> {
    let combined = match sources {
        [only] => match &only.index {
            // An index is already the preferred form: a carbon copy.
            Some((entries, _)) => Combined {
                bytes: only.bytes.clone(),
                descriptor: only.descriptor.clone(),
                manifests: entries.iter().map(|e| (e.clone(), 0)).collect(),
            },
            None if !prefer_index => Combined {
                bytes: only.bytes.clone(),
                descriptor: only.descriptor.clone(),
                manifests: vec![(only.descriptor.clone(), 0)],
            },
            None => index_of(sources),
        },
        _ => index_of(sources),
    };
    let annotations = match sources {
        [only] if combined.bytes == only.bytes => only
            .index
            .as_ref()
            .map(|(_, a)| a.clone())
            .unwrap_or_default(),
        _ => BTreeMap::new(),
    };
    filter_platforms(combined, annotations, platforms)
}

/// Every source's manifests in one index; a digest seen again is merged into its first
/// entry (a later platform and annotations win) and comes from the later source.
fn index_of(sources: &[Source]) -> Combined {
    let mut entries: Vec<(Descriptor, usize)> = Vec::new();
    let mut add = |entry: &Descriptor, source: usize| match entries
        .iter_mut()
        .find(|(e, _)| e.digest == entry.digest)
    {
        Some((old, from)) => {
            if old.media_type.is_empty() {
                old.media_type = entry.media_type.clone();
            }
            if entry.platform.is_some() {
                old.platform = entry.platform.clone();
            }
            old.annotations.extend(
                entry
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            *from = source;
        }
        None => entries.push((entry.clone(), source)),
    };
    for (position, source) in sources.iter().enumerate() {
        match &source.index {
            Some((list, _)) => list.iter().for_each(|e| add(e, position)),
            None => add(&source.descriptor, position),
        }
    }
    let all_docker = entries
        .iter()
        .all(|(e, _)| e.media_type.starts_with("application/vnd.docker."));
    let media_type = if all_docker {
        media_type::DOCKER_MANIFEST_LIST
    } else {
        media_type::OCI_INDEX
    };
    let index = Index {
        media_type: media_type.to_owned(),
        manifests: entries.iter().map(|(e, _)| e.clone()).collect(),
        annotations: BTreeMap::new(),
    };
    Combined::of(index.to_json_indented(), media_type, entries)
}

/// Whether `candidate` is one of `wanted` (containerd's `platforms.Any`: normalised OS,
/// architecture and variant equal).
fn matches(wanted: &[Platform], candidate: &Platform) -> bool {
    let candidate = candidate.clone().normalized();
    wanted.iter().any(|w| {
        w.os == candidate.os
            && w.architecture == candidate.architecture
            && w.variant == candidate.variant
    })
}

/// buildx's `filterPlatforms`: entries without a platform always stay, and so do
/// attestations of a kept image; the index is rewritten only when something was dropped.
fn filter_platforms(
    combined: Combined,
    annotations: BTreeMap<String, String>,
    platforms: &[Platform],
) -> anyhow::Result<Combined> {
    if platforms.is_empty() {
        return Ok(combined);
    }
    let wanted: Vec<Platform> = platforms.iter().map(|p| p.clone().normalized()).collect();
    if !combined.is_index() {
        let Some(platform) = &combined.descriptor.platform else {
            bail!("cannot filter platforms from a manifest without platform information");
        };
        if !matches(&wanted, platform) {
            bail!(
                "input platform {} does not match any of the provided platforms",
                platform.format()
            );
        }
        return Ok(combined);
    }
    let kept_image =
        |entry: &Descriptor| entry.platform.as_ref().is_none_or(|p| matches(&wanted, p));
    let subject_kept = |entry: &Descriptor| {
        entry.annotations.get(REFERENCE_TYPE).map(String::as_str) == Some(ATTESTATION_MANIFEST)
            && entry
                .annotations
                .get(REFERENCE_DIGEST)
                .and_then(|d| d.parse::<Digest>().ok())
                .and_then(|d| combined.manifests.iter().find(|(e, _)| e.digest == d))
                .is_some_and(|(subject, _)| kept_image(subject))
    };
    let kept: Vec<(Descriptor, usize)> = combined
        .manifests
        .iter()
        .filter(|(e, _)| subject_kept(e) || kept_image(e))
        .cloned()
        .collect();
    if kept.is_empty() {
        bail!("none of the manifests match the provided platforms");
    }
    if kept.len() == combined.manifests.len() {
        return Ok(combined);
    }
    let index = Index {
        media_type: combined.descriptor.media_type.clone(),
        manifests: kept.iter().map(|(e, _)| e.clone()).collect(),
        annotations,
    };
    Ok(Combined::of(
        index.to_json_indented(),
        &combined.descriptor.media_type,
        kept,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest(media_type: &str, seed: &str, platform: &str) -> Source {
        let bytes = format!("{{\"seed\":\"{seed}\"}}").into_bytes();
        Source {
            descriptor: Descriptor {
                media_type: media_type.to_owned(),
                digest: Digest::of(&bytes),
                size: bytes.len() as u64,
                platform: Some(Platform::parse(platform).unwrap()),
                annotations: BTreeMap::new(),
                urls: Vec::new(),
            },
            bytes,
            index: None,
        }
    }

    fn index_source(media: &str, entries: &[&Source]) -> Source {
        let index = Index {
            media_type: media.to_owned(),
            manifests: entries.iter().map(|s| s.descriptor.clone()).collect(),
            annotations: BTreeMap::new(),
        };
        let bytes = index.to_json();
        Source {
            descriptor: Descriptor {
                media_type: media.to_owned(),
                digest: Digest::of(&bytes),
                size: bytes.len() as u64,
                platform: None,
                annotations: BTreeMap::new(),
                urls: Vec::new(),
            },
            bytes,
            index: Some((index.manifests, BTreeMap::new())),
        }
    }

    fn platforms(c: &Combined) -> Vec<String> {
        c.manifests
            .iter()
            .map(|(e, _)| e.platform.as_ref().unwrap().format())
            .collect()
    }

    #[test]
    fn manifests_become_one_index_in_go_layout_and_docker_types_make_a_manifest_list() {
        let amd = manifest(media_type::DOCKER_MANIFEST, "a", "linux/amd64");
        let arm = manifest(media_type::DOCKER_MANIFEST, "b", "linux/arm64");
        let c = combine(&[amd.clone(), arm.clone()], true, &[]).unwrap();
        assert_eq!(c.descriptor.media_type, media_type::DOCKER_MANIFEST_LIST);
        assert_eq!(c.descriptor.digest, Digest::of(&c.bytes));
        let text = String::from_utf8(c.bytes.clone()).unwrap();
        assert!(
            text.starts_with("{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"application/vnd.docker.distribution.manifest.list.v2+json\",\n  \"manifests\": [\n    {\n      \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n"),
            "{text}"
        );
        assert!(
            text.contains("      \"platform\": {\n        \"architecture\": \"arm64\",\n        \"os\": \"linux\"\n      }\n"),
            "{text}"
        );
        assert_eq!(platforms(&c), ["linux/amd64", "linux/arm64"]);
        assert_eq!(
            c.manifests[1].1, 1,
            "the arm64 manifest comes from source 1"
        );

        let oci = manifest(media_type::OCI_MANIFEST, "c", "linux/arm/v7");
        let c = combine(&[amd, oci], true, &[]).unwrap();
        assert_eq!(
            c.descriptor.media_type,
            media_type::OCI_INDEX,
            "one OCI entry"
        );
    }

    #[test]
    fn an_index_source_contributes_its_entries_and_repeated_digests_are_listed_once() {
        let amd = manifest(media_type::OCI_MANIFEST, "a", "linux/amd64");
        let arm = manifest(media_type::OCI_MANIFEST, "b", "linux/arm64");
        let s390 = manifest(media_type::OCI_MANIFEST, "c", "linux/s390x");
        let both = index_source(media_type::OCI_INDEX, &[&amd, &arm]);
        let c = combine(&[both.clone(), arm.clone(), s390], true, &[]).unwrap();
        assert_eq!(platforms(&c), ["linux/amd64", "linux/arm64", "linux/s390x"]);
        assert_eq!(
            c.manifests.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
            [0, 1, 2],
            "a repeated digest comes from its last source"
        );

        // One index alone is kept byte for byte; one manifest alone becomes an index
        // unless --prefer-index=false.
        let alone = combine(std::slice::from_ref(&both), true, &[]).unwrap();
        assert_eq!(alone.bytes, both.bytes);
        assert_eq!(alone.manifests.len(), 2);
        let wrapped = combine(std::slice::from_ref(&arm), true, &[]).unwrap();
        assert_eq!(wrapped.descriptor.media_type, media_type::OCI_INDEX);
        let copied = combine(std::slice::from_ref(&arm), false, &[]).unwrap();
        assert_eq!(copied.bytes, arm.bytes);
    }

    #[test]
    fn platforms_filter_entries_keeping_attestations_of_kept_images() {
        let amd = manifest(media_type::OCI_MANIFEST, "a", "linux/amd64");
        let arm = manifest(media_type::OCI_MANIFEST, "b", "linux/arm64");
        let mut att = manifest(media_type::OCI_MANIFEST, "att", "unknown/unknown");
        att.descriptor.annotations = BTreeMap::from([
            (REFERENCE_TYPE.to_owned(), ATTESTATION_MANIFEST.to_owned()),
            (
                REFERENCE_DIGEST.to_owned(),
                arm.descriptor.digest.to_string(),
            ),
        ]);
        let all = index_source(media_type::OCI_INDEX, &[&amd, &arm, &att]);
        let arm64 = [Platform::parse("linux/arm64").unwrap()];
        let c = combine(std::slice::from_ref(&all), true, &arm64).unwrap();
        assert_eq!(platforms(&c), ["linux/arm64", "unknown/unknown"]);
        assert_ne!(c.bytes, all.bytes);
        let none = [Platform::parse("linux/ppc64le").unwrap()];
        let err = combine(std::slice::from_ref(&all), true, &none).unwrap_err();
        assert_eq!(
            err.to_string(),
            "none of the manifests match the provided platforms"
        );
        let err = combine(std::slice::from_ref(&amd), false, &arm64).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input platform linux/amd64 does not match any of the provided platforms"
        );
    }
}
