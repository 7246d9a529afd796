//! Image references, normalised the way docker does (`busybox` is
//! `docker.io/library/busybox:latest`, `index.docker.io` is `docker.io`).
//!
//! Parsing is `oci_spec::distribution::Reference`, a port of distribution's
//! `reference.ParseNormalizedNamed`; this module adds hearth's sha256-only digest type
//! and the registry/repository split the client needs.

use std::fmt;

use hearth_core::Digest;
use oci_spec::distribution::Reference;

use crate::error::RegistryError;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// The registry domain, e.g. `docker.io` or `127.0.0.1:5000`.
    pub registry: String,
    /// The repository path on the registry, e.g. `library/busybox`.
    pub repository: String,
    /// The tag, when given (or `latest` when neither tag nor digest was given).
    pub tag: Option<String>,
    /// The digest, when given; it takes precedence over the tag for fetching.
    pub digest: Option<Digest>,
}

impl ImageReference {
    /// Parses and normalises `reference`.
    pub fn parse(reference: &str) -> Result<Self, RegistryError> {
        let invalid = |reason: String| RegistryError::InvalidReference {
            reference: reference.to_owned(),
            reason,
        };
        let parsed: Reference = reference.parse().map_err(|e| invalid(format!("{e}")))?;
        let digest = parsed
            .digest()
            .map(|d| d.parse::<Digest>())
            .transpose()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            registry: parsed.registry().to_owned(),
            repository: parsed.repository().to_owned(),
            tag: parsed.tag().map(str::to_owned),
            digest,
        })
    }

    /// `registry/repository`, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What to put after `/manifests/`: the digest if there is one, else the tag.
    pub(crate) fn object(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_owned(),
        }
    }
}

impl fmt::Display for ImageReference {
    /// The normalised form: `name[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Splits a repository name as [`crate::ResolvedImage::repository`] spells it
/// (`docker.io/library/busybox`) into registry and path.
pub(crate) fn split_repository(repository: &str) -> Result<(String, String), RegistryError> {
    // Reuse the reference parser so short names (`busybox`) normalise the same way.
    let parsed = ImageReference::parse(repository)?;
    if parsed.tag.as_deref().is_some_and(|t| t != "latest") || parsed.digest.is_some() {
        return Err(RegistryError::InvalidReference {
            reference: repository.to_owned(),
            reason: "expected a repository name without tag or digest".to_owned(),
        });
    }
    Ok((parsed.registry, parsed.repository))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("index.docker.io/busybox:1", "docker.io/library/busybox:1"),
            ("docker.io/foo/bar", "docker.io/foo/bar:latest"),
            ("127.0.0.1:5000/x/y:t", "127.0.0.1:5000/x/y:t"),
            ("localhost/x", "localhost/x:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(ImageReference::parse(input).unwrap().to_string(), want);
        }
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageReference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.object(), d);
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{d}"));
    }

    #[test]
    fn rejects_bad_references_with_the_reason() {
        let err = ImageReference::parse("Busybox").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid reference \"Busybox\": invalid reference format"
        );
        let err = ImageReference::parse(&format!("busybox@sha512:{}", "a".repeat(128)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("only sha256 is supported"), "{err}");
    }

    #[test]
    fn splits_repository_names() {
        assert_eq!(
            split_repository("docker.io/library/busybox").unwrap(),
            ("docker.io".to_owned(), "library/busybox".to_owned())
        );
        assert_eq!(
            split_repository("busybox").unwrap(),
            ("docker.io".to_owned(), "library/busybox".to_owned())
        );
        assert!(split_repository("busybox:1").is_err());
    }
}
