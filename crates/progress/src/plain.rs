//! BuildKit's plain progress format (`--progress=plain`).
//!
//! Output is grouped by vertex: a header `#N name`, then `#N`-prefixed log, status and
//! end lines, with a blank line between groups. Only one vertex is "current" at a time;
//! output of other running vertices is held back and printed as a group of its own
//! later, and a vertex whose group was interrupted gets `#N ...` and, when it comes
//! back, its header again. Which vertex gets the screen follows BuildKit's `textMux`
//! rules: ended vertices first (in order of ending), the current one keeps the screen
//! for an anti-flicker period that grows with its share of the traffic, and output held
//! back for too long is shown anyway.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::clock::since;
use crate::state::{Item, Outcome, State};

/// The current vertex keeps the screen at least this long (scaled by its traffic share).
const ANTI_FLICKER: Duration = Duration::from_secs(5);
/// Output held back longer than this is shown even if the current vertex is busy.
const MAX_DELAY: Duration = Duration::from_secs(10);
/// Output held back beyond this many bytes is shown at once, so memory stays bounded
/// whatever a held-back vertex prints (BuildKit has no such limit).
const MAX_HELD_BYTES: usize = 64 * 1024;

/// Printer state of one vertex, parallel to the shared state's vertices.
#[derive(Debug, Default)]
struct Vertex {
    /// `#N`, 0 until first printed.
    number: usize,
    /// Lines not printed yet, without their `#N ` prefix.
    pending: VecDeque<String>,
    pending_bytes: usize,
    /// Updates since the vertex last lost the screen (BuildKit's `count`).
    count: u64,
    /// When the current run of updates began (BuildKit's `lastBlockTime`).
    last_block: Option<SystemTime>,
    /// The `DONE`/`CACHED`/`ERROR` line was printed.
    end_printed: bool,
    /// Has updates not yet printed.
    updated: bool,
}

/// The plain printer.
#[derive(Debug, Default)]
pub(crate) struct Plain {
    vertices: Vec<Vertex>,
    /// Positions of vertices with unprinted updates, in order of their first update.
    updates: Vec<usize>,
    current: Option<usize>,
    next_number: usize,
    /// Something was printed (so the next group starts with a blank line).
    pub(crate) printed: bool,
}

/// The log-line timestamp: seconds since the vertex started, with three decimals
/// below 10 s, two below 100 s and one above, as BuildKit prints them.
pub(crate) fn offset(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let precision = if secs < 10.0 {
        3
    } else if secs < 100.0 {
        2
    } else {
        1
    };
    format!("{secs:.precision$}")
}

/// Per-vertex traffic figures for choosing who gets the screen.
#[derive(Debug, Clone, Copy)]
struct Stat {
    index: usize,
    block_time: Duration,
    speed: f64,
    share: f64,
    over_limit: bool,
}

impl Plain {
    /// Records what an event produced for the vertex at `index`.
    pub(crate) fn record(&mut self, index: usize, items: Vec<Item>, now: SystemTime) {
        if self.vertices.len() <= index {
            self.vertices.resize_with(index + 1, Vertex::default);
        }
        let v = &mut self.vertices[index];
        for item in items {
            let line = match item {
                Item::Line(l) => format!("{} {}", offset(l.offset), l.text),
                Item::Status(s) => s,
            };
            v.pending_bytes += line.len();
            v.pending.push_back(line);
        }
        if v.count == 0 {
            v.last_block = Some(now);
        }
        v.count += 1;
        if !v.updated {
            v.updated = true;
            self.updates.push(index);
        }
    }

    /// Prints what the rules allow now (BuildKit's `textMux.print`).
    pub(crate) fn print(&mut self, state: &State, now: SystemTime, out: &mut String) {
        let current = self.current;
        let ended = |i: usize| state.at(i).end.is_some();
        let mut completed: Vec<usize> =
            self.updates.iter().copied().filter(|&i| ended(i)).collect();
        let rest: Vec<usize> = self
            .updates
            .iter()
            .copied()
            .filter(|&i| !ended(i))
            .collect();

        // Vertices that ended are printed first: the current one, then the others in
        // the order they ended.
        if let Some(c) = current.filter(|c| completed.contains(c)) {
            self.print_vertex(c, state, out);
        }
        completed.sort_by_key(|&i| state.at(i).end.as_ref().map(|e| e.at));
        for i in completed {
            if Some(i) != current {
                self.print_vertex(i, state, out);
            }
        }

        if rest.is_empty() {
            if current.is_some_and(|c| !ended(c)) {
                return;
            }
            // Nothing new: give the screen to a vertex still running, so its header
            // shows that the build is waiting on it.
            if let Some(open) = (0..state.vertices().len()).find(|&i| !ended(i)) {
                self.print_vertex(open, state, out);
            }
            return;
        }

        if let Some(c) = current.filter(|c| rest.contains(c)) {
            self.print_vertex(c, state, out);
        }

        let mut candidates = rest.clone();
        if let Some(c) = current.filter(|c| !rest.contains(c)) {
            candidates.push(c);
        }
        let mut stats: Vec<Stat> = Vec::new();
        let mut max: Option<usize> = None;
        for i in candidates {
            if ended(i) {
                continue;
            }
            let v = &self.vertices[i];
            let Some(last_block) = v.last_block else {
                continue;
            };
            let block_time = since(now, last_block);
            let speed = v.count as f64 / block_time.as_secs_f64();
            let over_limit =
                (block_time > MAX_DELAY || v.pending_bytes > MAX_HELD_BYTES) && Some(i) != current;
            let beats = match max.and_then(|m| stats.iter().find(|s| s.index == m)) {
                None => true,
                Some(best) => best.speed < speed,
            };
            if over_limit || beats {
                max = Some(i);
            }
            stats.push(Stat {
                index: i,
                block_time,
                speed,
                share: 0.0,
                over_limit,
            });
        }
        let sum: f64 = stats.iter().map(|s| s.speed).sum();
        for s in &mut stats {
            s.share = s.speed / sum;
        }

        let current_open = current.filter(|&c| !ended(c));
        let Some(c) = current_open else {
            if let Some(m) = max {
                self.print_vertex(m, state, out);
            }
            return;
        };
        // Output held back too long is shown now.
        if let Some(s) = stats
            .iter()
            .find(|s| s.over_limit && rest.contains(&s.index))
        {
            let i = s.index;
            self.print_vertex(i, state, out);
            return;
        }
        // Fair split: the busier the current vertex, the longer it keeps the screen.
        if let Some(s) = stats.iter().find(|s| s.index == c) {
            let hold = 1.0 / (1.0 - s.share) * ANTI_FLICKER.as_secs_f64();
            if hold < s.block_time.as_secs_f64() {
                if let Some(m) = max {
                    self.print_vertex(m, state, out);
                }
            }
        }
    }

    /// Prints everything still held back, ended vertices first (for the end of the build).
    pub(crate) fn flush(&mut self, state: &State, now: SystemTime, out: &mut String) {
        self.print(state, now, out);
        while let Some(&i) = self.updates.first() {
            self.print_vertex(i, state, out);
        }
    }

    /// Prints one vertex's held-back lines, with a header if it is not current
    /// (BuildKit's `textMux.printVtx`).
    fn print_vertex(&mut self, index: usize, state: &State, out: &mut String) {
        let vs = state.at(index);
        if self.vertices[index].number == 0 {
            self.next_number += 1;
            self.vertices[index].number = self.next_number;
        }
        let n = self.vertices[index].number;
        if self.current != Some(index) {
            if let Some(old) = self.current {
                let old = &mut self.vertices[old];
                old.count = 0;
                let _ = writeln!(out, "#{} ...", old.number);
            }
            if self.printed {
                out.push('\n');
            }
            self.printed = true;
            let _ = writeln!(out, "#{n} {}", vs.name);
        }
        let v = &mut self.vertices[index];
        for line in v.pending.drain(..) {
            let _ = writeln!(out, "#{n} {line}");
        }
        v.pending_bytes = 0;
        v.updated = false;
        self.updates.retain(|&i| i != index);
        self.current = Some(index);

        if let Some(end) = &vs.end {
            self.current = None;
            v.count = 0;
            if !v.end_printed {
                v.end_printed = true;
                let _ = match &end.outcome {
                    Outcome::Failed(message) => writeln!(out, "#{n} ERROR: {message}"),
                    Outcome::Canceled(_) => writeln!(out, "#{n} CANCELED"),
                    Outcome::Cached => writeln!(out, "#{n} CACHED"),
                    Outcome::Done => {
                        writeln!(out, "#{n} DONE {:.1}s", end.duration.as_secs_f64())
                    }
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_lose_precision_as_they_grow() {
        assert_eq!(offset(Duration::from_millis(123)), "0.123");
        assert_eq!(offset(Duration::from_millis(9_999)), "9.999");
        assert_eq!(offset(Duration::from_millis(12_345)), "12.35");
        assert_eq!(offset(Duration::from_millis(123_456)), "123.5");
    }
}
