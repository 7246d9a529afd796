//! The end of the display: BuildKit's failure summary and hearth's closing line.

use std::fmt::Write as _;
use std::time::Duration;

use crate::plain::offset;
use crate::state::State;

/// What the caller knows about the finished build, for the closing line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// How long the build took.
    pub duration: Duration,
    /// Steps in the build graph.
    pub steps: usize,
    /// Steps whose result came from the cache.
    pub cached: usize,
    /// Whether the build failed.
    pub failed: bool,
}

fn steps(n: usize) -> String {
    if n == 1 {
        "1 step".to_owned()
    } else {
        format!("{n} steps")
    }
}

impl Summary {
    /// The closing line (no newline), given how many steps succeeded or were cached:
    /// `built in 3.4s: 12 steps, 9 cached` or
    /// `failed after 2.1s: 3 of 12 steps done, 1 cached`.
    pub(crate) fn line(&self, done: usize) -> String {
        let secs = self.duration.as_secs_f64();
        if self.failed {
            format!(
                "failed after {secs:.1}s: {done} of {} done, {} cached",
                steps(self.steps),
                self.cached
            )
        } else {
            format!(
                "built in {secs:.1}s: {}, {} cached",
                steps(self.steps),
                self.cached
            )
        }
    }
}

/// BuildKit's error summary: for each failed vertex, its name and its last output
/// lines between `------` rulers.
pub(crate) fn failure_logs(state: &State) -> String {
    let mut out = String::new();
    for v in state.vertices().iter().filter(|v| v.failed()) {
        out.push_str("------\n");
        let _ = writeln!(out, " > {}:", v.name);
        for line in v.tail() {
            let _ = writeln!(out, "{} {}", offset(line.offset), line.text);
        }
        out.push_str("------\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_lines() {
        let ok = Summary {
            duration: Duration::from_millis(3_420),
            steps: 12,
            cached: 9,
            failed: false,
        };
        assert_eq!(ok.line(12), "built in 3.4s: 12 steps, 9 cached");
        let one = Summary {
            steps: 1,
            cached: 0,
            ..ok
        };
        assert_eq!(one.line(1), "built in 3.4s: 1 step, 0 cached");
        let failed = Summary {
            duration: Duration::from_millis(2_080),
            steps: 12,
            cached: 1,
            failed: true,
        };
        assert_eq!(
            failed.line(3),
            "failed after 2.1s: 3 of 12 steps done, 1 cached"
        );
    }
}
