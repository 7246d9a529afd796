//! OCI and Docker manifest documents: descriptors, image manifests and indexes (manifest
//! lists), and how to tell which one a registry sent.
//!
//! These are hearth's own types rather than `oci_spec::image`'s because they carry
//! hearth's sha256 [`Digest`] and [`Platform`] and accept the Docker media types and the
//! `null`s Go writes, which the builder-generated OCI types reject or do not model.

use std::collections::BTreeMap;

use hearth_core::{Digest, Platform};
use serde::{Deserialize, Deserializer, Serialize};

/// Media types of the documents the client reads.
pub mod media_type {
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image configuration.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Docker manifest list (the Docker spelling of an index).
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker image configuration.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker schema 1 manifest (unsigned), no longer supported.
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    /// Docker schema 1 manifest (signed), no longer supported.
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
}

/// The `Accept` header for manifest requests: indexes first so multi-platform images
/// resolve to their index (as containerd asks), and no schema 1.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, */*";

/// containerd's `MaxManifestSize`: a manifest larger than this is refused rather than
/// buffered, since manifests are held in memory.
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// A content descriptor: what a manifest or index says about a blob it references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type.
    pub media_type: String,
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// The platform of the referenced manifest (index entries only).
    #[serde(
        default,
        deserialize_with = "lenient_platform",
        skip_serializing_if = "Option::is_none"
    )]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Alternative download URLs (Windows foreign layers).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub urls: Vec<String>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The media type: the document's `mediaType`, else the one the registry declared or
    /// the document's shape implies.
    pub media_type: String,
    /// The image configuration blob.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// The manifest this one refers to (signatures, attestations), if any.
    pub subject: Option<Descriptor>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// The media type, resolved as for [`Manifest::media_type`].
    pub media_type: String,
    /// The manifests, usually one per platform.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// The index document as a build's outputs write it: Go's field order (`schemaVersion`,
    /// `mediaType`, `manifests`, `annotations`), each platform as the OCI spec orders it
    /// (`architecture`, `os`, `os.version`, `os.features`, `variant`), compact like hearth's
    /// manifests. (BuildKit's exporter indents its manifests and indexes, so neither digest
    /// matches BuildKit's; `imagetools create` writes [`Index::to_json_indented`] as buildx
    /// does.)
    pub fn to_json(&self) -> Vec<u8> {
        // Plain data of strings and numbers: serialising it cannot fail.
        serde_json::to_vec(&self.doc()).unwrap_or_default()
    }

    /// The same document indented by two spaces, as Go's `json.MarshalIndent(v, "", "  ")`
    /// writes it: `docker buildx imagetools create` stores its index so, and writing the
    /// same bytes gives the same digest for the same sources. Go escapes `<`, `>`, `&`,
    /// U+2028 and U+2029 inside strings; so does this (they occur only inside strings in
    /// JSON, so replacing them everywhere is safe).
    pub fn to_json_indented(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(
            &mut out,
            serde_json::ser::PrettyFormatter::with_indent(b"  "),
        );
        // As in `to_json`: plain data cannot fail to serialise.
        if self.doc().serialize(&mut serializer).is_err() {
            return Vec::new();
        }
        go_html_escape(&out)
    }

    fn doc(&self) -> IndexDoc<'_> {
        IndexDoc {
            schema_version: 2,
            media_type: &self.media_type,
            manifests: self
                .manifests
                .iter()
                .map(|d| EntryDoc {
                    media_type: &d.media_type,
                    digest: d.digest.to_string(),
                    size: d.size,
                    annotations: &d.annotations,
                    platform: d.platform.as_ref().map(|p| PlatformDoc {
                        architecture: &p.architecture,
                        os: &p.os,
                        os_version: &p.os_version,
                        os_features: &p.os_features,
                        variant: &p.variant,
                    }),
                })
                .collect(),
            annotations: &self.annotations,
        }
    }

    /// Whether `media_type` names an index (OCI) or a manifest list (Docker).
    pub fn is_index_media_type(media_type: &str) -> bool {
        is_index_type(media_type)
    }
}

/// Go's `encoding/json` HTML-safe escaping of serialised JSON text.
fn go_html_escape(json: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(json);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexDoc<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<EntryDoc<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryDoc<'a> {
    media_type: &'a str,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<PlatformDoc<'a>>,
}

#[derive(Serialize)]
struct PlatformDoc<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(rename = "os.version", skip_serializing_if = "str::is_empty")]
    os_version: &'a str,
    #[serde(rename = "os.features", skip_serializing_if = "<[String]>::is_empty")]
    os_features: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    variant: &'a str,
}

/// What a manifest request returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ManifestDocument {
    /// A multi-platform index.
    Index(Index),
    /// A single image manifest (boxed: it is several times larger than an index).
    Manifest(Box<Manifest>),
}

/// Why a manifest document cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DocumentError {
    /// Docker schema 1, which containerd 2 and BuildKit no longer pull.
    Schema1(String),
    /// A media type that is neither a manifest nor an index.
    UnknownMediaType(String),
    /// Not valid JSON for its type.
    Invalid(String),
}

/// The fields every manifest-like document may have; used to pick the type.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
    #[serde(default)]
    layers: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    config: Descriptor,
    #[serde(default, deserialize_with = "null_as_default")]
    layers: Vec<Descriptor>,
    #[serde(default, deserialize_with = "null_as_default")]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIndex {
    #[serde(default, deserialize_with = "null_as_default")]
    manifests: Vec<Descriptor>,
    #[serde(default, deserialize_with = "null_as_default")]
    annotations: BTreeMap<String, String>,
}

/// Strips parameters (`; charset=utf-8`) and case from a `Content-Type`.
pub(crate) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_index_type(media_type: &str) -> bool {
    media_type == media_type::OCI_INDEX || media_type == media_type::DOCKER_MANIFEST_LIST
}

fn is_manifest_type(media_type: &str) -> bool {
    media_type == media_type::OCI_MANIFEST || media_type == media_type::DOCKER_MANIFEST
}

fn is_schema1(media_type: &str) -> bool {
    media_type == media_type::DOCKER_SCHEMA1 || media_type == media_type::DOCKER_SCHEMA1_SIGNED
}

impl ManifestDocument {
    /// Parses `bytes`, using `content_type` (the response header) only when the document
    /// does not name its own media type: the body is what the digest covers, so it wins.
    pub(crate) fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, DocumentError> {
        let probe: Probe = serde_json::from_slice(bytes)
            .map_err(|e| DocumentError::Invalid(format!("not a manifest: {e}")))?;
        let declared = content_type.map(essence).unwrap_or_default();
        let media_type = match probe.media_type.filter(|m| !m.is_empty()) {
            Some(own) => own,
            None if is_index_type(&declared)
                || is_manifest_type(&declared)
                || is_schema1(&declared) =>
            {
                declared
            }
            None if probe.schema_version == Some(1) => media_type::DOCKER_SCHEMA1.to_owned(),
            // Shape detection, as BuildKit's `DetectManifestBlobMediaType`.
            None => match (
                probe.manifests.is_some(),
                probe.config.is_some() || probe.layers.is_some(),
            ) {
                (true, true) => {
                    return Err(DocumentError::Invalid(
                        "invalid ambiguous manifest and manifest list".to_owned(),
                    ));
                }
                (true, false) => media_type::OCI_INDEX.to_owned(),
                (false, true) => media_type::OCI_MANIFEST.to_owned(),
                (false, false) => {
                    return Err(DocumentError::UnknownMediaType(declared));
                }
            },
        };
        if is_schema1(&media_type) || probe.schema_version == Some(1) {
            return Err(DocumentError::Schema1(media_type));
        }
        let invalid = |e: serde_json::Error| DocumentError::Invalid(format!("{media_type}: {e}"));
        if is_index_type(&media_type) {
            let raw: RawIndex = serde_json::from_slice(bytes).map_err(invalid)?;
            Ok(ManifestDocument::Index(Index {
                media_type,
                manifests: raw.manifests,
                annotations: raw.annotations,
            }))
        } else if is_manifest_type(&media_type) {
            let raw: RawManifest = serde_json::from_slice(bytes).map_err(invalid)?;
            Ok(ManifestDocument::Manifest(Box::new(Manifest {
                media_type,
                config: raw.config,
                layers: raw.layers,
                annotations: raw.annotations,
                subject: raw.subject,
            })))
        } else {
            Err(DocumentError::UnknownMediaType(media_type))
        }
    }
}

/// The platform fields of an image configuration, for single-manifest images whose
/// platform is only declared there.
#[derive(Deserialize)]
struct ConfigPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: String,
    #[serde(default, rename = "os.version")]
    os_version: String,
    #[serde(default, rename = "os.features", deserialize_with = "null_as_default")]
    os_features: Vec<String>,
}

/// The platform an image configuration declares.
pub(crate) fn config_platform(config: &[u8]) -> Result<Platform, String> {
    let raw: ConfigPlatform =
        serde_json::from_slice(config).map_err(|e| format!("invalid image config: {e}"))?;
    Ok(Platform {
        os: raw.os,
        architecture: raw.architecture,
        variant: raw.variant,
        os_version: raw.os_version,
        os_features: raw.os_features,
    })
}

/// Reads an index entry's platform without failing the whole index on an entry that
/// lacks `os` or `architecture`; such an entry simply matches nothing.
fn lenient_platform<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Platform>, D::Error> {
    let raw: Option<ConfigPlatform> = Option::deserialize(d)?;
    Ok(raw.map(|raw| Platform {
        os: raw.os,
        architecture: raw.architecture,
        variant: raw.variant,
        os_version: raw.os_version,
        os_features: raw.os_features,
    }))
}

/// Go marshals empty maps and slices as `null`; read that as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_index_is_written_in_go_field_order_and_reads_back() {
        let entry = |arch: &str, variant: &str, n: u8| Descriptor {
            media_type: media_type::OCI_MANIFEST.to_owned(),
            digest: Digest::of(&[n]),
            size: 100 + u64::from(n),
            platform: Some(Platform::new("linux", arch, variant)),
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        };
        let index = Index {
            media_type: media_type::OCI_INDEX.to_owned(),
            manifests: vec![entry("amd64", "", 1), entry("arm", "v7", 2)],
            annotations: BTreeMap::new(),
        };
        let bytes = index.to_json();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"#),
            "{text}"
        );
        assert!(
            text.contains(r#""platform":{"architecture":"arm","os":"linux","variant":"v7"}"#),
            "{text}"
        );
        match ManifestDocument::parse(&bytes, None).unwrap() {
            ManifestDocument::Index(back) => assert_eq!(back, index),
            other => panic!("read back as {other:?}"),
        }
    }
    #[test]
    fn an_indented_index_is_what_go_marshal_indent_writes() {
        let index = Index {
            media_type: media_type::DOCKER_MANIFEST_LIST.to_owned(),
            manifests: vec![Descriptor {
                media_type: media_type::DOCKER_MANIFEST.to_owned(),
                digest: Digest::of(b"m"),
                size: 7,
                platform: Some(Platform::new("linux", "arm", "v7")),
                annotations: BTreeMap::from([("src".to_owned(), "a?b=1&c=<2>".to_owned())]),
                urls: Vec::new(),
            }],
            annotations: BTreeMap::new(),
        };
        let want = format!(
            "{{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"{}\",\n  \"manifests\": [\n    {{\n      \"mediaType\": \"{}\",\n      \"digest\": \"{}\",\n      \"size\": 7,\n      \"annotations\": {{\n        \"src\": \"a?b=1\\u0026c=\\u003c2\\u003e\"\n      }},\n      \"platform\": {{\n        \"architecture\": \"arm\",\n        \"os\": \"linux\",\n        \"variant\": \"v7\"\n      }}\n    }}\n  ]\n}}",
            media_type::DOCKER_MANIFEST_LIST,
            media_type::DOCKER_MANIFEST,
            Digest::of(b"m"),
        );
        assert_eq!(String::from_utf8(index.to_json_indented()).unwrap(), want);
        match ManifestDocument::parse(&index.to_json_indented(), None).unwrap() {
            ManifestDocument::Index(back) => assert_eq!(back, index),
            other => panic!("read back as {other:?}"),
        }
    }

    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn parses_an_oci_index_with_platforms_and_nulls() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[
                {{"mediaType":"{}","digest":"{D1}","size":10,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
                {{"mediaType":"{}","digest":"{D2}","size":11,"platform":{{"os":"unknown","architecture":"unknown"}},"annotations":null}}
            ],"annotations":null}}"#,
            media_type::OCI_INDEX,
            media_type::OCI_MANIFEST,
            media_type::OCI_MANIFEST
        );
        let ManifestDocument::Index(index) =
            ManifestDocument::parse(body.as_bytes(), None).unwrap()
        else {
            panic!("expected an index");
        };
        assert_eq!(index.manifests.len(), 2);
        assert_eq!(
            index.manifests[0].platform.as_ref().unwrap().format(),
            "linux/arm64/v8"
        );
        assert_eq!(index.manifests[1].size, 11);
    }

    #[test]
    fn media_type_comes_from_body_then_header_then_shape() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","digest":"{D1}","size":2}},"layers":null}}"#,
            media_type::DOCKER_CONFIG
        );
        let parsed =
            ManifestDocument::parse(manifest.as_bytes(), Some(media_type::DOCKER_MANIFEST))
                .unwrap();
        let ManifestDocument::Manifest(m) = parsed else {
            panic!("expected a manifest");
        };
        assert_eq!(m.media_type, media_type::DOCKER_MANIFEST);
        assert!(m.layers.is_empty());

        let ManifestDocument::Manifest(m) =
            ManifestDocument::parse(manifest.as_bytes(), Some("application/octet-stream")).unwrap()
        else {
            panic!("expected a manifest");
        };
        assert_eq!(m.media_type, media_type::OCI_MANIFEST);

        let ambiguous = format!(
            r#"{{"manifests":[],"layers":[],"config":{{"mediaType":"x","digest":"{D1}","size":1}}}}"#
        );
        assert_eq!(
            ManifestDocument::parse(ambiguous.as_bytes(), None),
            Err(DocumentError::Invalid(
                "invalid ambiguous manifest and manifest list".into()
            ))
        );
    }

    #[test]
    fn schema1_is_recognised_by_header_or_version() {
        let body = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        assert_eq!(
            ManifestDocument::parse(body, Some(media_type::DOCKER_SCHEMA1_SIGNED)),
            Err(DocumentError::Schema1(
                media_type::DOCKER_SCHEMA1_SIGNED.into()
            ))
        );
        assert_eq!(
            ManifestDocument::parse(body, None),
            Err(DocumentError::Schema1(media_type::DOCKER_SCHEMA1.into()))
        );
    }

    #[test]
    fn config_platform_reads_os_arch_variant() {
        let p = config_platform(
            br#"{"os":"linux","architecture":"arm","variant":"v6","rootfs":{"type":"layers"}}"#,
        )
        .unwrap();
        assert_eq!(p.format(), "linux/arm/v6");
    }
}
