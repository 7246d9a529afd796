//! Typed reading of one TOML table against the key list of its section, reporting as it
//! goes: wrong types, values that do not parse, spellings BuildKit only tolerates, and —
//! when the section is done — every key it does not have.
//!
//! BuildKit decodes with pelletier/go-toml v1, which is lenient in two ways hearth keeps
//! (so existing files still load) but points out: it ignores unknown keys, and it matches
//! a field under its exact name, its all-lowercase name or its all-uppercase name.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::durations::{duration_hint, parse_duration};
use crate::findings::{FindingKind, Report, Sink};
use crate::schema;
use crate::sizes::DiskSpace;
use crate::suggest::did_you_mean;

/// A TOML value with its position.
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// One key of a section, found under the name the file uses.
#[derive(Debug, Clone)]
pub(crate) struct Entry<'t, 'i> {
    /// The key as the section declares it.
    pub(crate) name: &'static str,
    /// The full key path as written (`worker.oci.keepBytes`), for findings.
    pub(crate) path: String,
    /// Where the key is written.
    pub(crate) key_span: Range<usize>,
    /// Its value.
    pub(crate) value: &'t Value<'i>,
}

impl Entry<'_, '_> {
    /// Where the value is written.
    pub(crate) fn span(&self) -> Range<usize> {
        self.value.span()
    }
}

/// What a key should hold, for wrong-type messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expected {
    Bool,
    String,
    Integer,
    StringList,
    Table,
    TableList,
    Size,
    Duration,
}

impl Expected {
    fn describe(self) -> &'static str {
        match self {
            Expected::Bool => "a boolean",
            Expected::String => "a string",
            Expected::Integer => "a whole number",
            Expected::StringList => "a list of strings",
            Expected::Table => "a table",
            Expected::TableList => "an array of tables",
            Expected::Size => "a number of bytes or a string such as \"512MB\" or \"10%\"",
            Expected::Duration => "a number of seconds or a string such as \"48h\"",
        }
    }
}

/// "a string", "an integer", … for the value found.
pub(crate) fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// `parent.key`, quoting the key when TOML needs quotes for it.
pub(crate) fn join(parent: &str, key: &str) -> String {
    let key = quote_key(key);
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// A key as TOML needs it written: bare when it can be, quoted otherwise.
pub(crate) fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_owned()
    } else {
        format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// An integer value as i64, whatever radix it was written in.
pub(crate) fn integer(value: &DeValue<'_>) -> Option<i64> {
    match value {
        DeValue::Integer(int) => i64::from_str_radix(int.as_str(), int.radix()).ok(),
        _ => None,
    }
}

/// The text BuildKit hands to a text-unmarshalled field (sizes, durations): go-toml v1
/// prints the decoded value with `fmt.Fprint`, so integers arrive in decimal and floats in
/// Go's `%v` form. Tables, lists and dates are never valid there.
fn scalar_text(value: &DeValue<'_>) -> Option<String> {
    match value {
        DeValue::String(text) => Some(text.to_string()),
        DeValue::Integer(_) => integer(value).map(|i| i.to_string()),
        DeValue::Float(float) => float.as_str().parse::<f64>().ok().map(|f| {
            if f.fract() == 0.0 && f.abs() < 1e21 {
                format!("{f:.0}")
            } else {
                format!("{f}")
            }
        }),
        DeValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Converts a parsed value into an owned `toml::Value`, for free-form settings.
pub(crate) fn to_toml_value(value: &DeValue<'_>) -> toml::Value {
    match value {
        DeValue::String(text) => toml::Value::String(text.to_string()),
        DeValue::Integer(_) => integer(value).map_or_else(
            // Beyond i64: TOML itself allows no more, so keep the digits as text.
            || {
                toml::Value::String(
                    value
                        .as_integer()
                        .map(|i| i.to_string())
                        .unwrap_or_default(),
                )
            },
            toml::Value::Integer,
        ),
        DeValue::Float(float) => toml::Value::Float(parse_toml_float(float.as_str())),
        DeValue::Boolean(b) => toml::Value::Boolean(*b),
        DeValue::Datetime(datetime) => toml::Value::Datetime(*datetime),
        DeValue::Array(array) => {
            toml::Value::Array(array.iter().map(|v| to_toml_value(v.get_ref())).collect())
        }
        DeValue::Table(table) => toml::Value::Table(to_toml_table(table)),
    }
}

fn parse_toml_float(text: &str) -> f64 {
    match text.trim_start_matches('+') {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        "nan" | "-nan" => f64::NAN,
        other => other.replace('_', "").parse().unwrap_or(f64::NAN),
    }
}

/// Converts a parsed table into an owned `toml::Table`.
pub(crate) fn to_toml_table(table: &DeTable<'_>) -> toml::Table {
    table
        .iter()
        .map(|(k, v)| (k.get_ref().to_string(), to_toml_value(v.get_ref())))
        .collect()
}

/// Entries of a table in the order the file writes them.
pub(crate) fn in_file_order<'t, 'i>(
    table: &'t DeTable<'i>,
) -> Vec<(&'t Spanned<std::borrow::Cow<'i, str>>, &'t Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// A section being read: a table (or nothing, when the file has no such section), its
/// path and its declared keys.
#[derive(Debug)]
pub(crate) struct Section<'t, 'i> {
    table: Option<&'t DeTable<'i>>,
    /// The section's key path (`worker.oci`, `registry."docker.io"`), "" at top level.
    pub(crate) path: String,
    /// Where the section starts (its header, or its key for inline tables).
    pub(crate) span: Range<usize>,
    keys: &'static [&'static str],
    /// Keys a caller dealt with itself, so [`Section::finish`] does not call them unknown.
    claimed: Vec<String>,
}

impl<'t, 'i> Section<'t, 'i> {
    pub(crate) fn new(
        table: Option<&'t DeTable<'i>>,
        path: String,
        span: Range<usize>,
        keys: &'static [&'static str],
    ) -> Self {
        Self {
            table,
            path,
            span,
            keys,
            claimed: Vec::new(),
        }
    }

    /// True when the file has this section.
    pub(crate) fn is_present(&self) -> bool {
        self.table.is_some()
    }

    /// The raw table, for the few callers that walk it themselves.
    pub(crate) fn table(&self) -> Option<&'t DeTable<'i>> {
        self.table
    }

    /// The keys this section declares.
    pub(crate) fn keys(&self) -> &'static [&'static str] {
        self.keys
    }

    /// Marks `key` as handled by the caller.
    pub(crate) fn claim(&mut self, key: &str) {
        self.claimed.push(key.to_owned());
    }

    /// The spellings go-toml v1 tries for a field, in its order.
    fn spellings(name: &str) -> [String; 3] {
        [name.to_owned(), name.to_lowercase(), name.to_uppercase()]
    }

    /// Looks `name` up under the spellings BuildKit accepts; a non-canonical spelling is
    /// accepted with a warning.
    pub(crate) fn entry(&self, sink: &mut Sink<'_>, name: &'static str) -> Option<Entry<'t, 'i>> {
        debug_assert!(self.keys.contains(&name), "{name} is not in the schema");
        let table = self.table?;
        for spelling in Self::spellings(name) {
            let Some((key, value)) = table.get_key_value(spelling.as_str()) else {
                continue;
            };
            let path = join(&self.path, key.get_ref());
            if spelling != name {
                sink.push(
                    key.span(),
                    Report::warning(
                        FindingKind::Spelling,
                        &path,
                        format!("`{spelling}` is read as `{name}`"),
                    )
                    .hint(format!("write `{name}`; BuildKit accepts this spelling, but it is not the documented one")),
                );
            }
            return Some(Entry {
                name,
                path,
                key_span: key.span(),
                value,
            });
        }
        None
    }

    /// Looks `name` up again without reporting its spelling, for a second look at a
    /// key already read.
    pub(crate) fn entry_quiet(&self, name: &'static str) -> Option<Entry<'t, 'i>> {
        let table = self.table?;
        Self::spellings(name).into_iter().find_map(|spelling| {
            table
                .get_key_value(spelling.as_str())
                .map(|(key, value)| Entry {
                    name,
                    path: join(&self.path, key.get_ref()),
                    key_span: key.span(),
                    value,
                })
        })
    }

    /// Reports `entry` as holding the wrong type of value, with the right form when one
    /// can be derived from what is written.
    pub(crate) fn wrong_type(
        &self,
        sink: &mut Sink<'_>,
        entry: &Entry<'_, '_>,
        expected: Expected,
    ) {
        let value = entry.value.get_ref();
        let written = sink.text(entry.span()).to_owned();
        let name = quote_key(entry.name);
        let hint = match (expected, value) {
            (Expected::Bool, DeValue::String(text))
                if matches!(text.as_ref(), "true" | "false") =>
            {
                Some(format!("write `{name} = {text}`, without quotes"))
            }
            (Expected::Integer, DeValue::String(text)) if text.parse::<i64>().is_ok() => {
                Some(format!("write `{name} = {text}`, without quotes"))
            }
            (Expected::StringList, DeValue::String(_)) => {
                Some(format!("write `{name} = [{written}]`"))
            }
            (Expected::String, DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_)) => {
                Some(format!("write `{name} = \"{written}\"`"))
            }
            _ => None,
        };
        sink.push(
            entry.span(),
            Report::error(
                FindingKind::WrongType,
                &entry.path,
                format!(
                    "`{}` must be {}, not {}",
                    entry.path,
                    expected.describe(),
                    type_name(value)
                ),
            )
            .maybe_hint(hint),
        );
    }

    pub(crate) fn bool(&self, sink: &mut Sink<'_>, name: &'static str) -> Option<bool> {
        let entry = self.entry(sink, name)?;
        match entry.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(sink, &entry, Expected::Bool);
                None
            }
        }
    }

    /// A string; empty counts as unset, as BuildKit's `== ""` checks do.
    pub(crate) fn string(&self, sink: &mut Sink<'_>, name: &'static str) -> Option<String> {
        let entry = self.entry(sink, name)?;
        self.entry_string(sink, &entry)
    }

    pub(crate) fn entry_string(
        &self,
        sink: &mut Sink<'_>,
        entry: &Entry<'_, '_>,
    ) -> Option<String> {
        match entry.value.get_ref() {
            DeValue::String(text) if text.is_empty() => None,
            DeValue::String(text) => Some(text.to_string()),
            _ => {
                self.wrong_type(sink, entry, Expected::String);
                None
            }
        }
    }

    pub(crate) fn path(&self, sink: &mut Sink<'_>, name: &'static str) -> Option<PathBuf> {
        self.string(sink, name).map(PathBuf::from)
    }

    /// A list of strings. A lone string is an error (BuildKit refuses it) but is read as
    /// a list of one, so the rest of the configuration still makes sense.
    pub(crate) fn strings(&self, sink: &mut Sink<'_>, name: &'static str) -> Option<Vec<String>> {
        let entry = self.entry(sink, name)?;
        match entry.value.get_ref() {
            DeValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    match item.get_ref() {
                        DeValue::String(text) => out.push(text.to_string()),
                        other => sink.push(
                            item.span(),
                            Report::error(
                                FindingKind::WrongType,
                                &format!("{}[{index}]", entry.path),
                                format!(
                                    "`{}[{index}]` must be a string, not {}",
                                    entry.path,
                                    type_name(other)
                                ),
                            ),
                        ),
                    }
                }
                Some(out)
            }
            DeValue::String(text) => {
                self.wrong_type(sink, &entry, Expected::StringList);
                Some(vec![text.to_string()])
            }
            _ => {
                self.wrong_type(sink, &entry, Expected::StringList);
                None
            }
        }
    }

    pub(crate) fn paths(&self, sink: &mut Sink<'_>, name: &'static str) -> Option<Vec<PathBuf>> {
        self.strings(sink, name)
            .map(|list| list.into_iter().map(PathBuf::from).collect())
    }

    /// A non-negative whole number that fits `T`.
    pub(crate) fn count<T: TryFrom<i64>>(
        &self,
        sink: &mut Sink<'_>,
        name: &'static str,
    ) -> Option<T> {
        let entry = self.entry(sink, name)?;
        let Some(value) = integer(entry.value.get_ref()) else {
            self.wrong_type(sink, &entry, Expected::Integer);
            return None;
        };
        if value < 0 {
            sink.push(
                entry.span(),
                Report::error(
                    FindingKind::InvalidValue,
                    &entry.path,
                    format!("`{}` must not be negative, got {value}", entry.path),
                ),
            );
            return None;
        }
        match T::try_from(value) {
            Ok(value) => Some(value),
            Err(_) => {
                sink.push(
                    entry.span(),
                    Report::error(
                        FindingKind::InvalidValue,
                        &entry.path,
                        format!("`{}` is too large: {value}", entry.path),
                    ),
                );
                None
            }
        }
    }

    /// A disk-space value; zero is "not set".
    pub(crate) fn disk_space(&self, sink: &mut Sink<'_>, name: &'static str) -> Option<DiskSpace> {
        let entry = self.entry(sink, name)?;
        self.entry_disk_space(sink, &entry)
    }

    pub(crate) fn entry_disk_space(
        &self,
        sink: &mut Sink<'_>,
        entry: &Entry<'_, '_>,
    ) -> Option<DiskSpace> {
        let Some(text) = scalar_text(entry.value.get_ref()) else {
            self.wrong_type(sink, entry, Expected::Size);
            return None;
        };
        match DiskSpace::parse(&text) {
            Ok(space) if space.is_zero() => None,
            Ok(space) => Some(space),
            Err(error) => {
                sink.push(
                    entry.span(),
                    Report::error(FindingKind::InvalidValue, &entry.path, format!("`{}`: {error}", entry.path)).hint(
                        "write a number of bytes (512000000), a size with a unit (\"512MB\", \"1.5GiB\"; \
                         units are binary, so MB and MiB both mean 1024×1024 bytes) or a share of the disk (\"10%\")",
                    ),
                );
                None
            }
        }
    }

    /// A duration; zero is "not set".
    pub(crate) fn duration(&self, sink: &mut Sink<'_>, name: &'static str) -> Option<Duration> {
        let entry = self.entry(sink, name)?;
        let Some(text) = scalar_text(entry.value.get_ref()) else {
            self.wrong_type(sink, &entry, Expected::Duration);
            return None;
        };
        match parse_duration(&text) {
            Ok(duration) if duration.is_zero() => None,
            Ok(duration) => Some(duration),
            Err(error) => {
                sink.push(
                    entry.span(),
                    Report::error(
                        FindingKind::InvalidValue,
                        &entry.path,
                        format!("`{}`: {error}", entry.path),
                    )
                    .hint(duration_hint(&text)),
                );
                None
            }
        }
    }

    /// A table of strings (`labels`).
    pub(crate) fn string_map(
        &self,
        sink: &mut Sink<'_>,
        name: &'static str,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(entry) = self.entry(sink, name) else {
            return out;
        };
        let DeValue::Table(table) = entry.value.get_ref() else {
            self.wrong_type(sink, &entry, Expected::Table);
            return out;
        };
        for (key, value) in in_file_order(table) {
            match value.get_ref() {
                DeValue::String(text) => {
                    out.insert(key.get_ref().to_string(), text.to_string());
                }
                other => {
                    let path = join(&entry.path, key.get_ref());
                    sink.push(
                        value.span(),
                        Report::error(
                            FindingKind::WrongType,
                            &path,
                            format!("`{path}` must be a string, not {}", type_name(other)),
                        ),
                    );
                }
            }
        }
        out
    }

    /// A free-form table (`options`, `stargzSnapshotter`).
    pub(crate) fn any_table(&self, sink: &mut Sink<'_>, name: &'static str) -> Option<toml::Table> {
        let entry = self.entry(sink, name)?;
        match entry.value.get_ref() {
            DeValue::Table(table) => Some(to_toml_table(table)),
            _ => {
                self.wrong_type(sink, &entry, Expected::Table);
                None
            }
        }
    }

    /// A sub-section. Absent, it reads as an empty section; of another type, it is an
    /// error and reads as empty too.
    pub(crate) fn section(
        &self,
        sink: &mut Sink<'_>,
        name: &'static str,
        keys: &'static [&'static str],
    ) -> Section<'t, 'i> {
        match self.entry(sink, name) {
            Some(entry) => match entry.value.get_ref() {
                DeValue::Table(table) => {
                    Section::new(Some(table), entry.path.clone(), entry.span(), keys)
                }
                _ => {
                    self.wrong_type(sink, &entry, Expected::Table);
                    Section::new(None, entry.path, entry.key_span, keys)
                }
            },
            None => Section::new(None, join(&self.path, name), self.span.clone(), keys),
        }
    }

    /// Reports the keys of the table nobody asked for.
    pub(crate) fn finish(self, sink: &mut Sink<'_>) {
        let Some(table) = self.table else {
            return;
        };
        for (key, value) in in_file_order(table) {
            let written = key.get_ref().as_ref();
            let known = self
                .keys
                .iter()
                .any(|name| Self::spellings(name).iter().any(|s| s == written));
            if known || self.claimed.iter().any(|c| c == written) {
                continue;
            }
            let path = join(&self.path, written);
            let place = if self.path.is_empty() {
                String::new()
            } else {
                format!(" in [{}]", self.path)
            };
            let hint = if let Some(near) = did_you_mean(written, self.keys.iter().copied()) {
                // A section written under its own header gets the header back.
                let header = matches!(value.get_ref(), DeValue::Table(_))
                    && sink.text(value.span()).starts_with('[');
                Some(if header {
                    format!("did you mean `[{}]`?", join(&self.path, near))
                } else {
                    format!("did you mean `{}`?", quote_key(near))
                })
            } else {
                schema::home_of(written, self.keys).map(|home| {
                    if home.is_empty() {
                        format!("`{written}` is a top-level key; move it above the first section")
                    } else {
                        format!("`{written}` belongs under {home}")
                    }
                })
            };
            sink.push(
                key.span(),
                Report::warning(
                    FindingKind::UnknownKey,
                    &path,
                    format!("unknown key `{written}`{place}; hearth ignores it"),
                )
                .maybe_hint(hint),
            );
        }
    }
}
