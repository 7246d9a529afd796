//! Between the engine's build request and its wire form, `BuildSpec`. The client turns
//! its parsed flags into a spec; the daemon turns the spec back into a request for its
//! engine, so a build gives the same image whichever side runs it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hearth_core::Platform;
use hearth_dockerfile::{BuildOptions, NoCache};
use hearth_engine::{BuildRequest, DockerfileSource};
use hearth_exporter::{Export, ExportKind, ImageFormat};
use hearth_graph::op::NetworkMode;
use hearth_layer::Compression;

use crate::v1::{BuildSpec, Output};

/// A spec the daemon cannot use.
#[derive(Debug, thiserror::Error)]
#[error("invalid build request from the client: {0}")]
pub struct SpecError(String);

/// The wire form of `request`, whose Dockerfile the client has read into text and whose
/// `.dockerignore` patterns are `dockerignore`.
pub fn spec_from_request(
    request: &BuildRequest,
    dockerfile_name: &str,
    dockerfile_text: &str,
) -> BuildSpec {
    let options = &request.options;
    BuildSpec {
        dockerfile_name: dockerfile_name.to_owned(),
        dockerfile_text: dockerfile_text.to_owned(),
        target: options.target.clone().unwrap_or_default(),
        build_args: options.build_args.clone().into_iter().collect(),
        platforms: if request.platforms.is_empty() {
            options
                .target_platform
                .iter()
                .map(Platform::format_all)
                .collect()
        } else {
            request.platforms.iter().map(Platform::format_all).collect()
        },
        labels: options.labels.clone().into_iter().collect(),
        no_cache: options.no_cache == NoCache::All,
        no_cache_filter: match &options.no_cache {
            NoCache::Stages(stages) => stages.clone(),
            _ => Vec::new(),
        },
        network: match options.network {
            NetworkMode::Default => "default",
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
        }
        .to_owned(),
        dockerignore: options.dockerignore.clone(),
        secret_ids: request.secrets.keys().cloned().collect(),
        allow_network_host: request.allow_network_host,
        allow_insecure: request.allow_insecure,
        outputs: request.exports.iter().map(output_of).collect(),
        cache_to: request.cache_to.iter().map(|c| c.raw.clone()).collect(),
        cache_from: request.cache_from.iter().map(|c| c.raw.clone()).collect(),
        build_contexts: request
            .build_contexts
            .iter()
            .filter_map(|(name, context)| match context {
                hearth_engine::BuildContext::Image(reference) => {
                    Some((name.clone(), reference.clone()))
                }
                // Refused by the client before a daemon build starts.
                hearth_engine::BuildContext::Dir(_) => None,
            })
            .collect(),
        // Filled by the client, which reads and writes its own cache directories.
        client_cache_sources: Vec::new(),
        client_cache_dests: Vec::new(),
    }
}

fn output_of(export: &Export) -> Output {
    let (kind, dest) = match &export.kind {
        ExportKind::Store => ("store", None),
        ExportKind::DockerArchive { dest } => ("docker-archive", Some(dest)),
        ExportKind::DockerLoad => ("docker-load", None),
        ExportKind::OciArchive { dest } => ("oci-archive", Some(dest)),
        ExportKind::OciDir { dest } => ("oci-dir", Some(dest)),
        ExportKind::Local { dest } => ("local", Some(dest)),
        ExportKind::Tar { dest } => ("tar", Some(dest)),
    };
    Output {
        kind: kind.to_owned(),
        names: export.names.clone(),
        push: export.push,
        compression: match export.format.compression {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Uncompressed => "uncompressed",
        }
        .to_owned(),
        compression_level: export.format.level,
        force_compression: export.format.force_compression,
        oci_mediatypes: export.format.oci_media_types,
        rewrite_timestamp: export.format.rewrite_timestamp,
        dest: dest.map(|d| d.display().to_string()).unwrap_or_default(),
    }
}

/// The engine request for `spec`, for a daemon whose own platform is `build_platform`.
/// The request's context path is only a label; `remote` must be set by the caller.
pub fn request_from_spec(
    spec: &BuildSpec,
    build_platform: Platform,
) -> Result<BuildRequest, SpecError> {
    let mut options = BuildOptions::for_host();
    options.build_platform = build_platform;
    options.target = Some(spec.target.clone()).filter(|t| !t.is_empty());
    options.build_args = spec.build_args.clone().into_iter().collect();
    let platforms = spec
        .platforms
        .iter()
        .map(|p| Platform::parse(p).map_err(|e| SpecError(format!("platform {p:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    options.target_platform = match platforms.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    };
    options.labels = spec.labels.clone().into_iter().collect();
    options.no_cache = if spec.no_cache {
        NoCache::All
    } else if spec.no_cache_filter.is_empty() {
        NoCache::None
    } else {
        NoCache::Stages(spec.no_cache_filter.clone())
    };
    options.network = match spec.network.as_str() {
        "" | "default" => NetworkMode::Default,
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other => return Err(SpecError(format!("network {other:?}"))),
    };
    options.dockerignore = spec.dockerignore.clone();
    let exports = spec
        .outputs
        .iter()
        .map(export_of)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BuildRequest {
        context: PathBuf::from("client-context"),
        dockerfile: DockerfileSource::Text {
            name: spec.dockerfile_name.clone(),
            text: spec.dockerfile_text.clone(),
        },
        options,
        platforms,
        // Values are asked of the client; ids alone are not needed up front.
        secrets: BTreeMap::new(),
        allow_network_host: spec.allow_network_host,
        allow_insecure: spec.allow_insecure,
        exports,
        remote: None,
        cache_from: spec
            .cache_from
            .iter()
            .map(|raw| hearth_engine::cache::parse_cache_import(raw).map_err(SpecError))
            .collect::<Result<_, _>>()?,
        cache_to: spec
            .cache_to
            .iter()
            .map(|raw| hearth_engine::cache::parse_cache_export(raw).map_err(SpecError))
            .collect::<Result<_, _>>()?,
        build_contexts: spec
            .build_contexts
            .iter()
            .map(|(name, reference)| {
                (
                    name.clone(),
                    hearth_engine::BuildContext::Image(reference.clone()),
                )
            })
            .collect(),
        // Anonymous until the daemon gives the build its client's credentials.
        credentials: std::sync::Arc::new(hearth_registry::NoCredentials),
    })
}

fn export_of(output: &Output) -> Result<Export, SpecError> {
    let dest = PathBuf::from(&output.dest);
    let kind = match output.kind.as_str() {
        "store" => ExportKind::Store,
        "docker-archive" => ExportKind::DockerArchive { dest },
        "docker-load" => ExportKind::DockerLoad,
        "oci-archive" => ExportKind::OciArchive { dest },
        "oci-dir" => ExportKind::OciDir { dest },
        "local" => ExportKind::Local { dest },
        "tar" => ExportKind::Tar { dest },
        other => return Err(SpecError(format!("output kind {other:?}"))),
    };
    let compression = match output.compression.as_str() {
        "" | "gzip" => Compression::Gzip,
        "zstd" => Compression::Zstd,
        "uncompressed" => Compression::Uncompressed,
        other => return Err(SpecError(format!("compression {other:?}"))),
    };
    Ok(Export {
        kind,
        names: output.names.clone(),
        format: ImageFormat {
            compression,
            level: output.compression_level,
            force_compression: output.force_compression,
            oci_media_types: output.oci_mediatypes,
            rewrite_timestamp: output.rewrite_timestamp,
        },
        push: output.push,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_the_wire() {
        let mut options = BuildOptions::for_host();
        options.target = Some("app".into());
        options.build_args = BTreeMap::from([("V".to_owned(), "1".to_owned())]);
        options.target_platform = Some(Platform::new("linux", "arm64", "v8"));
        options.labels = BTreeMap::from([("team".to_owned(), "x".to_owned())]);
        options.no_cache = NoCache::Stages(vec!["build".into()]);
        options.network = NetworkMode::None;
        options.dockerignore = vec!["*.log".into(), "!keep.log".into()];
        let request = BuildRequest {
            context: PathBuf::from("/src"),
            dockerfile: DockerfileSource::Path(PathBuf::from("/src/Dockerfile")),
            options: options.clone(),
            platforms: vec![Platform::new("linux", "arm64", "v8")],
            secrets: BTreeMap::from([(
                "token".to_owned(),
                hearth_worker::SecretSource::Env("TOKEN".into()),
            )]),
            allow_network_host: true,
            allow_insecure: false,
            exports: vec![
                Export {
                    kind: ExportKind::OciDir {
                        dest: PathBuf::from("out/layout"),
                    },
                    names: vec!["docker.io/library/a:1".into()],
                    format: ImageFormat {
                        compression: Compression::Zstd,
                        level: Some(3),
                        force_compression: true,
                        oci_media_types: Some(false),
                        rewrite_timestamp: true,
                    },
                    push: false,
                },
                Export {
                    kind: ExportKind::Store,
                    names: vec!["127.0.0.1:5000/a:1".into()],
                    format: ImageFormat::default(),
                    push: true,
                },
            ],
            remote: None,
            cache_from: vec![
                hearth_engine::cache::parse_cache_import("127.0.0.1:5000/cache:a").unwrap(),
            ],
            cache_to: vec![
                hearth_engine::cache::parse_cache_export(
                    "type=registry,ref=127.0.0.1:5000/cache:a,mode=max",
                )
                .unwrap(),
            ],
            build_contexts: BTreeMap::new(),
            credentials: std::sync::Arc::new(hearth_registry::NoCredentials),
        };
        let spec = spec_from_request(&request, "Dockerfile", "FROM scratch\n");
        assert_eq!(spec.secret_ids, vec!["token"]);
        let back = request_from_spec(&spec, options.build_platform.clone()).unwrap();
        assert_eq!(back.options, options);
        assert_eq!(back.platforms, request.platforms);
        assert_eq!(back.exports, request.exports);
        assert_eq!(back.cache_from, request.cache_from);
        assert_eq!(back.cache_to, request.cache_to);
        assert!(back.allow_network_host);
        assert!(matches!(
            &back.dockerfile,
            DockerfileSource::Text { name, text } if name == "Dockerfile" && text == "FROM scratch\n"
        ));
    }

    #[test]
    fn unknown_values_are_refused_with_what_they_were() {
        let spec = BuildSpec {
            network: "bridge".into(),
            ..BuildSpec::default()
        };
        let err = request_from_spec(&spec, Platform::host()).unwrap_err();
        assert!(err.to_string().contains("\"bridge\""), "{err}");
    }

    #[test]
    fn several_platforms_travel_as_a_list_and_set_no_single_target() {
        let request = BuildRequest {
            context: PathBuf::from("/src"),
            dockerfile: DockerfileSource::Path(PathBuf::from("/src/Dockerfile")),
            options: BuildOptions::for_host(),
            platforms: vec![
                Platform::new("linux", "amd64", ""),
                Platform::new("linux", "arm64", ""),
            ],
            secrets: BTreeMap::new(),
            allow_network_host: false,
            allow_insecure: false,
            exports: Vec::new(),
            remote: None,
            cache_from: Vec::new(),
            cache_to: Vec::new(),
            build_contexts: BTreeMap::from([(
                "base".to_owned(),
                hearth_engine::BuildContext::Image("127.0.0.1:5000/base:1".to_owned()),
            )]),
            credentials: std::sync::Arc::new(hearth_registry::NoCredentials),
        };
        let spec = spec_from_request(&request, "Dockerfile", "FROM scratch\n");
        assert_eq!(back_contexts(&spec), request.build_contexts);
        assert_eq!(spec.platforms, vec!["linux/amd64", "linux/arm64"]);
        let back = request_from_spec(&spec, Platform::host()).unwrap();
        assert_eq!(back.platforms, request.platforms);
        assert_eq!(back.options.target_platform, None);
    }

    fn back_contexts(spec: &BuildSpec) -> BTreeMap<String, hearth_engine::BuildContext> {
        request_from_spec(spec, Platform::host())
            .unwrap()
            .build_contexts
    }
}
