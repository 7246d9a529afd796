//! `-o/--output` values in buildx's CSV spelling, turned into engine exports.

use std::path::PathBuf;

use anyhow::{Context, bail};
use hearth_engine::{Export, ExportKind, ImageFormat};
use hearth_layer::Compression;

/// Parses one `--output` value: `type=docker,dest=app.tar`, `type=oci,dest=dir,tar=false`,
/// `type=local,dest=out`, `type=tar,dest=-`, or buildx's shorthands (`-` for a tarball
/// on stdout, a bare path for a local directory).
pub(crate) fn parse_output(raw: &str) -> anyhow::Result<Export> {
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
    let fields = split_csv(raw).with_context(|| format!("invalid --output {raw:?}"))?;
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
                let level: i32 = value.parse().with_context(|| {
                    format!("invalid compression-level {value:?} in --output: expected a number")
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
    let need_dest = |what: &str| -> anyhow::Result<PathBuf> {
        dest.clone().with_context(|| {
            format!("--output type={what} needs dest=PATH (use dest=- for standard output)")
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

fn parse_bool(key: &str, value: &str) -> anyhow::Result<bool> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        other => bail!("invalid value {other:?} for {key} in --output: use true or false"),
    }
}

/// Splits `k=v,k="v,w"` as buildx's CSV reader does (one reader for outputs and caches).
fn split_csv(raw: &str) -> anyhow::Result<Vec<(String, String)>> {
    hearth_engine::cache::spec::split_attrs(raw).map_err(|e| anyhow::anyhow!(e))
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
