//! The `[registry."host"]` sections.

use std::collections::BTreeMap;

use toml::de::{DeTable, DeValue};

use crate::decode::{Expected, Section, in_file_order, join, quote_key};
use crate::findings::{FindingKind, Report, Sink};
use crate::mistakes;
use crate::model::{KeyPair, Registry};
use crate::schema;

pub(super) fn registries(sink: &mut Sink<'_>, top: &Section<'_, '_>) -> BTreeMap<String, Registry> {
    let mut out = BTreeMap::new();
    let Some(entry) = top.entry(sink, "registry") else {
        return out;
    };
    let DeValue::Table(hosts) = entry.value.get_ref() else {
        top.wrong_type(sink, &entry, Expected::Table);
        return out;
    };
    for (host, value) in in_file_order(hosts) {
        let host = host.get_ref().as_ref();
        let path = join(&entry.path, host);
        let DeValue::Table(table) = value.get_ref() else {
            sink.push(
                value.span(),
                Report::error(
                    FindingKind::WrongType,
                    &path,
                    format!(
                        "`{path}` must be a table, not {}",
                        crate::decode::type_name(value.get_ref())
                    ),
                )
                .hint(format!("write the settings under a [{path}] header")),
            );
            continue;
        };
        if mistakes::unquoted_registry(sink, host, &path, value.span(), table) {
            continue;
        }
        out.insert(
            host.to_owned(),
            registry(
                sink,
                Section::new(Some(table), path, value.span(), schema::REGISTRY),
            ),
        );
    }
    out
}

fn registry(sink: &mut Sink<'_>, s: Section<'_, '_>) -> Registry {
    let mirrors = s.strings(sink, "mirrors").unwrap_or_default();
    if let Some(entry) = s.entry_quiet("mirrors") {
        for mirror in &mirrors {
            if let Some(host) = mirror.strip_prefix("http://") {
                let host = host.split('/').next().unwrap_or(host);
                sink.push(
                    entry.span(),
                    Report::warning(
                        FindingKind::Mistake,
                        &entry.path,
                        format!(
                            "the scheme of mirror {mirror:?} is ignored; it is contacted over HTTPS"
                        ),
                    )
                    .hint(format!(
                        "for plain HTTP, add a [registry.{}] section with `http = true`",
                        quote_key(host)
                    )),
                );
            }
        }
    }
    let registry = Registry {
        mirrors,
        http: s.bool(sink, "http"),
        insecure: s.bool(sink, "insecure"),
        ca: s.paths(sink, "ca").unwrap_or_default(),
        keypair: keypairs(sink, &s),
        tls_config_dir: s.paths(sink, "tlsconfigdir").unwrap_or_default(),
        daemon_credentials: s.bool(sink, "daemon-credentials").unwrap_or(false),
    };
    s.finish(sink);
    registry
}

fn keypairs(sink: &mut Sink<'_>, s: &Section<'_, '_>) -> Vec<KeyPair> {
    let Some(entry) = s.entry(sink, "keypair") else {
        return Vec::new();
    };
    let tables: Vec<(String, std::ops::Range<usize>, &DeTable<'_>)> = match entry.value.get_ref() {
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                let path = format!("{}[{index}]", entry.path);
                match item.get_ref() {
                    DeValue::Table(table) => Some((path, item.span(), table)),
                    other => {
                        sink.push(
                            item.span(),
                            Report::error(
                                FindingKind::WrongType,
                                &path,
                                format!(
                                    "`{path}` must be a table with `key` and `cert`, not {}",
                                    crate::decode::type_name(other)
                                ),
                            ),
                        );
                        None
                    }
                }
            })
            .collect(),
        DeValue::Table(table) => {
            mistakes::single_keypair(sink, &s.path, &entry);
            vec![(entry.path.clone(), entry.span(), table)]
        }
        _ => {
            s.wrong_type(sink, &entry, Expected::TableList);
            Vec::new()
        }
    };
    let mut out = Vec::new();
    for (path, span, table) in tables {
        let pair = Section::new(Some(table), path.clone(), span.clone(), schema::KEYPAIR);
        let key = pair.path(sink, "key");
        let cert = pair.path(sink, "cert");
        pair.finish(sink);
        match (key, cert) {
            (Some(key), Some(cert)) => out.push(KeyPair { key, cert }),
            (key, _) => {
                let missing = if key.is_none() { "key" } else { "cert" };
                sink.push(
                    span,
                    Report::error(
                        FindingKind::InvalidValue,
                        &path,
                        format!("`{path}` needs both `key` and `cert`; `{missing}` is missing"),
                    ),
                );
            }
        }
    }
    out
}
