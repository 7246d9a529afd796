//! The live terminal view (`--progress=tty`), redrawn in place like buildx's:
//!
//! ```text
//! [+] Building 3.4s (7/10)
//!  => [internal] load build definition from Dockerfile                  0.0s
//!  => CACHED [1/3] FROM docker.io/library/alpine:3.20                   0.0s
//!  => [2/3] RUN make                                                    1.2s
//!  => => # cc -o app main.c
//! ```
//!
//! [`frame`] is a pure function from the build state to the lines of one frame for a
//! terminal size; [`Tty`] redraws it at most ten times a second by moving the cursor
//! back over the previous frame.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::clock::since;
use crate::state::{Outcome, State, VertexState};

/// Frames are drawn at most this often (BuildKit: 100 ms).
const REDRAW_INTERVAL: Duration = Duration::from_millis(100);
/// Output lines shown under each running vertex (BuildKit's default, and
/// `BUILDKIT_TTY_LOG_LINES` changes it there and here).
pub(crate) const DEFAULT_LOG_LINES: usize = 6;

const BLUE: &str = "\x1b[34m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const FAINT: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// How to draw a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameOptions {
    /// Terminal columns.
    pub(crate) width: usize,
    /// Terminal rows; frames that are not final fit in them.
    pub(crate) height: usize,
    /// Output lines shown under a running vertex.
    pub(crate) log_lines: usize,
    /// Colour ended vertices and dim output (off with `NO_COLOR`).
    pub(crate) color: bool,
    /// The last frame: every vertex, and `FINISHED` if all ended.
    pub(crate) last: bool,
}

/// The lines of one vertex: its own, its status, and its recent output.
struct Block {
    lines: Vec<String>,
    logs: Vec<String>,
    running: bool,
    output_bytes: u64,
}

/// The lines of a frame, each at most `width - 1` columns wide (so the terminal never
/// wraps one), without trailing newlines.
pub(crate) fn frame(state: &State, now: SystemTime, opts: &FrameOptions) -> Vec<String> {
    let width = opts.width.max(1);
    let elapsed = since(now, state.start.unwrap_or(now)).as_secs_f64();
    let (ended, total) = (state.ended(), state.total());
    let mut header = format!("[+] Building {elapsed:.1}s ({ended}/{total})");
    if opts.last && ended > 0 && ended == total {
        header.push_str(" FINISHED");
    }
    let mut lines = vec![truncate(&header, width - 1)];

    let mut blocks: Vec<Block> = state
        .vertices()
        .iter()
        .map(|v| block(v, now, width, opts))
        .collect();

    if !opts.last {
        fit(&mut blocks, opts.height.saturating_sub(2));
    }
    for b in blocks {
        lines.extend(b.lines);
        lines.extend(b.logs);
    }
    lines
}

/// Keeps the frame within `budget` lines below the header: output lines only where
/// there is room (busiest vertices first), then ended vertices dropped from the top,
/// then running ones.
fn fit(blocks: &mut Vec<Block>, budget: usize) {
    let base: usize = blocks.iter().map(|b| b.lines.len()).sum();
    let mut free = budget.saturating_sub(base);
    let mut by_output: Vec<usize> = (0..blocks.len()).filter(|&i| blocks[i].running).collect();
    by_output.sort_by_key(|&i| std::cmp::Reverse(blocks[i].output_bytes));
    let mut show = vec![false; blocks.len()];
    for i in by_output {
        let n = blocks[i].logs.len();
        if n > 0 && n <= free {
            show[i] = true;
            free -= n;
        }
    }
    for (b, show) in blocks.iter_mut().zip(show) {
        if !show {
            b.logs.clear();
        }
    }
    let mut excess = base.saturating_sub(budget);
    for pass_running in [false, true] {
        blocks.retain(|b| {
            if excess == 0 || b.running != pass_running {
                return true;
            }
            excess = excess.saturating_sub(b.lines.len());
            false
        });
    }
}

fn block(v: &VertexState, now: SystemTime, width: usize, opts: &FrameOptions) -> Block {
    let prefix = match v.end.as_ref().map(|e| &e.outcome) {
        Some(Outcome::Cached) => "CACHED ",
        Some(Outcome::Failed(_)) => "ERROR ",
        Some(Outcome::Canceled(_)) => "CANCELED ",
        Some(Outcome::Done) | None => "",
    };
    let (run, color) = match &v.end {
        Some(end) => (
            end.duration,
            match end.outcome {
                Outcome::Failed(_) => Some(RED),
                Outcome::Canceled(_) => Some(YELLOW),
                Outcome::Done | Outcome::Cached => Some(BLUE),
            },
        ),
        None => (since(now, v.started), None),
    };
    let color = color.filter(|_| opts.color);
    let mut lines = vec![paint(
        job_line(&format!("{prefix}{}", v.name), run, width),
        color,
    )];
    if let Some((message, at)) = &v.status {
        let until = v.end.as_ref().map_or(now, |e| e.at);
        let status_color = v.end.as_ref().and(Some(BLUE)).filter(|_| opts.color);
        lines.push(paint(
            job_line(&format!("=> {}", clean(message)), since(until, *at), width),
            status_color,
        ));
    }
    let mut logs = Vec::new();
    if v.end.is_none() && opts.log_lines > 0 {
        let partial = v.partial();
        let recent = v
            .tail()
            .map(|l| l.text.as_str())
            .chain(partial.as_deref())
            .map(clean)
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>();
        let skip = recent.len().saturating_sub(opts.log_lines);
        for text in &recent[skip..] {
            let line = truncate(&format!(" => => # {text}"), width - 1);
            logs.push(paint(line, Some(FAINT).filter(|_| opts.color)));
        }
    }
    Block {
        lines,
        logs,
        running: v.end.is_none(),
        output_bytes: v.output_bytes,
    }
}

/// ` => name   1.2s`: the name left, the time right-aligned one column short of the
/// edge, as buildx lays it out; on a terminal too narrow for both, the name alone.
fn job_line(name: &str, run: Duration, width: usize) -> String {
    let mut secs = run.as_secs_f64();
    if secs < 0.05 {
        secs = 0.0;
    }
    let timer = format!(" {secs:3.1}s");
    let timer_width = timer.chars().count();
    let text_width = width.saturating_sub(timer_width + 2);
    let name_room = text_width.saturating_sub(4);
    if name_room < 12 {
        return truncate(&format!(" => {name}"), width - 1);
    }
    let text = format!(" => {}", truncate(name, name_room));
    let pad = text_width - text.chars().count();
    format!("{text}{} {timer}", " ".repeat(pad))
}

fn paint(line: String, color: Option<&str>) -> String {
    match color {
        Some(c) => format!("{c}{line}{RESET}"),
        None => line,
    }
}

/// The first `n` characters of `s`.
fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Output made safe to place on one terminal line: what a `\r` progress bar last drew,
/// without escape sequences or control characters, tabs as spaces.
pub(crate) fn clean(text: &str) -> String {
    let text = text.trim_end_matches('\r');
    let text = text.rsplit('\r').next().unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI (colours, cursor moves): parameters up to a final byte in @..~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC (titles, hyperlinks): up to BEL or ESC \.
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                // Character set designations take one more character.
                Some('(' | ')' | '*' | '+') => {
                    chars.next();
                }
                _ => {}
            },
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The terminal size: `COLUMNS`/`LINES` if set, else stderr's window size, else 80×10
/// (BuildKit's fallback).
pub(crate) fn terminal_size() -> (usize, usize) {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
    };
    let ws = rustix::termios::tcgetwinsize(std::io::stderr()).ok();
    let width = env("COLUMNS")
        .or_else(|| ws.map(|w| usize::from(w.ws_col)).filter(|&n| n > 0))
        .unwrap_or(80);
    let height = env("LINES")
        .or_else(|| ws.map(|w| usize::from(w.ws_row)).filter(|&n| n > 0))
        .unwrap_or(10);
    (width, height)
}

/// The redraw loop's state.
#[derive(Debug)]
pub(crate) struct Tty {
    /// Lines of the frame on screen, which the next frame draws over.
    drawn: usize,
    last_draw: Option<SystemTime>,
    log_lines: usize,
    color: bool,
}

impl Tty {
    /// A display reading its settings from the environment like BuildKit:
    /// `NO_COLOR` and `BUILDKIT_TTY_LOG_LINES`.
    pub(crate) fn from_env() -> Self {
        let log_lines = std::env::var("BUILDKIT_TTY_LOG_LINES")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_LOG_LINES);
        Self {
            drawn: 0,
            last_draw: None,
            log_lines,
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// Redraws if the last frame is older than the redraw interval.
    pub(crate) fn refresh(&mut self, state: &State, now: SystemTime, out: &mut String) {
        let due = self
            .last_draw
            .is_none_or(|last| since(now, last) >= REDRAW_INTERVAL);
        if due && !state.vertices().is_empty() {
            self.draw(state, now, false, out);
        }
    }

    /// Draws a frame over the previous one; the last frame stays on screen.
    pub(crate) fn draw(&mut self, state: &State, now: SystemTime, last: bool, out: &mut String) {
        let (width, height) = terminal_size();
        let lines = frame(
            state,
            now,
            &FrameOptions {
                width,
                height,
                log_lines: self.log_lines,
                color: self.color,
                last,
            },
        );
        // Hide the cursor while drawing so it does not flicker across the frame.
        out.push_str("\x1b[?25l");
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", self.drawn);
        }
        out.push('\r');
        for line in &lines {
            // Clear the rest of each line: the previous frame's line may be longer.
            out.push_str(line);
            out.push_str("\x1b[K\n");
        }
        // And everything below, where a taller previous frame ended.
        out.push_str("\x1b[J\x1b[?25h");
        self.drawn = lines.len();
        self.last_draw = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};
    use hearth_core::Digest;
    use hearth_solver::{Event, LogStream};
    use std::time::UNIX_EPOCH;

    fn t(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_714_557_600) + Duration::from_millis(ms)
    }

    fn d(name: &str) -> Digest {
        Digest::of(name.as_bytes())
    }

    fn log(name: &str, data: &str) -> Event {
        Event::Log {
            vertex: d(name),
            stream: LogStream::Stdout,
            data: data.as_bytes().to_vec(),
        }
    }

    fn started(name: &str) -> Event {
        Event::Started {
            vertex: d(name),
            name: name.to_owned(),
        }
    }

    /// A build 3.4 s in: an internal step and a cache hit done, one step running with
    /// output, one failed, one canceled.
    fn build() -> State {
        let mut s = State::default();
        s.expected_steps = Some(6);
        let load = "[internal] load build definition from Dockerfile";
        let steps: Vec<(u64, Event)> = vec![
            (0, started(load)),
            (
                10,
                Event::Status {
                    vertex: d(load),
                    message: "transferring dockerfile: 245B".into(),
                },
            ),
            (
                40,
                Event::Completed {
                    vertex: d(load),
                    duration: Duration::from_millis(40),
                },
            ),
            (
                100,
                Event::Cached {
                    vertex: d("[1/4] FROM docker.io/library/alpine:3.20"),
                    name: "[1/4] FROM docker.io/library/alpine:3.20".into(),
                },
            ),
            (200, started("[2/4] RUN apk add --no-cache build-base")),
            (
                300,
                log(
                    "[2/4] RUN apk add --no-cache build-base",
                    "fetch 1\nfetch 2\n(1/9) Installing\tlibgcc\n(2/9) Installing libstdc++\n",
                ),
            ),
            (
                400,
                log(
                    "[2/4] RUN apk add --no-cache build-base",
                    "(3/9) Installing \x1b[1mbinutils\x1b[0m\n",
                ),
            ),
            (
                500,
                log(
                    "[2/4] RUN apk add --no-cache build-base",
                    "(4/9) Installing gmp\n(5/9) Installing isl26\n 10%\r 55%",
                ),
            ),
            (600, started("[3/4] RUN make test")),
            (
                2_600,
                Event::Failed {
                    vertex: d("[3/4] RUN make test"),
                    message: "exit code: 2".into(),
                    duration: Duration::from_millis(2_000),
                },
            ),
            (650, started("[4/4] RUN make docs")),
            (
                2_700,
                Event::Failed {
                    vertex: d("[4/4] RUN make docs"),
                    message: "run: cancelled".into(),
                    duration: Duration::from_millis(2_050),
                },
            ),
        ];
        for (ms, e) in steps {
            s.apply(&e, t(ms));
        }
        s
    }

    fn check(state: &State, now_ms: u64, opts: FrameOptions, want: Expect) {
        let lines = frame(state, t(now_ms), &opts);
        for l in &lines {
            if !opts.color {
                assert!(l.chars().count() < opts.width.max(2), "too wide: {l:?}");
            }
        }
        want.assert_eq(&(lines.join("\n") + "\n"));
    }

    fn opts(width: usize, height: usize) -> FrameOptions {
        FrameOptions {
            width,
            height,
            log_lines: DEFAULT_LOG_LINES,
            color: false,
            last: false,
        }
    }

    #[test]
    fn frame_of_a_running_build() {
        check(
            &build(),
            3_400,
            opts(80, 40),
            expect![[r#"
                [+] Building 3.4s (4/7)
                 => [internal] load build definition from Dockerfile                       0.0s
                 => => transferring dockerfile: 245B                                       0.0s
                 => CACHED [1/4] FROM docker.io/library/alpine:3.20                        0.0s
                 => [2/4] RUN apk add --no-cache build-base                                3.2s
                 => => # (1/9) Installing libgcc
                 => => # (2/9) Installing libstdc++
                 => => # (3/9) Installing binutils
                 => => # (4/9) Installing gmp
                 => => # (5/9) Installing isl26
                 => => #  55%
                 => ERROR [3/4] RUN make test                                              2.0s
                 => CANCELED [4/4] RUN make docs                                           2.0s
            "#]],
        );
    }

    #[test]
    fn the_last_frame_says_finished_and_drops_output() {
        let mut s = build();
        s.apply(
            &Event::Completed {
                vertex: d("[2/4] RUN apk add --no-cache build-base"),
                duration: Duration::from_millis(3_300),
            },
            t(3_500),
        );
        s.expected_steps = None;
        let last = FrameOptions {
            last: true,
            ..opts(60, 5)
        };
        check(
            &s,
            3_600,
            last,
            expect![[r#"
            [+] Building 3.6s (5/5) FINISHED
             => [internal] load build definition from Dockerfile   0.0s
             => => transferring dockerfile: 245B                   0.0s
             => CACHED [1/4] FROM docker.io/library/alpine:3.20    0.0s
             => [2/4] RUN apk add --no-cache build-base            3.3s
             => ERROR [3/4] RUN make test                          2.0s
             => CANCELED [4/4] RUN make docs                       2.0s
        "#]],
        );
    }

    #[test]
    fn narrow_terminals_truncate_names_then_drop_timers() {
        check(
            &build(),
            3_400,
            opts(32, 40),
            expect![[r#"
                [+] Building 3.4s (4/7)
                 => [internal] load build  0.0s
                 => => transferring docke  0.0s
                 => CACHED [1/4] FROM doc  0.0s
                 => [2/4] RUN apk add --n  3.2s
                 => => # (1/9) Installing libgc
                 => => # (2/9) Installing libst
                 => => # (3/9) Installing binut
                 => => # (4/9) Installing gmp
                 => => # (5/9) Installing isl26
                 => => #  55%
                 => ERROR [3/4] RUN make   2.0s
                 => CANCELED [4/4] RUN ma  2.0s
            "#]],
        );
        check(
            &build(),
            3_400,
            opts(12, 40),
            expect![[r#"
            [+] Buildin
             => [intern
             => => tran
             => CACHED 
             => [2/4] R
             => => # (1
             => => # (2
             => => # (3
             => => # (4
             => => # (5
             => => #  5
             => ERROR [
             => CANCELE
        "#]],
        );
    }

    #[test]
    fn short_terminals_drop_output_then_ended_steps() {
        check(
            &build(),
            3_400,
            opts(80, 9),
            expect![[r#"
                [+] Building 3.4s (4/7)
                 => [internal] load build definition from Dockerfile                       0.0s
                 => => transferring dockerfile: 245B                                       0.0s
                 => CACHED [1/4] FROM docker.io/library/alpine:3.20                        0.0s
                 => [2/4] RUN apk add --no-cache build-base                                3.2s
                 => ERROR [3/4] RUN make test                                              2.0s
                 => CANCELED [4/4] RUN make docs                                           2.0s
            "#]],
        );
        check(
            &build(),
            3_400,
            opts(80, 4),
            expect![[r#"
                [+] Building 3.4s (4/7)
                 => [2/4] RUN apk add --no-cache build-base                                3.2s
                 => CANCELED [4/4] RUN make docs                                           2.0s
            "#]],
        );
    }

    #[test]
    fn colours_mark_ended_steps_and_dim_output() {
        let colored = FrameOptions {
            color: true,
            log_lines: 1,
            ..opts(60, 40)
        };
        check(
            &build(),
            3_400,
            colored,
            expect![[r#"
                [+] Building 3.4s (4/7)
                [34m => [internal] load build definition from Dockerfile   0.0s[0m
                [34m => => transferring dockerfile: 245B                   0.0s[0m
                [34m => CACHED [1/4] FROM docker.io/library/alpine:3.20    0.0s[0m
                 => [2/4] RUN apk add --no-cache build-base            3.2s
                [2m => => #  55%[0m
                [31m => ERROR [3/4] RUN make test                          2.0s[0m
                [33m => CANCELED [4/4] RUN make docs                       2.0s[0m
            "#]],
        );
    }

    #[test]
    fn output_is_cleaned_for_one_terminal_line() {
        assert_eq!(clean("a\tb"), "a b");
        assert_eq!(clean(" 10%\r 20%\r"), " 20%");
        assert_eq!(clean("\x1b[1;31mred\x1b[0m plain\x07"), "red plain");
        assert_eq!(clean("\x1b(Bx"), "x");
        assert_eq!(clean("\x1b]8;;http://x\x1b\\link\x1b]8;;\x07!"), "link!");
    }
}
