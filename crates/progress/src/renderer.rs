//! The [`Renderer`]: feeds events to the shared state and the chosen display, and owns
//! the writer.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use hearth_core::Digest;
use hearth_solver::Event;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::clock::{Clock, SystemClock, since};
use crate::mode::Mode;
use crate::plain::Plain;
use crate::rawjson;
use crate::state::State;
use crate::summary::{Summary, failure_logs};
use crate::tty::Tty;

/// The display a renderer drives.
#[derive(Debug)]
enum Display {
    Plain(Plain),
    Tty(Tty),
    RawJson,
}

/// An engine step shown like a vertex (`[internal] load build definition from
/// Dockerfile`); end it with [`Renderer::finish_internal`].
#[derive(Debug)]
#[must_use = "an internal step stays running until passed to Renderer::finish_internal"]
pub struct InternalStep {
    vertex: Digest,
    started: SystemTime,
}

impl InternalStep {
    /// The step's vertex digest, for status or log events about it.
    pub fn vertex(&self) -> Digest {
        self.vertex
    }
}

/// Turns progress events into what the user sees, in one [`Mode`].
pub struct Renderer {
    mode: Mode,
    out: Box<dyn Write + Send>,
    clock: Box<dyn Clock>,
    state: State,
    display: Display,
    /// The first write error; later writes are skipped and `finish` reports it.
    error: Option<io::Error>,
    internal_steps: u64,
    finished: bool,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("mode", &self.mode)
            .field("vertices", &self.state.vertices().len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer writing to `out`; `Mode::Auto` picks tty if stderr is a terminal.
    pub fn new(mode: Mode, out: Box<dyn Write + Send>) -> Renderer {
        Self::with_clock(mode, out, Box::new(SystemClock::new()))
    }

    /// A renderer reading the time from `clock` (tests pass a clock they control).
    pub fn with_clock(mode: Mode, out: Box<dyn Write + Send>, clock: Box<dyn Clock>) -> Renderer {
        let mode = mode.resolve_for_stderr();
        let display = match mode {
            Mode::Tty => Display::Tty(Tty::from_env()),
            Mode::RawJson => Display::RawJson,
            Mode::Plain | Mode::Auto => Display::Plain(Plain::default()),
        };
        Renderer {
            mode,
            out,
            clock,
            state: State::default(),
            display,
            error: None,
            internal_steps: 0,
            finished: false,
        }
    }

    /// The mode in use (never `Auto`).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Tells how many graph steps the build has, so the tty header counts them all
    /// before they start (`(3/12)` rather than `(3/4)`).
    pub fn set_total_steps(&mut self, steps: usize) {
        self.state.expected_steps = Some(steps);
    }

    /// Feeds one event (the caller drains the solver's channel into this).
    pub fn handle(&mut self, event: &hearth_solver::Event) {
        if self.finished {
            return;
        }
        let now = self.clock.now();
        self.apply(event, now);
    }

    /// Lets time-based display changes happen without an event: the tty view's
    /// clock, and plain output held back while another vertex has the screen.
    /// [`drain`] calls it regularly.
    pub fn tick(&mut self) {
        if self.finished {
            return;
        }
        let now = self.clock.now();
        let mut buf = String::new();
        match &mut self.display {
            Display::Plain(p) => p.print(&self.state, now, &mut buf),
            Display::Tty(t) => t.refresh(&self.state, now, &mut buf),
            Display::RawJson => {}
        }
        self.write(&buf);
    }

    /// Announces an internal step the engine performs outside the solver (e.g.
    /// `[internal] load build definition from Dockerfile`) — returns a handle to
    /// complete it.
    pub fn internal(&mut self, name: &str) -> InternalStep {
        self.internal_steps += 1;
        // Unique per renderer and stable across runs, so rawjson output is reproducible.
        let vertex = Digest::of(
            format!("hearth-progress internal {}\0{name}", self.internal_steps).as_bytes(),
        );
        let now = self.clock.now();
        let step = InternalStep {
            vertex,
            started: now,
        };
        if self.finished {
            return step;
        }
        let index = self.apply(
            &Event::Started {
                vertex,
                name: name.to_owned(),
            },
            now,
        );
        self.state.mark_internal(index);
        step
    }

    /// Ends an internal step: `Ok` shows it done, `Err(message)` failed.
    pub fn finish_internal(&mut self, step: InternalStep, result: Result<(), &str>) {
        if self.finished {
            return;
        }
        let now = self.clock.now();
        let duration = since(now, step.started);
        let event = match result {
            Ok(()) => Event::Completed {
                vertex: step.vertex,
                duration,
            },
            Err(message) => Event::Failed {
                vertex: step.vertex,
                message: message.to_owned(),
                duration,
            },
        };
        self.apply(&event, now);
    }

    /// Ends the display and prints the closing summary line.
    ///
    /// Vertices still running are shown as canceled. Plain and tty output end with
    /// BuildKit's error summary for failed vertices and the closing line; rawjson
    /// output stays pure JSON. Returns the first error writing the output hit.
    pub fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        if !self.finished {
            self.finished = true;
            let now = self.clock.now();
            let closed = self.state.cancel_open(now);
            let mut buf = String::new();
            match &mut self.display {
                Display::Plain(p) => {
                    for (index, items) in closed {
                        p.record(index, items, now);
                    }
                    p.flush(&self.state, now, &mut buf);
                    buf.push_str(&failure_logs(&self.state));
                    if p.printed {
                        buf.push('\n');
                    }
                    buf.push_str(&summary.line(self.state.steps_done()));
                    buf.push('\n');
                }
                Display::Tty(t) => {
                    t.draw(&self.state, now, true, &mut buf);
                    buf.push_str(&failure_logs(&self.state));
                    buf.push_str(&summary.line(self.state.steps_done()));
                    buf.push('\n');
                }
                Display::RawJson => {
                    for (index, _) in closed {
                        buf.push_str(&rawjson::vertex_line(self.state.at(index)));
                    }
                }
            }
            self.write(&buf);
            if self.error.is_none()
                && let Err(e) = self.out.flush()
            {
                self.error = Some(e);
            }
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The last output lines of a failed vertex (for error reports): up to 50 lines or
    /// 64 KiB, oldest first, without timestamps. Empty for vertices that succeeded
    /// (their output is not kept) or that this renderer never saw.
    pub fn failure_log(&self, vertex: &hearth_core::Digest) -> Vec<String> {
        self.state
            .get(vertex)
            .map(|v| v.tail().map(|l| l.text.clone()).collect())
            .unwrap_or_default()
    }

    /// Applies `event` at `now` to the state and the display; returns the vertex's position.
    fn apply(&mut self, event: &Event, now: SystemTime) -> usize {
        let (index, items) = self.state.apply(event, now);
        let mut buf = String::new();
        match &mut self.display {
            Display::Plain(p) => {
                p.record(index, items, now);
                p.print(&self.state, now, &mut buf);
            }
            Display::Tty(t) => t.refresh(&self.state, now, &mut buf),
            Display::RawJson => buf = rawjson::line(event, &self.state, now),
        }
        self.write(&buf);
        index
    }

    fn write(&mut self, text: &str) {
        if text.is_empty() || self.error.is_some() {
            return;
        }
        // Flushed at once: the writer may be buffered, and progress is only useful live.
        if let Err(e) = self
            .out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
        {
            self.error = Some(e);
        }
    }
}

/// How often [`drain`] lets time-based display changes happen between events.
const TICK: Duration = Duration::from_millis(100);

/// Feeds every event from `rx` to `renderer` until the channel closes, ticking in
/// between so the tty view's clock runs; returns the renderer for [`Renderer::finish`].
pub async fn drain(mut rx: UnboundedReceiver<Event>, mut renderer: Renderer) -> Renderer {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(event) => renderer.handle(&event),
                None => break,
            },
            _ = ticker.tick() => renderer.tick(),
        }
    }
    renderer
}
