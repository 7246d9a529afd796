//! Test doubles shared by the integration tests: a hand-driven clock, a writer whose
//! bytes the test can read back, and event constructors.

#![allow(dead_code, unreachable_pub)]

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hearth_core::Digest;
use hearth_progress::{Clock, Mode, Renderer};
use hearth_solver::{Event, LogStream};

/// 2024-05-01T10:00:00Z, the start of every scripted build.
pub const T0: u64 = 1_714_557_600;

/// A clock that only moves when the test sets it.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<SystemTime>>);

impl ManualClock {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(UNIX_EPOCH + Duration::from_secs(T0))))
    }

    /// Sets the time to `ms` milliseconds after T0.
    pub fn at(&self, ms: u64) {
        *self.0.lock().unwrap() = UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_millis(ms);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// A writer the test reads back.
#[derive(Clone, Default)]
pub struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A renderer on a manual clock writing to a buffer.
pub fn renderer(mode: Mode) -> (Renderer, ManualClock, Buffer) {
    let clock = ManualClock::new();
    let buffer = Buffer::default();
    let r = Renderer::with_clock(mode, Box::new(buffer.clone()), Box::new(clock.clone()));
    (r, clock, buffer)
}

/// A stable vertex digest for a test name.
pub fn vertex(name: &str) -> Digest {
    Digest::of(name.as_bytes())
}

pub fn started(v: Digest, name: &str) -> Event {
    Event::Started {
        vertex: v,
        name: name.to_owned(),
    }
}

pub fn cached(v: Digest, name: &str) -> Event {
    Event::Cached {
        vertex: v,
        name: name.to_owned(),
    }
}

pub fn stdout(v: Digest, data: &str) -> Event {
    Event::Log {
        vertex: v,
        stream: LogStream::Stdout,
        data: data.as_bytes().to_vec(),
    }
}

pub fn stderr(v: Digest, data: &str) -> Event {
    Event::Log {
        vertex: v,
        stream: LogStream::Stderr,
        data: data.as_bytes().to_vec(),
    }
}

pub fn status(v: Digest, message: &str) -> Event {
    Event::Status {
        vertex: v,
        message: message.to_owned(),
    }
}

pub fn completed(v: Digest, ms: u64) -> Event {
    Event::Completed {
        vertex: v,
        duration: Duration::from_millis(ms),
    }
}

pub fn failed(v: Digest, message: &str, ms: u64) -> Event {
    Event::Failed {
        vertex: v,
        message: message.to_owned(),
        duration: Duration::from_millis(ms),
    }
}
