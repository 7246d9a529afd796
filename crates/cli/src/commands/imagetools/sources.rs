//! What `imagetools create` is given: sources as buildx reads them (a digest, an image
//! reference, or a JSON descriptor), and which repository each bare digest or descriptor
//! is fetched from.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use hearth_core::{Digest, Platform};
use hearth_registry::ImageReference;
use serde::Deserialize;

/// A source as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SourceSpec {
    /// `sha256:…`: a manifest of the one repository involved.
    Digest(Digest),
    /// `registry/repo:tag` or `…@sha256:…`.
    Reference(ImageReference),
    /// `{"mediaType": …, "digest": …, …}`: a manifest of the one repository involved,
    /// with fields that override what the registry says.
    Descriptor(GivenDescriptor),
}

/// A descriptor given as a source; every field but the digest may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GivenDescriptor {
    #[serde(default)]
    schema_version: u32,
    /// Overrides the registry's media type.
    #[serde(default)]
    pub(super) media_type: String,
    pub(super) digest: Option<String>,
    /// Checked against the registry's size when not 0.
    #[serde(default)]
    pub(super) size: u64,
    /// Overrides the platform (a missing OS or architecture is read from the image).
    #[serde(default)]
    pub(super) platform: Option<Platform>,
    /// Replace the entry's annotations when not empty.
    #[serde(default)]
    pub(super) annotations: BTreeMap<String, String>,
}

/// A source with the reference it is fetched through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Located {
    /// The source as the user wrote it, for messages.
    pub(super) written: String,
    /// Where to fetch it.
    pub(super) reference: ImageReference,
    /// The descriptor it was given as, if any.
    pub(super) given: Option<GivenDescriptor>,
}

/// Parses one source the way buildx's `parseSource` does: a digest, else a reference,
/// else (starting with `{`) a descriptor.
pub(super) fn parse(text: &str) -> anyhow::Result<SourceSpec> {
    let parsed = parse_inner(text);
    parsed.with_context(|| {
        format!(
            "failed to parse source {text:?}, valid sources are digests, references and descriptors"
        )
    })
}

fn parse_inner(text: &str) -> anyhow::Result<SourceSpec> {
    if text.starts_with("sha256") {
        return Ok(SourceSpec::Digest(text.parse::<Digest>()?));
    }
    match ImageReference::parse(text) {
        Ok(reference) => return Ok(SourceSpec::Reference(reference)),
        Err(e) if !text.starts_with('{') => return Err(e.into()),
        Err(_) => {}
    }
    let given: GivenDescriptor =
        serde_json::from_str(text).context("not a valid descriptor document")?;
    if given.schema_version != 0 {
        bail!(
            "expected an OCI content descriptor, got a manifest or index (schemaVersion {})",
            given.schema_version
        );
    }
    match &given.digest {
        None => bail!("invalid descriptor: digest is required"),
        Some(digest) => {
            digest
                .parse::<Digest>()
                .context("invalid descriptor digest")?;
        }
    }
    Ok(SourceSpec::Descriptor(given))
}

/// Gives every source a reference, as buildx does: a bare digest or a descriptor belongs
/// to the one repository the tags and references name, and is an error when they name
/// several. `written` is each source's text, for messages.
pub(super) fn locate(
    written: &[String],
    specs: Vec<SourceSpec>,
    tags: &[ImageReference],
) -> anyhow::Result<Vec<Located>> {
    let mut repositories: Vec<String> = tags.iter().map(ImageReference::name).collect();
    for spec in &specs {
        if let SourceSpec::Reference(r) = spec {
            repositories.push(r.name());
        }
    }
    repositories.sort();
    repositories.dedup();
    if repositories.is_empty() {
        bail!("no repositories specified, please set a reference in tag or source");
    }
    let default_repository = match repositories.as_slice() {
        [_] => specs
            .iter()
            .find_map(|s| match s {
                SourceSpec::Reference(r) => Some(r.clone()),
                _ => None,
            })
            .or_else(|| tags.first().cloned()),
        _ => None,
    };
    let mut located = Vec::with_capacity(specs.len());
    for (spec, text) in specs.into_iter().zip(written) {
        let at_digest = |digest: Digest| -> anyhow::Result<ImageReference> {
            let Some(repository) = &default_repository else {
                bail!("multiple repositories specified, cannot infer repository for {text:?}");
            };
            Ok(ImageReference {
                tag: None,
                digest: Some(digest),
                ..repository.clone()
            })
        };
        let (reference, given) = match spec {
            SourceSpec::Reference(reference) => (reference, None),
            SourceSpec::Digest(digest) => (at_digest(digest)?, None),
            SourceSpec::Descriptor(given) => {
                // Checked by `parse`.
                let digest = given
                    .digest
                    .as_deref()
                    .unwrap_or_default()
                    .parse::<Digest>()?;
                (at_digest(digest)?, Some(given))
            }
        };
        located.push(Located {
            written: text.clone(),
            reference,
            given,
        });
    }
    Ok(located)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn digest() -> String {
        format!("sha256:{}", "a".repeat(64))
    }

    #[test]
    fn digests_references_and_descriptors_parse_as_buildx_reads_them() {
        assert_eq!(
            parse(&digest()).unwrap(),
            SourceSpec::Digest(digest().parse().unwrap())
        );
        let SourceSpec::Reference(r) = parse("127.0.0.1:5000/a").unwrap() else {
            panic!("a reference");
        };
        assert_eq!(r.to_string(), "127.0.0.1:5000/a:latest");
        let text = format!(
            r#"{{"digest":"{}","platform":{{"os":"linux","architecture":"arm64"}}}}"#,
            digest()
        );
        let SourceSpec::Descriptor(d) = parse(&text).unwrap() else {
            panic!("a descriptor");
        };
        assert_eq!(d.platform.unwrap().format(), "linux/arm64");
        let err = format!(
            "{:#}",
            parse(&format!(r#"{{"schemaVersion":2,"digest":"{}"}}"#, digest())).unwrap_err()
        );
        assert!(
            err.contains("got a manifest or index (schemaVersion 2)"),
            "{err}"
        );
        let err = format!("{:#}", parse("sha256:abc").unwrap_err());
        assert!(
            err.starts_with(
                "failed to parse source \"sha256:abc\", valid sources are digests, references and descriptors: "
            ),
            "{err}"
        );
        assert!(parse("Not A Reference").is_err());
    }

    #[test]
    fn a_bare_digest_belongs_to_the_only_repository_and_is_ambiguous_with_two() {
        let tags = [ImageReference::parse("127.0.0.1:5000/c:1").unwrap()];
        let written = vec![digest()];
        let located = locate(&written, vec![parse(&digest()).unwrap()], &tags).unwrap();
        assert_eq!(
            located[0].reference.to_string(),
            format!("127.0.0.1:5000/c@{}", digest())
        );
        let written = vec![digest(), "127.0.0.1:5000/a:1".to_owned()];
        let specs = written.iter().map(|w| parse(w).unwrap()).collect();
        let err = locate(&written, specs, &tags).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "multiple repositories specified, cannot infer repository for {:?}",
                digest()
            )
        );
        let err = locate(&written[..1], vec![parse(&digest()).unwrap()], &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "no repositories specified, please set a reference in tag or source"
        );
    }
}
