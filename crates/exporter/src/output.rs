//! What a build writes (`-o/--output`, `-t`, `--push`, `--load`): one description of an
//! output, parsed once at the edge from buildx's CSV spelling.

use std::path::PathBuf;

use hearth_layer::Compression;

use crate::ExportError;

macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(ExportError::Spec(format!($($arg)*)))
    };
}

/// What kind of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportKind {
    /// A `docker load` archive (`type=docker,dest=…`).
    DockerArchive {
        /// Where; `-` is standard output.
        dest: PathBuf,
    },
    /// The same archive loaded into the Docker daemon through its API (`type=docker`
    /// without `dest`, `--load`).
    DockerLoad,
    /// An OCI layout tarball (`type=oci`).
    OciArchive {
        /// Where; `-` is standard output.
        dest: PathBuf,
    },
    /// An OCI layout directory (`type=oci,tar=false`).
    OciDir {
        /// Where.
        dest: PathBuf,
    },
    /// The files, into a directory (`type=local`).
    Local {
        /// Where.
        dest: PathBuf,
    },
    /// The files, as a tarball (`type=tar`).
    Tar {
        /// Where; `-` is standard output.
        dest: PathBuf,
    },
    /// A named image in hearth's store (`-t`).
    Store,
}

/// How image outputs are encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFormat {
    /// Layer compression (`compression=`).
    pub compression: Compression,
    /// `compression-level=`.
    pub level: Option<i32>,
    /// `force-compression=true`.
    pub force_compression: bool,
    /// `oci-mediatypes=`; `None` picks the output's default.
    pub oci_media_types: Option<bool>,
    /// `rewrite-timestamp=true`: clamp file times in layers to `SOURCE_DATE_EPOCH`.
    pub rewrite_timestamp: bool,
}

impl Default for ImageFormat {
    fn default() -> Self {
        Self {
            compression: Compression::Gzip,
            level: None,
            force_compression: false,
            oci_media_types: None,
            rewrite_timestamp: false,
        }
    }
}

/// One output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// What and where.
    pub kind: ExportKind,
    /// Image names (`name=`, `-t`).
    pub names: Vec<String>,
    /// Encoding of image outputs.
    pub format: ImageFormat,
    /// Push the image to its names' registries (`push=true`, `type=registry`, `--push`).
    pub push: bool,
}

impl ExportKind {
    /// Whether the output holds an image (rather than the result's files).
    pub fn is_image(&self) -> bool {
        !matches!(self, Self::Local { .. } | Self::Tar { .. })
    }

    pub(crate) fn default_oci(&self) -> bool {
        matches!(self, Self::OciArchive { .. } | Self::OciDir { .. })
    }
}

/// Parses one `--output` value: `type=docker,dest=app.tar`, `type=oci,dest=dir,tar=false`,
/// `type=local,dest=out`, `type=tar,dest=-`, or buildx's shorthands (`-` for a tarball
/// on stdout, a bare path for a local directory).
pub fn parse_output(raw: &str) -> Result<Export, ExportError> {
    if !raw.contains('=') {
        let kind = if raw == "-" {
            ExportKind::Tar {
                dest: PathBuf::from("-"),
            }
        } else {
            ExportKind::Local {
                dest: PathBuf::from(raw),
            }
        };
        return Ok(Export {
            kind,
            names: Vec::new(),
            format: ImageFormat::default(),
            push: false,
        });
    }
    let fields = hearth_core::attrs::split_attrs(raw)
        .map_err(|e| ExportError::Spec(format!("invalid --output {raw:?}: {e}")))?;
    let mut kind_name = None;
    let mut dest = None;
    let mut tar = true;
    let mut names = Vec::new();
    let mut format = ImageFormat::default();
    let mut push = false;
    for (key, value) in &fields {
        let value = value.as_str();
        match key.as_str() {
            "type" => kind_name = Some(value.to_owned()),
            "dest" => dest = Some(PathBuf::from(value)),
            "tar" => tar = parse_bool(key, value)?,
            "name" => names.extend(
                value
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            ),
            "compression" => {
                format.compression = match value {
                    "gzip" => Compression::Gzip,
                    "zstd" => Compression::Zstd,
                    "uncompressed" => Compression::Uncompressed,
                    "estargz" => bail!(
                        "compression=estargz is not supported by hearth; use gzip, zstd or uncompressed"
                    ),
                    other => bail!(
                        "invalid compression {other:?} in --output: use gzip, zstd or uncompressed"
                    ),
                }
            }
            "compression-level" => {
                let level: i32 = value.parse().map_err(|_| {
                    ExportError::Spec(format!(
                        "invalid compression-level {value:?} in --output: expected a number"
                    ))
                })?;
                format.level = Some(level);
            }
            "force-compression" => format.force_compression = parse_bool(key, value)?,
            "oci-mediatypes" => format.oci_media_types = Some(parse_bool(key, value)?),
            "rewrite-timestamp" => format.rewrite_timestamp = parse_bool(key, value)?,
            "push" => push = parse_bool(key, value)?,
            // Accepted for buildx compatibility; hearth's registry client decides these.
            "push-by-digest" | "insecure" | "registry.insecure" | "unpack" | "store"
            | "buildinfo" | "attestation-inline" | "annotation" => {}
            other => bail!("unknown key {other:?} in --output {raw:?}"),
        }
    }
    let Some(kind_name) = kind_name else {
        bail!("--output {raw:?} has no type=: use type=docker, oci, local, tar or image");
    };
    let need_dest = |what: &str| -> Result<PathBuf, ExportError> {
        dest.clone().ok_or_else(|| {
            ExportError::Spec(format!(
                "--output type={what} needs dest=PATH (use dest=- for standard output)"
            ))
        })
    };
    let kind = match kind_name.as_str() {
        // Without a destination buildx loads the image into docker.
        "docker" => match dest.clone() {
            Some(dest) => ExportKind::DockerArchive { dest },
            None => ExportKind::DockerLoad,
        },
        "oci" if tar => ExportKind::OciArchive {
            dest: need_dest("oci")?,
        },
        "oci" => ExportKind::OciDir {
            dest: need_dest("oci")?,
        },
        "local" => ExportKind::Local {
            dest: need_dest("local")?,
        },
        "tar" => ExportKind::Tar {
            dest: need_dest("tar")?,
        },
        "image" if dest.is_none() => ExportKind::Store,
        // buildx: `type=registry` is `type=image,push=true`.
        "registry" => {
            push = true;
            ExportKind::Store
        }
        "cacheonly" => bail!("--output type=cacheonly is not supported yet"),
        other => bail!("unknown output type {other:?}: use docker, oci, local, tar or image"),
    };
    if push && kind != ExportKind::Store {
        bail!("push=true only applies to type=image or type=registry outputs");
    }
    if matches!(kind, ExportKind::OciDir { .. } | ExportKind::Local { .. })
        && dest.as_deref() == Some(std::path::Path::new("-"))
    {
        bail!("--output type={kind_name} writes a directory; dest=- is only for tarballs");
    }
    Ok(Export {
        kind,
        names,
        format,
        push,
    })
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ExportError> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        other => bail!("invalid value {other:?} for {key} in --output: use true or false"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildx_spellings() {
        let docker = parse_output("type=docker,dest=out/app.tar").unwrap();
        assert_eq!(
            docker.kind,
            ExportKind::DockerArchive {
                dest: "out/app.tar".into()
            }
        );
        let oci_dir = parse_output("type=oci,dest=layout,tar=false").unwrap();
        assert_eq!(
            oci_dir.kind,
            ExportKind::OciDir {
                dest: "layout".into()
            }
        );
        let zstd = parse_output(
            "type=oci,dest=a.tar,compression=zstd,compression-level=3,force-compression=true",
        )
        .unwrap();
        assert_eq!(zstd.format.compression, Compression::Zstd);
        assert_eq!(zstd.format.level, Some(3));
        assert!(zstd.format.force_compression);
        assert_eq!(
            parse_output("-").unwrap().kind,
            ExportKind::Tar { dest: "-".into() }
        );
        assert_eq!(
            parse_output("outdir").unwrap().kind,
            ExportKind::Local {
                dest: "outdir".into()
            }
        );
        let named = parse_output("type=image,\"name=a:1,b:2\"").unwrap();
        assert_eq!(named.kind, ExportKind::Store);
        assert_eq!(named.names, vec!["a:1", "b:2"]);
        assert!(!named.push);
        let pushed = parse_output("type=image,name=127.0.0.1:5000/app,push=true").unwrap();
        assert_eq!(pushed.kind, ExportKind::Store);
        assert!(pushed.push);
        let registry = parse_output("type=registry,oci-mediatypes=true").unwrap();
        assert!(registry.push);
        assert_eq!(registry.format.oci_media_types, Some(true));
    }

    #[test]
    fn mistakes_are_explained() {
        let missing = parse_output("type=oci").unwrap_err().to_string();
        assert!(missing.contains("needs dest=PATH"), "{missing}");
        assert_eq!(
            parse_output("type=docker").unwrap().kind,
            ExportKind::DockerLoad
        );
        let unknown = format!(
            "{:#}",
            parse_output("type=docker,dest=x,compresion=zstd").unwrap_err()
        );
        assert!(unknown.contains("compresion"), "{unknown}");
        let bad = format!(
            "{:#}",
            parse_output("type=docker,dest=x,compression=lz4").unwrap_err()
        );
        assert!(bad.contains("gzip, zstd or uncompressed"), "{bad}");
        assert!(parse_output("type=local,dest=-").is_err());
        let push_tar = format!(
            "{:#}",
            parse_output("type=tar,dest=x,push=true").unwrap_err()
        );
        assert!(
            push_tar.contains("type=image or type=registry"),
            "{push_tar}"
        );
    }
}
