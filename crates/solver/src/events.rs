//! Progress events of a solve, for renderers.

use std::time::Duration;

use hearth_core::Digest;
use tokio::sync::mpsc;

/// Which stream a log chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Something that happened to a vertex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Work on the vertex started.
    Started {
        /// The vertex.
        vertex: Digest,
        /// Its progress name.
        name: String,
    },
    /// The vertex's result came from the cache.
    Cached {
        /// The vertex.
        vertex: Digest,
        /// Its progress name.
        name: String,
    },
    /// Output of a running vertex.
    Log {
        /// The vertex.
        vertex: Digest,
        /// Which stream.
        stream: LogStream,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A status line of a running vertex (downloads, extraction).
    Status {
        /// The vertex.
        vertex: Digest,
        /// What is happening.
        message: String,
    },
    /// The vertex finished.
    Completed {
        /// The vertex.
        vertex: Digest,
        /// How long it ran.
        duration: Duration,
    },
    /// The vertex failed.
    Failed {
        /// The vertex.
        vertex: Digest,
        /// Why.
        message: String,
        /// How long it ran.
        duration: Duration,
    },
}

/// Whether a vertex name denotes the engine's own work (loading the definition or the
/// context, exporting) rather than a step of the build graph. Graph steps are named
/// `[stage n/m] …`; engine work is `[internal] …` or has no bracket prefix.
/// `[linux/arm64 internal] …` is engine work too (a multi-platform build's names carry
/// the platform).
pub fn is_engine_step(name: &str) -> bool {
    match name.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
        Some((prefix, _)) => prefix.rsplit(' ').next() == Some("internal"),
        None => true,
    }
}

/// A step the engine or the exporter performs itself, shown like a vertex of the graph.
#[derive(Debug)]
pub struct EngineStep {
    /// The vertex the step's progress is reported on.
    pub vertex: Digest,
    started: std::time::Instant,
}

impl EngineStep {
    /// Reports the step as started.
    pub fn start(events: &EventSender, name: &str) -> Self {
        let vertex = Digest::of(
            format!("hearth-internal\0{name}\0{:?}", std::time::Instant::now()).as_bytes(),
        );
        events.send(Event::Started {
            vertex,
            name: name.to_owned(),
        });
        Self {
            vertex,
            started: std::time::Instant::now(),
        }
    }

    /// A status line on the step.
    pub fn status(&self, events: &EventSender, message: String) {
        events.send(Event::Status {
            vertex: self.vertex,
            message,
        });
    }

    /// Reports the step as completed.
    pub fn done(self, events: &EventSender) {
        events.send(Event::Completed {
            vertex: self.vertex,
            duration: self.started.elapsed(),
        });
    }
}

/// Sends events; dropping every receiver makes sending a no-op.
#[derive(Debug, Clone)]
pub struct EventSender(Option<mpsc::UnboundedSender<Event>>);

impl EventSender {
    /// A sender feeding `tx`.
    pub fn new(tx: mpsc::UnboundedSender<Event>) -> Self {
        Self(Some(tx))
    }

    /// A sender that drops everything.
    pub fn discard() -> Self {
        Self(None)
    }

    /// Sends an event; a closed receiver is not an error (nobody is watching).
    pub fn send(&self, event: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }
}

/// Progress of one running vertex.
#[derive(Debug, Clone)]
pub struct VertexProgress {
    vertex: Digest,
    events: EventSender,
}

impl VertexProgress {
    /// Progress for `vertex`.
    pub fn new(vertex: Digest, events: EventSender) -> Self {
        Self { vertex, events }
    }

    /// Reports output.
    pub fn log(&self, stream: LogStream, data: &[u8]) {
        self.events.send(Event::Log {
            vertex: self.vertex,
            stream,
            data: data.to_vec(),
        });
    }

    /// Reports a status line.
    pub fn status(&self, message: impl Into<String>) {
        self.events.send(Event::Status {
            vertex: self.vertex,
            message: message.into(),
        });
    }

    /// The vertex.
    pub fn vertex(&self) -> Digest {
        self.vertex
    }
}
