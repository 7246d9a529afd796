//! BuildKit's raw JSON progress (`--progress=rawjson`): one `client.SolveStatus`
//! object per line, as `buildctl`/`buildx` print it, so tools written for them can
//! read hearth's progress.
//!
//! Field names, their order and which ones are left out when empty follow the Go
//! struct tags in BuildKit's `client/graph.go`; timestamps and byte strings are encoded
//! the way Go's `encoding/json` encodes `time.Time` and `[]byte`.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hearth_core::Digest;
use hearth_solver::{Event, LogStream};
use serde::Serialize;

use crate::state::{Outcome, State, VertexState};

/// `client.SolveStatus`.
#[derive(Serialize, Default)]
struct SolveStatus<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    vertexes: Vec<Vertex<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    statuses: Vec<Status<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logs: Vec<Log>,
}

/// `client.Vertex` (hearth has no inputs or progress groups to report).
#[derive(Serialize)]
struct Vertex<'a> {
    digest: Digest,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    cached: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    error: &'a str,
}

/// `client.VertexStatus`.
#[derive(Serialize)]
struct Status<'a> {
    id: &'a str,
    vertex: Digest,
    // Go tags `current` without omitempty: always present.
    current: i64,
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed: Option<String>,
}

/// `client.VertexLog`.
#[derive(Serialize)]
struct Log {
    vertex: Digest,
    /// 1 for stdout, 2 for stderr, as file descriptors.
    stream: u8,
    /// Base64, as Go encodes `[]byte`.
    data: String,
    timestamp: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The JSON line (newline included) for `event`, already applied to `state` at `now`.
pub(crate) fn line(event: &Event, state: &State, now: SystemTime) -> String {
    let mut status = SolveStatus::default();
    let stamp = rfc3339(now);
    match event {
        Event::Started { vertex, .. }
        | Event::Cached { vertex, .. }
        | Event::Completed { vertex, .. }
        | Event::Failed { vertex, .. } => {
            if let Some(v) = state.get(vertex) {
                status.vertexes.push(vertex_of(v));
            }
        }
        Event::Status { vertex, message } => status.statuses.push(Status {
            id: message,
            vertex: *vertex,
            current: 0,
            // hearth's statuses are one-off messages, so each is reported as a status
            // that started and completed when it was sent.
            timestamp: stamp.clone(),
            started: Some(stamp.clone()),
            completed: Some(stamp),
        }),
        Event::Log {
            vertex,
            stream,
            data,
        } => status.logs.push(Log {
            vertex: *vertex,
            stream: match stream {
                LogStream::Stdout => 1,
                LogStream::Stderr => 2,
            },
            data: base64::engine::general_purpose::STANDARD.encode(data),
            timestamp: stamp,
        }),
    }
    encode(&status)
}

/// The JSON line reporting a vertex as it now stands (for vertices canceled at the end).
pub(crate) fn vertex_line(v: &VertexState) -> String {
    encode(&SolveStatus {
        vertexes: vec![vertex_of(v)],
        ..SolveStatus::default()
    })
}

fn vertex_of(v: &VertexState) -> Vertex<'_> {
    let (completed, cached, error) = match &v.end {
        None => (None, false, ""),
        Some(end) => {
            let (cached, error) = match &end.outcome {
                Outcome::Done => (false, ""),
                Outcome::Cached => (true, ""),
                Outcome::Failed(m) | Outcome::Canceled(m) => (false, m.as_str()),
            };
            (Some(rfc3339(end.at)), cached, error)
        }
    };
    Vertex {
        digest: v.digest,
        name: &v.name,
        started: Some(rfc3339(v.started)),
        completed,
        cached,
        error,
    }
}

fn encode(status: &SolveStatus<'_>) -> String {
    // Serializing plain structs of strings and numbers cannot fail; an empty object
    // is still a valid line if it ever did.
    let json = serde_json::to_string(status).unwrap_or_else(|_| "{}".to_owned());
    let mut line = go_escape(&json);
    line.push('\n');
    line
}

/// Escapes `<`, `>`, `&`, U+2028 and U+2029 as Go's JSON encoder does by default, so
/// lines match BuildKit's byte for byte. These characters can only occur inside JSON
/// strings, where the `\u` form means the same.
fn go_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `t` as Go's `time.Time` marshals to JSON in UTC: RFC 3339 with nanoseconds,
/// trailing zeros of the fraction dropped (`2024-05-01T10:00:00.12Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let since_epoch = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let nanos = since_epoch.subsec_nanos();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let mut s = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// The Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm,
/// restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_formatted_like_go() {
        let at = |secs: u64, nanos: u32| rfc3339(UNIX_EPOCH + Duration::new(secs, nanos));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_714_557_600, 120_000_000), "2024-05-01T10:00:00.12Z");
        assert_eq!(at(1_714_557_600, 1), "2024-05-01T10:00:00.000000001Z");
        assert_eq!(
            at(4_102_444_799, 999_999_999),
            "2099-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn html_characters_are_escaped_like_go() {
        assert_eq!(
            go_escape(r#"{"name":"RUN a > b && c < d"}"#),
            r#"{"name":"RUN a \u003e b \u0026\u0026 c \u003c d"}"#
        );
    }
}
