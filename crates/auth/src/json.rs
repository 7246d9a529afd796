//! A JSON value that keeps its objects' field order, so rewriting `config.json` leaves
//! every field the user (or docker) wrote where it was.
//!
//! `serde_json::Value` sorts object keys unless the workspace-wide `preserve_order`
//! feature is on, and turning that on would change the output of every other crate that
//! serializes a `Value`; this small tree keeps the change local.
//!
//! The type deliberately has no `Debug`: the tree holds the file's passwords.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Number;

/// A JSON value whose objects keep their field order.
#[derive(Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Object),
}

/// A JSON object as its fields in file order.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct Object(Vec<(String, Json)>);

impl Object {
    /// The value of field `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of field `key`, to change.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets field `key`: in place if it exists (keeping its position), else at the end.
    pub(crate) fn insert(&mut self, key: &str, value: Json) {
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    /// Removes the fields for which `remove` is true; returns how many went.
    pub(crate) fn remove_where(&mut self, mut remove: impl FnMut(&str) -> bool) -> usize {
        let before = self.0.len();
        self.0.retain(|(k, _)| !remove(k));
        before - self.0.len()
    }

    /// The fields in file order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl Json {
    /// A string value.
    pub(crate) fn string(value: impl Into<String>) -> Self {
        Self::String(value.into())
    }

    /// The value as a string, if it is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an object, if it is one.
    pub(crate) fn as_object(&self) -> Option<&Object> {
        match self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The JSON type's name, for messages that must not show the value itself.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Number(_) => "a number",
            Self::String(_) => "a string",
            Self::Array(_) => "an array",
            Self::Object(_) => "an object",
        }
    }
}

/// Parses a whole document. An empty (or all-whitespace) document is an empty object,
/// as docker reads an empty `config.json`.
///
/// Errors are serde_json's syntax errors ("expected value at line 3 column 1"), which
/// never quote the input: every well-formed value is accepted, so no "invalid type"
/// message can echo a password.
pub(crate) fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Json::Object(Object::default()));
    }
    serde_json::from_slice(bytes)
}

/// The document as docker writes it: indented with tabs (Go's
/// `json.MarshalIndent(config, "", "\t")`), no trailing newline.
pub(crate) fn to_pretty(doc: &Json) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serializing this tree into memory cannot fail: every key is a string and every
    // number came from serde_json.
    if doc.serialize(&mut serializer).is_err() {
        out.clear();
    }
    out
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Number(n) => n.serialize(serializer),
            Self::String(s) => serializer.serialize_str(s),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(object) => {
                let mut map = serializer.serialize_map(Some(object.0.len()))?;
                for (k, v) in &object.0 {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::string(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut object = Object::default();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            // A repeated key keeps its first position and its last value, as Go does.
            object.insert(&key, value);
        }
        Ok(Json::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> String {
        let doc = parse(text.as_bytes()).unwrap();
        String::from_utf8(to_pretty(&doc)).unwrap()
    }

    #[test]
    fn field_order_and_values_survive_a_roundtrip() {
        let text = "{\n\t\"z\": 1,\n\t\"a\": {\n\t\t\"y\": [\n\t\t\ttrue,\n\t\t\tnull,\n\t\t\t-2.5\n\t\t],\n\t\t\"b\": \"s\\\"q\"\n\t},\n\t\"m\": {}\n}";
        assert_eq!(roundtrip(text), text);
    }

    #[test]
    fn empty_document_is_an_empty_object_and_repeated_keys_keep_the_last_value() {
        assert!(parse(b"  \n").unwrap().as_object().is_some());
        assert_eq!(
            roundtrip(r#"{"a":1,"b":2,"a":3}"#),
            "{\n\t\"a\": 3,\n\t\"b\": 2\n}"
        );
    }

    #[test]
    fn syntax_errors_do_not_quote_the_input() {
        let err = parse(br#"{"auth": "c2VjcmV0LXB3" "#)
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("c2VjcmV0LXB3"), "{err}");
    }
}
