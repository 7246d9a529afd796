//! Mistakes people make in buildkitd.toml, recognised and answered with the right form.
//!
//! Where the right form can be written from what the user wrote, the finding carries it as
//! corrected TOML ([`crate::Finding::fix`]), built from the user's own values (their source
//! text, so quoting and units are kept) under the keys and headers BuildKit expects.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use crate::decode::{Entry, Section, in_file_order, join, quote_key};
use crate::findings::{FindingKind, Report, Sink};
use crate::model::GcPolicy;
use crate::parse::gc_policy;
use crate::schema;
use crate::sizes::DiskSpace;
use crate::suggest::did_you_mean;

/// What a mistaken `[worker.X.gc]` table says, read as its corrected form would be.
#[derive(Debug, Default)]
pub(crate) struct SeedGc {
    pub(crate) enabled: Option<bool>,
    pub(crate) reserved_space: Option<DiskSpace>,
    pub(crate) max_used_space: Option<DiskSpace>,
    pub(crate) min_free_space: Option<DiskSpace>,
    pub(crate) policies: Vec<GcPolicy>,
}

/// The key of `keys` that `written` spells, in any spelling go-toml v1 accepts.
fn canonical(written: &str, keys: &'static [&'static str]) -> Option<&'static str> {
    keys.iter().copied().find(|key| {
        *key == written || key.to_lowercase() == written || key.to_uppercase() == written
    })
}

/// `[worker.X.gc]` with `enabled` and `policy`: a layout seen in real setups (and in
/// generated ones) that BuildKit refuses, because `gc` is a boolean. Reports the error with
/// the corrected TOML and reads the table the way the corrected TOML reads.
pub(crate) fn seed_gc(
    sink: &mut Sink<'_>,
    worker: &Section<'_, '_>,
    entry: &Entry<'_, '_>,
    table: &DeTable<'_>,
) -> SeedGc {
    let path = &worker.path;
    let fix = corrected_seed_gc(sink, worker, table);
    sink.push(
        entry.span(),
        Report::error(
            FindingKind::Mistake,
            &entry.path,
            format!(
                "`[{path}.gc]` is not a table in buildkitd.toml; write `gc = true` under `[{path}]` \
                 and one `[[{path}.gcpolicy]]` table per policy"
            ),
        )
        .hint(format!(
            "BuildKit reads `gc` as a boolean and refuses to start with a table there; \
             replace `[{path}]` and `[{path}.gc]` with the corrected TOML"
        ))
        .fix(fix),
    );

    let seed = Section::new(
        Some(table),
        entry.path.clone(),
        entry.span(),
        schema::SEED_GC,
    );
    let reserved = seed.disk_space(sink, "reservedSpace");
    let keep_bytes = seed.disk_space(sink, "keepBytes");
    let keep_storage = seed.disk_space(sink, "gckeepstorage");
    let mut found = SeedGc {
        enabled: seed.bool(sink, "enabled"),
        reserved_space: reserved.or(keep_bytes).or(keep_storage),
        max_used_space: seed.disk_space(sink, "maxUsedSpace"),
        min_free_space: seed.disk_space(sink, "minFreeSpace"),
        policies: Vec::new(),
    };
    for (path, span, policy) in seed_policies(&seed) {
        found.policies.push(gc_policy(
            sink,
            Section::new(Some(policy), path, span, schema::GC_POLICY),
            false,
        ));
    }
    // The table's other keys are listed as dropped in the corrected TOML; reporting
    // them again one by one would only repeat it.
    found
}

/// Lines of a corrected table, each key at most once.
struct Lines {
    out: String,
    written: Vec<&'static str>,
}

impl Lines {
    fn new(header: String) -> Self {
        Self {
            out: header,
            written: Vec::new(),
        }
    }

    fn key(&mut self, name: &'static str, text: &str) {
        if self.written.contains(&name) {
            self.out.push_str(&format!("# dropped a second `{name}`\n"));
        } else {
            self.written.push(name);
            self.out
                .push_str(&format!("{} = {text}\n", quote_key(name)));
        }
    }

    fn dropped(&mut self, written: &str, why: &str) {
        self.out
            .push_str(&format!("# dropped `{written}`: {why}\n"));
    }
}

/// The policy tables under a mistaken gc table's `policy` key, with their paths.
fn seed_policies<'t, 'i>(seed: &Section<'t, 'i>) -> Vec<(String, Range<usize>, &'t DeTable<'i>)> {
    let Some(entry) = seed.entry_quiet("policy") else {
        return Vec::new();
    };
    match entry.value.get_ref() {
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| match item.get_ref() {
                DeValue::Table(table) => {
                    Some((format!("{}[{index}]", entry.path), item.span(), table))
                }
                _ => None,
            })
            .collect(),
        DeValue::Table(table) => vec![(entry.path.clone(), entry.span(), table)],
        _ => Vec::new(),
    }
}

/// The worker section rewritten: its own settings (near misses corrected), then `gc` and
/// the worker-level sizes from the gc table, then one `[[gcpolicy]]` per policy.
/// Sub-tables written under their own headers (`[worker.oci.labels]`) stay where they are.
fn corrected_seed_gc(sink: &Sink<'_>, worker: &Section<'_, '_>, gc: &DeTable<'_>) -> String {
    let keys = worker.keys();
    let mut lines = Lines::new(format!("[{}]\n", worker.path));
    for (key, value) in worker.table().map(in_file_order).unwrap_or_default() {
        let written = key.get_ref().as_ref();
        let text = sink.text(value.span());
        let inline = !matches!(value.get_ref(), DeValue::Table(_) | DeValue::Array(_))
            || text.starts_with('{')
            || (text.starts_with('[') && !text.starts_with("[["));
        if !inline {
            continue;
        }
        match canonical(written, keys).or_else(|| did_you_mean(written, keys.iter().copied())) {
            Some("gc") => {}
            Some(name) => lines.key(name, text),
            None => lines.dropped(written, "not a worker setting"),
        }
    }

    let enabled = gc
        .iter()
        .find(|(key, value)| {
            canonical(key.get_ref(), &["enabled"]).is_some()
                && matches!(value.get_ref(), DeValue::Boolean(_))
        })
        .map_or("true", |(_, value)| sink.text(value.span()));
    lines.key("gc", enabled);
    let mut policies = Vec::new();
    // The real `reservedSpace` wins over its old names wherever it is written.
    let has_reserved = gc
        .keys()
        .any(|key| canonical(key.get_ref(), &["reservedSpace"]).is_some());
    for (key, value) in in_file_order(gc) {
        let written = key.get_ref().as_ref();
        let text = sink.text(value.span());
        match canonical(written, schema::SEED_GC) {
            Some("enabled") => {}
            Some("policy") => match value.get_ref() {
                DeValue::Array(items) => {
                    policies.extend(items.iter().filter_map(|item| match item.get_ref() {
                        DeValue::Table(table) => Some(table),
                        _ => None,
                    }));
                }
                DeValue::Table(table) => policies.push(table),
                _ => lines.dropped(written, "not a list of policies"),
            },
            Some(name @ ("reservedSpace" | "maxUsedSpace" | "minFreeSpace")) => {
                lines.key(name, text);
            }
            Some(_) if !has_reserved => lines.key("reservedSpace", text),
            Some(_) => lines.dropped(written, "`reservedSpace` is set"),
            None => lines.dropped(written, "not a worker setting"),
        }
    }
    let mut out = lines.out;
    for policy in policies {
        out.push('\n');
        write_policy(&mut out, sink, &join(&worker.path, "gcpolicy"), policy);
    }
    out
}

/// One `[[header]]` policy table from `table`, with BuildKit's key names: spellings
/// normalised, near misses corrected, `keepBytes` renamed to `reservedSpace`.
fn write_policy(out: &mut String, sink: &Sink<'_>, header: &str, table: &DeTable<'_>) {
    let mut lines = Lines::new(format!("[[{header}]]\n"));
    let has_reserved = table
        .keys()
        .any(|key| canonical(key.get_ref(), &["reservedSpace"]).is_some());
    for (key, value) in in_file_order(table) {
        let written = key.get_ref().as_ref();
        let name = canonical(written, schema::GC_POLICY)
            .or_else(|| did_you_mean(written, schema::GC_POLICY.iter().copied()));
        let name = match name {
            Some("keepBytes") if has_reserved => {
                lines.dropped(written, "`reservedSpace` is set");
                continue;
            }
            Some("keepBytes") => Some("reservedSpace"),
            other => other,
        };
        // A table here came from a dotted key and has no single source text to copy.
        match (name, value.get_ref()) {
            (Some(name), value_ref) if !matches!(value_ref, DeValue::Table(_)) => {
                lines.key(name, sink.text(value.span()));
            }
            _ => lines.dropped(written, "not a gcpolicy key"),
        }
    }
    out.push_str(&lines.out);
}

/// `[worker.X.gcpolicy]` (one pair of brackets) or `gcpolicy = { … }`: a single table
/// where BuildKit wants an array of tables.
pub(crate) fn single_gcpolicy(
    sink: &mut Sink<'_>,
    worker: &str,
    entry: &Entry<'_, '_>,
    table: &DeTable<'_>,
) {
    let header = join(worker, "gcpolicy");
    let mut fix = String::new();
    write_policy(&mut fix, sink, &header, table);
    sink.push(
        entry.span(),
        Report::error(
            FindingKind::Mistake,
            &entry.path,
            format!("`gcpolicy` must be an array of tables: write `[[{header}]]`, with double brackets, once per policy"),
        )
        .hint("BuildKit refuses a single table here")
        .fix(fix),
    );
}

/// `[registry."host".keypair]` with one pair of brackets.
pub(crate) fn single_keypair(sink: &mut Sink<'_>, registry: &str, entry: &Entry<'_, '_>) {
    let header = join(registry, "keypair");
    let mut fix = format!("[[{header}]]\n");
    if let DeValue::Table(table) = entry.value.get_ref() {
        for (key, value) in in_file_order(table) {
            if let Some(name) = canonical(key.get_ref(), schema::KEYPAIR) {
                fix.push_str(&format!("{name} = {}\n", sink.text(value.span())));
            }
        }
    }
    sink.push(
        entry.span(),
        Report::error(
            FindingKind::Mistake,
            &entry.path,
            format!("`keypair` must be an array of tables: write `[[{header}]]`, with double brackets, once per key pair"),
        )
        .fix(fix),
    );
}

/// True if `table` holds any key of a registry section.
fn has_registry_keys(table: &DeTable<'_>) -> bool {
    table
        .keys()
        .any(|key| canonical(key.get_ref(), schema::REGISTRY).is_some())
}

/// `[registry.docker.io]` without quotes: TOML reads host `docker` with a table `io`.
/// BuildKit ignores such a section without a word; hearth ignores it too, but says why.
/// Returns true when `table` is such a nesting (and has been reported).
pub(crate) fn unquoted_registry(
    sink: &mut Sink<'_>,
    host: &str,
    path: &str,
    span: Range<usize>,
    table: &DeTable<'_>,
) -> bool {
    if has_registry_keys(table) {
        return false;
    }
    let mut name = host.to_owned();
    let mut current = table;
    loop {
        let mut entries = current.iter();
        let (Some((key, value)), None) = (entries.next(), entries.next()) else {
            return false;
        };
        let DeValue::Table(inner) = value.get_ref() else {
            return false;
        };
        name = format!("{name}.{}", key.get_ref());
        current = inner;
        if has_registry_keys(current) {
            break;
        }
    }
    sink.push(
        span,
        Report::warning(
            FindingKind::Mistake,
            path,
            format!("`[registry.{name}]` is read as nested tables, not as host \"{name}\"; hearth ignores it, as BuildKit does"),
        )
        .hint(format!("quote the host name: [registry.\"{name}\"]")),
    );
    true
}

/// `[frontend.dockerfile.v0]` without quotes: TOML reads `frontend` → `dockerfile` → `v0`.
/// Returns true when `name` is such a nesting (and has been reported).
pub(crate) fn unquoted_frontend(
    sink: &mut Sink<'_>,
    frontend: &Section<'_, '_>,
    name: &str,
) -> bool {
    let Some((key, value)) = frontend.table().and_then(|table| table.get_key_value(name)) else {
        return false;
    };
    let DeValue::Table(inner) = value.get_ref() else {
        return false;
    };
    if !inner.contains_key("v0") {
        return false;
    }
    sink.push(
        key.span(),
        Report::warning(
            FindingKind::Mistake,
            &join(&frontend.path, name),
            format!("`[frontend.{name}.v0]` is read as nested tables, not as frontend \"{name}.v0\"; hearth ignores it, as BuildKit does"),
        )
        .hint(format!("quote the name: [frontend.{}]", quote_key(&format!("{name}.v0")))),
    );
    true
}

/// A hint for a TOML syntax error on `line`, for the mistakes that cause most of them:
/// unquoted sizes and durations, and unquoted host names with ports.
pub(crate) fn syntax_hint(line: &str) -> Option<String> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("[registry.") {
        let host = rest.trim_end_matches(']').trim_end_matches(']');
        if !host.starts_with('"') {
            return Some(format!("quote the host name: [registry.\"{host}\"]"));
        }
    }
    let (key, value) = line.split_once('=')?;
    let value = value.split(" #").next().unwrap_or(value).trim();
    let unquoted_unit = value.starts_with(|c: char| c.is_ascii_digit())
        && value.contains(|c: char| c.is_ascii_alphabetic() || c == '%')
        && !value.starts_with("0x")
        && !value.starts_with("0o")
        && !value.starts_with("0b");
    unquoted_unit.then(|| format!("quote the value: {} = \"{value}\"", key.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_hints() {
        assert_eq!(
            syntax_hint("  reservedSpace = 10GB"),
            Some("quote the value: reservedSpace = \"10GB\"".to_owned())
        );
        assert_eq!(
            syntax_hint("keepDuration = 48h # two days"),
            Some("quote the value: keepDuration = \"48h\"".to_owned())
        );
        assert_eq!(
            syntax_hint("maxUsedSpace = 80%"),
            Some("quote the value: maxUsedSpace = \"80%\"".to_owned())
        );
        assert_eq!(
            syntax_hint("[registry.localhost:5000]"),
            Some("quote the host name: [registry.\"localhost:5000\"]".to_owned())
        );
        assert_eq!(syntax_hint("x = 0x1F"), None);
        assert_eq!(syntax_hint("debug = tru"), None);
        assert_eq!(syntax_hint("[worker.oci"), None);
    }
}
