//! `--cache-to` and `--cache-from` values, in buildx's CSV spelling.

use std::path::PathBuf;

use hearth_core::Digest;
use hearth_layer::Compression;

/// Cache mounts exported with `cache-mounts=true` take at most this many bytes unless
/// `cache-mounts-max-size=` says otherwise: CI wants its package caches, not a second
/// copy of a runaway directory.
pub const DEFAULT_CACHE_MOUNTS_MAX_SIZE: u64 = 1 << 30;

/// Which results an export carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// The final result's chain: the steps whose results are the image's layers.
    #[default]
    Min,
    /// Every result of every stage.
    Max,
}

/// Where a cache goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheTarget {
    /// A registry reference (`type=registry,ref=…`).
    Registry {
        /// The reference the cache manifest is pushed to.
        reference: String,
    },
    /// An OCI layout directory (`type=local,dest=…`).
    Local {
        /// The directory.
        dest: PathBuf,
        /// The tag in its `index.json`.
        tag: String,
    },
    /// Into the exported image's config (`type=inline`).
    Inline,
}

/// One `--cache-to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheExport {
    /// The value as given (what a client sends to hearthd).
    pub raw: String,
    /// Where.
    pub target: CacheTarget,
    /// `mode=`.
    pub mode: CacheMode,
    /// `compression=` of layers that have no blob yet.
    pub compression: Compression,
    /// `compression-level=`.
    pub level: Option<i32>,
    /// `force-compression=true`.
    pub force_compression: bool,
    /// `cache-mounts=true`: also export `RUN --mount=type=cache` directories.
    pub cache_mounts: bool,
    /// `cache-mounts-max-size=`: bytes of cache mounts exported at most.
    pub cache_mounts_max_size: u64,
    /// `ignore-error=true`: a failed export is a warning, not a failed build.
    pub ignore_error: bool,
}

/// Where a cache comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheSource {
    /// A registry reference: a cache manifest, or an image with an inline cache.
    Registry {
        /// The reference.
        reference: String,
    },
    /// An OCI layout directory (`type=local,src=…`).
    Local {
        /// The directory.
        src: PathBuf,
        /// The tag to read from its `index.json`.
        tag: String,
        /// Or a manifest digest.
        digest: Option<Digest>,
    },
}

/// One `--cache-from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheImport {
    /// The value as given (what a client sends to hearthd).
    pub raw: String,
    /// Where.
    pub source: CacheSource,
}

impl std::fmt::Display for CacheSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Registry { reference } => f.write_str(reference),
            Self::Local { src, .. } => write!(f, "{}", src.display()),
        }
    }
}

pub use hearth_core::attrs::split_attrs;

fn parse_bool(flag: &str, key: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!(
            "invalid value {other:?} for {key} in {flag}: use true or false"
        )),
    }
}

fn unsupported_type(flag: &str, kind: &str) -> String {
    match kind {
        "gha" | "s3" | "azblob" => format!(
            "{flag} type={kind} is not supported by hearth; use type=registry (any OCI registry) or type=local"
        ),
        other => format!("unknown {flag} type {other:?}: use registry, local or inline"),
    }
}

/// The attributes of a cache flag's value; a value without `=` is buildx's shorthand for
/// `type=registry,ref=VALUE`.
fn cache_attrs(raw: &str) -> Result<Vec<(String, String)>, String> {
    if raw.contains('=') {
        split_attrs(raw)
    } else {
        Ok(vec![
            ("type".to_owned(), "registry".to_owned()),
            ("ref".to_owned(), raw.to_owned()),
        ])
    }
}

/// Parses one `--cache-to` value. A value without `=` is a registry reference.
pub fn parse_cache_export(raw: &str) -> Result<CacheExport, String> {
    const FLAG: &str = "--cache-to";
    let context = |e: String| format!("invalid {FLAG} {raw:?}: {e}");
    let fields = cache_attrs(raw).map_err(context)?;
    let mut kind = None;
    let mut reference = None;
    let mut dest = None;
    let mut tag = "latest".to_owned();
    let mut export = CacheExport {
        raw: raw.to_owned(),
        target: CacheTarget::Inline,
        mode: CacheMode::Min,
        compression: Compression::Gzip,
        level: None,
        force_compression: false,
        cache_mounts: false,
        cache_mounts_max_size: DEFAULT_CACHE_MOUNTS_MAX_SIZE,
        ignore_error: false,
    };
    for (key, value) in &fields {
        let value = value.as_str();
        match key.as_str() {
            "type" => kind = Some(value.to_owned()),
            "ref" => reference = Some(value.to_owned()),
            "dest" => dest = Some(PathBuf::from(value)),
            "tag" => tag = value.to_owned(),
            "mode" => {
                export.mode = match value {
                    "min" => CacheMode::Min,
                    "max" => CacheMode::Max,
                    other => {
                        return Err(context(format!("invalid mode {other:?}: use min or max")));
                    }
                }
            }
            "compression" => {
                export.compression = match value {
                    "gzip" => Compression::Gzip,
                    "zstd" => Compression::Zstd,
                    "uncompressed" => Compression::Uncompressed,
                    other => {
                        return Err(context(format!(
                            "invalid compression {other:?}: use gzip, zstd or uncompressed"
                        )));
                    }
                }
            }
            "compression-level" => {
                export.level = Some(value.parse().map_err(|_| {
                    context(format!(
                        "invalid compression-level {value:?}: expected a number"
                    ))
                })?);
            }
            "force-compression" => export.force_compression = parse_bool(FLAG, key, value)?,
            "cache-mounts" => export.cache_mounts = parse_bool(FLAG, key, value)?,
            "cache-mounts-max-size" => {
                export.cache_mounts_max_size = parse_size(value).ok_or_else(|| {
                    context(format!(
                        "invalid cache-mounts-max-size {value:?}: use bytes or a size such as 512MB or 2GiB"
                    ))
                })?;
            }
            "ignore-error" => export.ignore_error = parse_bool(FLAG, key, value)?,
            "oci-mediatypes" => {
                if !parse_bool(FLAG, key, value)? {
                    return Err(context(
                        "oci-mediatypes=false is not supported: hearth's cache is an OCI image manifest (see docs/cache-format.md)".into(),
                    ));
                }
            }
            // hearth always writes the image-manifest layout; `false` asks for the older
            // index layout, which registries without OCI artifact support choke on anyway.
            "image-manifest" => {
                parse_bool(FLAG, key, value)?;
            }
            other => {
                return Err(context(format!(
                    "unknown attribute {other:?} (known: type, ref, dest, tag, mode, compression, compression-level, force-compression, oci-mediatypes, image-manifest, cache-mounts, cache-mounts-max-size, ignore-error)"
                )));
            }
        }
    }
    export.target = match kind.as_deref() {
        Some("registry") => CacheTarget::Registry {
            reference: reference.ok_or_else(|| context("type=registry needs ref=REF".into()))?,
        },
        Some("local") => CacheTarget::Local {
            dest: dest.ok_or_else(|| context("type=local needs dest=DIR".into()))?,
            tag,
        },
        Some("inline") => CacheTarget::Inline,
        Some(other) => return Err(context(unsupported_type(FLAG, other))),
        None => return Err(context("missing type= (registry, local or inline)".into())),
    };
    Ok(export)
}

/// Parses one `--cache-from` value. A value without `=` is a registry reference.
pub fn parse_cache_import(raw: &str) -> Result<CacheImport, String> {
    const FLAG: &str = "--cache-from";
    let context = |e: String| format!("invalid {FLAG} {raw:?}: {e}");
    let fields = cache_attrs(raw).map_err(context)?;
    let mut kind = None;
    let mut reference = None;
    let mut src = None;
    let mut tag = "latest".to_owned();
    let mut digest = None;
    for (key, value) in &fields {
        match key.as_str() {
            "type" => kind = Some(value.clone()),
            "ref" => reference = Some(value.clone()),
            "src" => src = Some(PathBuf::from(value)),
            "tag" => tag = value.clone(),
            "digest" => {
                digest = Some(value.parse::<Digest>().map_err(|_| {
                    context(format!(
                        "invalid digest {value:?}: expected sha256:<64 hex digits>"
                    ))
                })?);
            }
            // Export attributes that scripts pass to both flags; they mean nothing here.
            "mode"
            | "oci-mediatypes"
            | "image-manifest"
            | "compression"
            | "compression-level"
            | "force-compression"
            | "ignore-error"
            | "cache-mounts"
            | "cache-mounts-max-size" => {}
            other => {
                return Err(context(format!(
                    "unknown attribute {other:?} (known: type, ref, src, tag, digest)"
                )));
            }
        }
    }
    let source = match kind.as_deref() {
        Some("registry") => CacheSource::Registry {
            reference: reference.ok_or_else(|| context("type=registry needs ref=REF".into()))?,
        },
        Some("local") => CacheSource::Local {
            src: src.ok_or_else(|| context("type=local needs src=DIR".into()))?,
            tag,
            digest,
        },
        Some("inline") => {
            return Err(context(
                "an inline cache is imported from its image: use type=registry,ref=IMAGE".into(),
            ));
        }
        Some(other) => return Err(context(unsupported_type(FLAG, other))),
        None => return Err(context("missing type= (registry or local)".into())),
    };
    Ok(CacheImport {
        raw: raw.to_owned(),
        source,
    })
}

/// `1073741824`, `512MB`, `2GiB`, `100k`.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "ki" | "kib" => 1024.0,
        "mi" | "mib" => 1024.0 * 1024.0,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "ti" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * factor;
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildx_spellings_parse() {
        let max = parse_cache_export(
            "type=registry,ref=127.0.0.1:5000/cache/app:main,mode=max,oci-mediatypes=true,image-manifest=true",
        )
        .unwrap();
        assert_eq!(
            max.target,
            CacheTarget::Registry {
                reference: "127.0.0.1:5000/cache/app:main".into()
            }
        );
        assert_eq!(max.mode, CacheMode::Max);
        assert!(!max.cache_mounts);
        let local = parse_cache_export(
            "type=local,dest=/tmp/c,cache-mounts=true,cache-mounts-max-size=64MiB",
        )
        .unwrap();
        assert_eq!(local.mode, CacheMode::Min);
        assert!(local.cache_mounts);
        assert_eq!(local.cache_mounts_max_size, 64 << 20);
        assert_eq!(
            parse_cache_export("type=inline").unwrap().target,
            CacheTarget::Inline
        );
        assert_eq!(
            parse_cache_import("reg.example/app:cache").unwrap().source,
            CacheSource::Registry {
                reference: "reg.example/app:cache".into()
            }
        );
        assert_eq!(
            parse_cache_import("type=local,src=cache,tag=v2")
                .unwrap()
                .source,
            CacheSource::Local {
                src: "cache".into(),
                tag: "v2".into(),
                digest: None
            }
        );
    }

    #[test]
    fn mistakes_are_explained() {
        let err = parse_cache_export("type=gha").unwrap_err();
        assert!(err.contains("type=gha is not supported"), "{err}");
        let err = parse_cache_export("type=registry,mode=all,ref=x").unwrap_err();
        assert!(
            err.contains("invalid mode \"all\": use min or max"),
            "{err}"
        );
        let err = parse_cache_export("type=local").unwrap_err();
        assert!(err.contains("type=local needs dest=DIR"), "{err}");
        let err = parse_cache_import("type=registry,ref=x,scope=main").unwrap_err();
        assert!(err.contains("unknown attribute \"scope\""), "{err}");
        assert!(parse_cache_import("type=registry,ref=x,mode=max").is_ok());
        let err = parse_cache_export("type=registry,ref=x,oci-mediatypes=false").unwrap_err();
        assert!(err.contains("OCI image manifest"), "{err}");
    }
}
