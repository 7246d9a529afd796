//! Where renderers get the time from, so tests can fix it.

use std::time::{Instant, SystemTime};

/// A source of the current time.
///
/// Renderers read the time once per event; tests pass a clock they advance by hand so
/// log offsets, durations and JSON timestamps come out the same on every run.
pub trait Clock: Send {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The real clock: wall time at creation, advanced by a monotonic clock.
///
/// Durations between events come from [`Instant`], so a wall-clock step (NTP, a
/// suspended laptop) cannot make a log line appear to predate its vertex.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    wall: SystemTime,
    mono: Instant,
}

impl SystemClock {
    /// A clock starting now.
    pub fn new() -> Self {
        Self {
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        self.wall + self.mono.elapsed()
    }
}

/// The time from `earlier` to `later`, zero if `later` is before it.
pub(crate) fn since(later: SystemTime, earlier: SystemTime) -> std::time::Duration {
    later.duration_since(earlier).unwrap_or_default()
}
