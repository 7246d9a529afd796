//! From a parsed TOML document to [`Config`], one function per section; the worker
//! sections are in [`worker`], the registry sections in [`registry`].
//!
//! Each function reads the keys its section declares (see [`crate::schema`]), converts and
//! checks their values, and reports the rest. Rule of thumb for severities: what BuildKit
//! refuses to start with (a wrong type, a size or duration that does not parse, an unknown
//! snapshotter) is an error; what BuildKit silently ignores (unknown keys, misquoted
//! section names) or hearth does not implement is a warning.

mod registry;
mod worker;

pub(crate) use worker::gc_policy;

use toml::de::{DeTable, DeValue};

use crate::decode::{Expected, Section};
use crate::findings::{FindingKind, Report, Sink};
use crate::mistakes;
use crate::model::{
    Cdi, Config, Dns, DockerfileFrontend, Frontends, GatewayFrontend, Grpc, GrpcTls, History,
    ListenAddress, Log, LogFormat, Otel, System,
};
use crate::schema;
use crate::suggest::did_you_mean;

/// Reads a whole document.
pub(crate) fn decode(sink: &mut Sink<'_>, root: &DeTable<'_>) -> Config {
    let top = Section::new(Some(root), String::new(), 0..0, schema::TOP);
    let config = Config {
        root: top.path(sink, "root"),
        debug: top.bool(sink, "debug").unwrap_or(false),
        trace: top.bool(sink, "trace").unwrap_or(false),
        insecure_entitlements: entitlements(sink, &top),
        log: sub(sink, &top, "log", schema::LOG, log),
        dns: sub(sink, &top, "dns", schema::DNS, dns),
        grpc: sub(sink, &top, "grpc", schema::GRPC, grpc),
        otel: sub(sink, &top, "otel", schema::OTEL, otel),
        cdi: sub(sink, &top, "cdi", schema::CDI, cdi),
        worker: sub(sink, &top, "worker", schema::WORKER, worker::workers),
        registry: registry::registries(sink, &top),
        history: sub(sink, &top, "history", schema::HISTORY, history),
        frontend: sub(sink, &top, "frontend", schema::FRONTEND, frontends),
        system: sub(sink, &top, "system", schema::SYSTEM, system),
    };
    top.finish(sink);
    config
}

/// Reads the sub-section `name` of `parent` with `read`.
fn sub<'t, 'i, T>(
    sink: &mut Sink<'_>,
    parent: &Section<'t, 'i>,
    name: &'static str,
    keys: &'static [&'static str],
    read: fn(&mut Sink<'_>, Section<'t, 'i>) -> T,
) -> T {
    let section = parent.section(sink, name, keys);
    read(sink, section)
}

/// The entitlements BuildKit knows (`util/entitlements`).
const ENTITLEMENTS: &[&str] = &["network.host", "security.insecure", "device"];

fn entitlements(sink: &mut Sink<'_>, top: &Section<'_, '_>) -> Vec<String> {
    let list = top
        .strings(sink, "insecure-entitlements")
        .unwrap_or_default();
    if let Some(entry) = top.entry_quiet("insecure-entitlements") {
        for name in list
            .iter()
            .filter(|name| !ENTITLEMENTS.contains(&name.as_str()))
        {
            // BuildKit checks entitlements given as flags, not those in the file, which
            // then simply never match a request; say so instead.
            sink.push(
                entry.span(),
                Report::warning(
                    FindingKind::InvalidValue,
                    &entry.path,
                    format!("unknown entitlement {name}; no build can ask for it"),
                )
                .maybe_hint(
                    did_you_mean(name, ENTITLEMENTS.iter().copied())
                        .map(|near| format!("did you mean \"{near}\"?")),
                ),
            );
        }
    }
    list
}

fn log(sink: &mut Sink<'_>, s: Section<'_, '_>) -> Log {
    let format =
        s.entry(sink, "format")
            .and_then(|entry| match s.entry_string(sink, &entry)?.as_str() {
                "text" => Some(LogFormat::Text),
                "json" => Some(LogFormat::Json),
                other => {
                    sink.push(
                        entry.span(),
                        Report::error(
                            FindingKind::InvalidValue,
                            &entry.path,
                            format!("unsupported log type {other:?}"),
                        )
                        .hint("write \"text\" or \"json\""),
                    );
                    None
                }
            });
    s.finish(sink);
    Log { format }
}

fn dns(sink: &mut Sink<'_>, s: Section<'_, '_>) -> Option<Dns> {
    let present = s.is_present();
    let dns = Dns {
        nameservers: s.strings(sink, "nameservers").unwrap_or_default(),
        options: s.strings(sink, "options").unwrap_or_default(),
        search_domains: s.strings(sink, "searchDomains").unwrap_or_default(),
    };
    s.finish(sink);
    present.then_some(dns)
}

fn grpc(sink: &mut Sink<'_>, s: Section<'_, '_>) -> Grpc {
    let address = listen_addresses(sink, &s);
    let security_descriptor = s.string(sink, "securityDescriptor");
    if let (Some(_), Some(entry)) = (&security_descriptor, s.entry_quiet("securityDescriptor")) {
        sink.push(
            entry.key_span.clone(),
            Report::warning(
                FindingKind::Unsupported,
                &entry.path,
                "`securityDescriptor` applies to Windows named pipes; hearth ignores it",
            ),
        );
    }
    let tls = s.section(sink, "tls", schema::GRPC_TLS);
    let tls_config = GrpcTls {
        cert: tls.path(sink, "cert"),
        key: tls.path(sink, "key"),
        ca: tls.path(sink, "ca"),
    };
    tls.finish(sink);
    let grpc = Grpc {
        address,
        debug_address: s.string(sink, "debugAddress"),
        uid: s.count(sink, "uid"),
        gid: s.count(sink, "gid"),
        security_descriptor,
        tls: tls_config,
    };
    s.finish(sink);
    grpc
}

/// `[grpc] address`: a list of `proto://address` strings, read as buildkitd's
/// `getListener` reads them.
fn listen_addresses(sink: &mut Sink<'_>, s: &Section<'_, '_>) -> Vec<ListenAddress> {
    let Some(entry) = s.entry(sink, "address") else {
        return Vec::new();
    };
    let items: Vec<(String, std::ops::Range<usize>, String)> = match entry.value.get_ref() {
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                let path = format!("{}[{index}]", entry.path);
                match item.get_ref() {
                    DeValue::String(text) => Some((text.to_string(), item.span(), path)),
                    other => {
                        sink.push(
                            item.span(),
                            Report::error(
                                FindingKind::WrongType,
                                &path,
                                format!(
                                    "`{path}` must be a string, not {}",
                                    crate::decode::type_name(other)
                                ),
                            ),
                        );
                        None
                    }
                }
            })
            .collect(),
        DeValue::String(text) => {
            s.wrong_type(sink, &entry, Expected::StringList);
            vec![(text.to_string(), entry.span(), entry.path.clone())]
        }
        _ => {
            s.wrong_type(sink, &entry, Expected::StringList);
            Vec::new()
        }
    };
    items
        .into_iter()
        .filter_map(|(text, span, path)| listen_address(sink, &text, span, &path))
        .collect()
}

fn listen_address(
    sink: &mut Sink<'_>,
    text: &str,
    span: std::ops::Range<usize>,
    path: &str,
) -> Option<ListenAddress> {
    let Some((proto, rest)) = text.split_once("://") else {
        let hint = if text.starts_with('/') {
            format!("write \"unix://{text}\"")
        } else {
            format!("write \"unix://{text}\" for a socket or \"tcp://{text}\" for a TCP port")
        };
        sink.push(
            span,
            Report::error(
                FindingKind::InvalidValue,
                path,
                format!("address {text} does not contain proto, you meant unix://{text} ?"),
            )
            .hint(hint),
        );
        return None;
    };
    match proto {
        "unix" if !rest.is_empty() => Some(ListenAddress::Unix(rest.into())),
        "tcp" if !rest.is_empty() => Some(ListenAddress::Tcp(rest.to_owned())),
        "fd" | "npipe" => {
            let what = if proto == "fd" {
                "systemd socket activation (fd://)"
            } else {
                "Windows named pipes (npipe://)"
            };
            sink.push(
                span,
                Report::warning(
                    FindingKind::Unsupported,
                    path,
                    format!("hearth does not support {what}; it ignores {text}"),
                )
                .hint("hearth listens on unix:// and tcp:// addresses"),
            );
            None
        }
        _ => {
            sink.push(
                span,
                Report::error(
                    FindingKind::InvalidValue,
                    path,
                    format!("addr {text} not supported"),
                )
                .hint("write unix:///path/to/socket or tcp://host:port"),
            );
            None
        }
    }
}

fn otel(sink: &mut Sink<'_>, s: Section<'_, '_>) -> Otel {
    let otel = Otel {
        socket_path: s.path(sink, "socketPath"),
    };
    s.finish(sink);
    otel
}

fn cdi(sink: &mut Sink<'_>, s: Section<'_, '_>) -> Cdi {
    let cdi = Cdi {
        disabled: s.bool(sink, "disabled"),
        spec_dirs: s.paths(sink, "specDirs").unwrap_or_default(),
        auto_allowed: s.strings(sink, "autoAllowed").unwrap_or_default(),
    };
    // A section that only turns CDI off asks for what hearth does anyway.
    if s.is_present() && cdi.disabled != Some(true) {
        sink.push(
            s.span.clone(),
            Report::warning(
                FindingKind::Unsupported,
                &s.path,
                "hearth does not support CDI devices; it ignores [cdi]",
            ),
        );
    }
    s.finish(sink);
    cdi
}

fn history(sink: &mut Sink<'_>, s: Section<'_, '_>) -> History {
    let history = History {
        max_age: s.duration(sink, "maxAge"),
        max_entries: s.count(sink, "maxEntries").filter(|n| *n > 0),
    };
    s.finish(sink);
    history
}

fn frontends(sink: &mut Sink<'_>, mut s: Section<'_, '_>) -> Frontends {
    for name in ["dockerfile", "gateway"] {
        if mistakes::unquoted_frontend(sink, &s, name) {
            s.claim(name);
        }
    }
    let dockerfile = s.section(sink, "dockerfile.v0", schema::FRONTEND_DOCKERFILE);
    let dockerfile_config = DockerfileFrontend {
        enabled: dockerfile.bool(sink, "enabled"),
    };
    dockerfile.finish(sink);
    let gateway = s.section(sink, "gateway.v0", schema::FRONTEND_GATEWAY);
    let gateway_config = GatewayFrontend {
        enabled: gateway.bool(sink, "enabled"),
        allowed_repositories: gateway
            .strings(sink, "allowedRepositories")
            .unwrap_or_default(),
    };
    gateway.finish(sink);
    s.finish(sink);
    Frontends {
        dockerfile: dockerfile_config,
        gateway: gateway_config,
    }
}

fn system(sink: &mut Sink<'_>, s: Section<'_, '_>) -> System {
    let system = System {
        platforms_cache_max_age: s.duration(sink, "platformsCacheMaxAge"),
    };
    s.finish(sink);
    system
}
