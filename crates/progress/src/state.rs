//! What every display knows about the build: vertices in order of appearance, their
//! timing and outcome, and their output split into lines.
//!
//! Output arrives in arbitrary chunks; this module cuts it into lines (keeping an
//! unterminated tail until its newline or the vertex's end, as BuildKit does) and keeps
//! the last lines of each running vertex for the tty view and the failure summary.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use hearth_core::Digest;
use hearth_solver::Event;

use crate::clock::since;

/// Lines kept per vertex for the failure summary and the tty view.
pub(crate) const TAIL_LINES: usize = 50;
/// Bytes kept per vertex for the failure summary and the tty view.
pub(crate) const TAIL_BYTES: usize = 64 * 1024;
/// An unterminated line longer than this is cut into a line of its own, so a program
/// that never prints a newline (a `\r` progress bar) cannot grow the buffer without end.
pub(crate) const MAX_PARTIAL: usize = 64 * 1024;

/// One complete output line of a vertex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogLine {
    /// When the line began, relative to the vertex's start.
    pub(crate) offset: Duration,
    /// The line without its newline; invalid UTF-8 replaced.
    pub(crate) text: String,
}

/// Something a vertex produced that displays print in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// An output line.
    Line(LogLine),
    /// A status message.
    Status(String),
}

/// How a vertex ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It ran and succeeded.
    Done,
    /// Its result came from the cache.
    Cached,
    /// It failed with this message.
    Failed(String),
    /// It was interrupted because the build stopped (BuildKit's `CANCELED`).
    Canceled(String),
}

/// The end of a vertex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct End {
    /// How it ended.
    pub(crate) outcome: Outcome,
    /// How long it ran.
    pub(crate) duration: Duration,
    /// When it ended (its start plus its duration).
    pub(crate) at: SystemTime,
}

/// One vertex as displays see it.
#[derive(Debug, Clone)]
pub(crate) struct VertexState {
    /// The vertex.
    pub(crate) digest: Digest,
    /// Its progress name.
    pub(crate) name: String,
    /// An engine step announced with `Renderer::internal`, not a graph node.
    pub(crate) internal: bool,
    /// When it started (for cached vertices: when the cache hit was reported).
    pub(crate) started: SystemTime,
    /// Its end, once it ended.
    pub(crate) end: Option<End>,
    /// The latest status message and when it arrived.
    pub(crate) status: Option<(String, SystemTime)>,
    /// Bytes of output so far; the tty view gives its log lines to the busiest vertices.
    pub(crate) output_bytes: u64,
    /// The unterminated last line: when it began and its bytes.
    partial: Option<(SystemTime, Vec<u8>)>,
    /// The last lines, while they may still be needed (running or failed).
    tail: VecDeque<LogLine>,
    tail_bytes: usize,
}

impl VertexState {
    fn new(digest: Digest, name: String, started: SystemTime) -> Self {
        Self {
            digest,
            internal: hearth_solver::is_engine_step(&name),
            name,
            started,
            end: None,
            status: None,
            output_bytes: 0,
            partial: None,
            tail: VecDeque::new(),
            tail_bytes: 0,
        }
    }

    /// The kept last lines, oldest first.
    pub(crate) fn tail(&self) -> impl ExactSizeIterator<Item = &LogLine> {
        self.tail.iter()
    }

    /// The unterminated last line so far, if any.
    pub(crate) fn partial(&self) -> Option<String> {
        self.partial
            .as_ref()
            .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
    }

    /// Whether the vertex failed (a cancellation is not a failure).
    pub(crate) fn failed(&self) -> bool {
        matches!(
            self.end,
            Some(End {
                outcome: Outcome::Failed(_),
                ..
            })
        )
    }

    fn push_output(&mut self, data: &[u8], now: SystemTime, items: &mut Vec<Item>) {
        self.output_bytes += data.len() as u64;
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (at, mut bytes) = self.partial.take().unwrap_or((now, Vec::new()));
            bytes.extend_from_slice(&rest[..pos]);
            items.push(Item::Line(self.complete_line(at, &bytes)));
            rest = &rest[pos + 1..];
        }
        if rest.is_empty() {
            return;
        }
        let (at, mut bytes) = self.partial.take().unwrap_or((now, Vec::new()));
        bytes.extend_from_slice(rest);
        let mut start = 0;
        while bytes.len() - start >= MAX_PARTIAL {
            let piece = bytes[start..start + MAX_PARTIAL].to_vec();
            items.push(Item::Line(self.complete_line(at, &piece)));
            start += MAX_PARTIAL;
        }
        if start < bytes.len() {
            bytes.drain(..start);
            self.partial = Some((at, bytes));
        }
    }

    /// Turns the unterminated line into a line, as BuildKit does when a vertex ends.
    fn flush_partial(&mut self, items: &mut Vec<Item>) {
        if let Some((at, bytes)) = self.partial.take() {
            items.push(Item::Line(self.complete_line(at, &bytes)));
        }
    }

    fn complete_line(&mut self, at: SystemTime, bytes: &[u8]) -> LogLine {
        let line = LogLine {
            offset: since(at, self.started),
            text: String::from_utf8_lossy(bytes).into_owned(),
        };
        // Lines that arrive after a successful end are printed but not kept: only running
        // and failed vertices need their tail.
        if self
            .end
            .as_ref()
            .is_none_or(|e| !matches!(e.outcome, Outcome::Done | Outcome::Cached))
        {
            self.keep(line.clone());
        }
        line
    }

    fn keep(&mut self, mut line: LogLine) {
        if line.text.len() > TAIL_BYTES {
            let mut cut = TAIL_BYTES;
            while !line.text.is_char_boundary(cut) {
                cut -= 1;
            }
            line.text.truncate(cut);
        }
        self.tail_bytes += line.text.len();
        self.tail.push_back(line);
        while self.tail.len() > TAIL_LINES || self.tail_bytes > TAIL_BYTES {
            match self.tail.pop_front() {
                Some(old) => self.tail_bytes -= old.text.len(),
                None => break,
            }
        }
    }

    fn end(&mut self, outcome: Outcome, duration: Duration, items: &mut Vec<Item>) {
        self.flush_partial(items);
        if matches!(
            outcome,
            Outcome::Done | Outcome::Cached | Outcome::Canceled(_)
        ) {
            self.tail = VecDeque::new();
            self.tail_bytes = 0;
        }
        self.end = Some(End {
            outcome,
            duration,
            at: self.started + duration,
        });
    }
}

/// Whether a failure message says the vertex was interrupted rather than broken.
///
/// BuildKit shows `CANCELED` for errors ending in Go's "context canceled"; hearth's
/// solver and executor say "cancelled", so both spellings count.
pub(crate) fn is_cancellation(message: &str) -> bool {
    let message = message.trim_end();
    ["context canceled", "cancelled", "canceled"]
        .iter()
        .any(|suffix| message.ends_with(suffix))
}

/// Every vertex seen so far, in order of appearance.
#[derive(Debug, Default)]
pub(crate) struct State {
    vertices: Vec<VertexState>,
    by_digest: HashMap<Digest, usize>,
    /// When the first vertex appeared.
    pub(crate) start: Option<SystemTime>,
    /// How many graph steps the caller expects, if it said.
    pub(crate) expected_steps: Option<usize>,
}

impl State {
    /// The vertices in order of appearance.
    pub(crate) fn vertices(&self) -> &[VertexState] {
        &self.vertices
    }

    /// A vertex by position.
    pub(crate) fn at(&self, index: usize) -> &VertexState {
        &self.vertices[index]
    }

    /// A vertex by digest.
    pub(crate) fn get(&self, digest: &Digest) -> Option<&VertexState> {
        self.by_digest.get(digest).map(|&i| &self.vertices[i])
    }

    /// The position of `digest`, adding it (named after its digest, as the solver names
    /// unnamed vertices) if an event mentions it before it started.
    fn slot(&mut self, digest: Digest, name: Option<&str>, started: SystemTime) -> usize {
        if let Some(&i) = self.by_digest.get(&digest) {
            return i;
        }
        let name = name.map_or_else(|| format!("vertex {}", digest.short()), str::to_owned);
        self.start.get_or_insert(started);
        self.vertices
            .push(VertexState::new(digest, name.replace('\t', " "), started));
        self.by_digest.insert(digest, self.vertices.len() - 1);
        self.vertices.len() - 1
    }

    /// Applies `event` seen at `now`; returns the vertex's position and what it produced.
    pub(crate) fn apply(&mut self, event: &Event, now: SystemTime) -> (usize, Vec<Item>) {
        let mut items = Vec::new();
        let index = match event {
            Event::Started { vertex, name } => self.slot(*vertex, Some(name), now),
            Event::Cached { vertex, name } => {
                let i = self.slot(*vertex, Some(name), now);
                let v = &mut self.vertices[i];
                if v.end.is_none() {
                    // A cache hit is reported at the moment it is known: zero time.
                    let run = since(now, v.started);
                    v.end(Outcome::Cached, run, &mut items);
                }
                i
            }
            Event::Log { vertex, data, .. } => {
                let i = self.slot(*vertex, None, now);
                self.vertices[i].push_output(data, now, &mut items);
                i
            }
            Event::Status { vertex, message } => {
                let i = self.slot(*vertex, None, now);
                self.vertices[i].status = Some((message.clone(), now));
                items.push(Item::Status(message.clone()));
                i
            }
            Event::Completed { vertex, duration } => {
                let i = self.slot(*vertex, None, now.checked_sub(*duration).unwrap_or(now));
                let v = &mut self.vertices[i];
                if v.end.is_none() {
                    v.end(Outcome::Done, *duration, &mut items);
                }
                i
            }
            Event::Failed {
                vertex,
                message,
                duration,
            } => {
                let i = self.slot(*vertex, None, now.checked_sub(*duration).unwrap_or(now));
                let v = &mut self.vertices[i];
                if v.end.is_none() {
                    let outcome = if is_cancellation(message) {
                        Outcome::Canceled(message.clone())
                    } else {
                        Outcome::Failed(message.clone())
                    };
                    v.end(outcome, *duration, &mut items);
                }
                i
            }
        };
        (index, items)
    }

    /// Marks a vertex as an engine step rather than a graph node.
    pub(crate) fn mark_internal(&mut self, index: usize) {
        self.vertices[index].internal = true;
    }

    /// Ends every vertex still running as canceled (the build stopped around it);
    /// returns each one's position and its flushed last line.
    pub(crate) fn cancel_open(&mut self, now: SystemTime) -> Vec<(usize, Vec<Item>)> {
        let mut closed = Vec::new();
        for (i, v) in self.vertices.iter_mut().enumerate() {
            if v.end.is_none() {
                let mut items = Vec::new();
                let run = since(now, v.started);
                v.end(
                    Outcome::Canceled("context canceled".to_owned()),
                    run,
                    &mut items,
                );
                closed.push((i, items));
            }
        }
        closed
    }

    /// Vertices that have ended.
    pub(crate) fn ended(&self) -> usize {
        self.vertices.iter().filter(|v| v.end.is_some()).count()
    }

    /// All vertices the build is known to have: those seen, or more if the caller said.
    pub(crate) fn total(&self) -> usize {
        let internal = self.vertices.iter().filter(|v| v.internal).count();
        let expected = self.expected_steps.map_or(0, |n| n + internal);
        self.vertices.len().max(expected)
    }

    /// Graph steps (not internal ones) that succeeded or came from the cache.
    pub(crate) fn steps_done(&self) -> usize {
        self.vertices
            .iter()
            .filter(|v| !v.internal)
            .filter(|v| {
                v.end
                    .as_ref()
                    .is_some_and(|e| matches!(e.outcome, Outcome::Done | Outcome::Cached))
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_solver::LogStream;

    fn t(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn log(vertex: Digest, data: &[u8]) -> Event {
        Event::Log {
            vertex,
            stream: LogStream::Stdout,
            data: data.to_vec(),
        }
    }

    fn lines(items: &[Item]) -> Vec<(u128, &str)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Line(l) => Some((l.offset.as_millis(), l.text.as_str())),
                Item::Status(_) => None,
            })
            .collect()
    }

    #[test]
    fn chunks_are_cut_into_lines_stamped_when_each_line_began() {
        let d = Digest::of(b"a");
        let mut s = State::default();
        s.apply(
            &Event::Started {
                vertex: d,
                name: "x".into(),
            },
            t(1000),
        );
        let (_, items) = s.apply(&log(d, b"one\ntw"), t(1100));
        assert_eq!(lines(&items), [(100, "one")]);
        let (_, items) = s.apply(&log(d, b"o\nthree\nfo"), t(1500));
        assert_eq!(lines(&items), [(100, "two"), (500, "three")]);
        let (_, items) = s.apply(
            &Event::Failed {
                vertex: d,
                message: "boom".into(),
                duration: Duration::from_millis(900),
            },
            t(1900),
        );
        assert_eq!(lines(&items), [(500, "fo")]);
        let kept: Vec<_> = s.at(0).tail().map(|l| l.text.as_str()).collect();
        assert_eq!(kept, ["one", "two", "three", "fo"]);
        assert!(s.at(0).failed());
    }

    #[test]
    fn the_tail_keeps_the_last_lines_and_bytes_only() {
        let d = Digest::of(b"a");
        let mut s = State::default();
        let mut data = Vec::new();
        for i in 0..200 {
            data.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        s.apply(&log(d, &data), t(0));
        let kept: Vec<_> = s.at(0).tail().map(|l| l.text.clone()).collect();
        assert_eq!(kept.len(), TAIL_LINES);
        assert_eq!(kept[0], "line 150");
        assert_eq!(kept[49], "line 199");

        let big = vec![b'x'; 3 * TAIL_BYTES / 4];
        let mut chunk = big.clone();
        chunk.push(b'\n');
        s.apply(&log(d, &chunk), t(0));
        s.apply(&log(d, &chunk), t(0));
        assert_eq!(s.at(0).tail().count(), 1);
        assert!(s.at(0).tail_bytes <= TAIL_BYTES);
    }

    #[test]
    fn a_line_without_newline_is_cut_at_the_partial_limit() {
        let d = Digest::of(b"a");
        let mut s = State::default();
        let (_, items) = s.apply(&log(d, &vec![b'y'; MAX_PARTIAL * 2 + 10]), t(0));
        assert_eq!(lines(&items).len(), 2);
        assert_eq!(s.at(0).partial().map(|p| p.len()), Some(10));
    }

    #[test]
    fn success_drops_the_tail_and_cancellations_are_recognised() {
        let d = Digest::of(b"a");
        let mut s = State::default();
        s.apply(&log(d, b"hello\n"), t(0));
        s.apply(
            &Event::Completed {
                vertex: d,
                duration: Duration::from_millis(5),
            },
            t(5),
        );
        assert_eq!(s.at(0).tail().count(), 0);
        assert!(is_cancellation("run: cancelled"));
        assert!(is_cancellation("rpc error: context canceled"));
        assert!(!is_cancellation("exit code: 1"));
    }
}
