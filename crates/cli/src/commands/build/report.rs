//! How a failed build is explained: Dockerfile diagnostics, or the failing step with its
//! Dockerfile lines and last output lines, the way buildx shows them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use hearth_core::ErrorKind;

use hearth_engine::{EngineError, StepFailure};
use hearth_graph::SourceRange;
use hearth_progress::{Mode, Renderer};

/// Lines of the Dockerfile shown around a failing step.
const CONTEXT_LINES: usize = 2;

/// A failed build, from the embedded engine or from a daemon.
pub(crate) enum Failure {
    /// The Dockerfile is wrong: its diagnostics, rendered.
    Dockerfile(String),
    /// A step failed.
    Step {
        name: String,
        message: String,
        vertex: Option<hearth_core::Digest>,
        location: Option<SourceRange>,
        text: String,
        file_name: String,
    },
    /// Anything else.
    Other(String),
}

impl Failure {
    pub(crate) fn of_engine(err: &EngineError) -> Self {
        match err {
            EngineError::Dockerfile(failure) => Self::Dockerfile(failure.render()),
            EngineError::Step(failure) => {
                let StepFailure {
                    name,
                    message,
                    vertex,
                    location,
                    text,
                    file_name,
                    kind: _,
                } = failure.as_ref();
                Self::Step {
                    name: name.clone(),
                    message: message.clone(),
                    vertex: Some(*vertex),
                    location: *location,
                    text: text.clone(),
                    file_name: file_name.clone(),
                }
            }
            other => Self::Other(other.to_string()),
        }
    }

    pub(crate) fn of_wire(failure: &hearth_api::v1::BuildFailure) -> Self {
        if !failure.diagnostics.is_empty() {
            return Self::Dockerfile(failure.diagnostics.clone());
        }
        if failure.step.is_empty() {
            return Self::Other(failure.message.clone());
        }
        Self::Step {
            name: failure.step.clone(),
            message: failure.message.clone(),
            vertex: failure.vertex.parse().ok(),
            location: (failure.line_start > 0).then_some(SourceRange {
                start: failure.line_start,
                end: failure.line_end,
            }),
            text: failure.dockerfile_text.clone(),
            file_name: failure.dockerfile_name.clone(),
        }
    }
}

/// Explains a failed build of class `kind` on standard error; the exit code to end with.
pub(crate) fn print_failure(
    failure: &Failure,
    kind: ErrorKind,
    renderer: &Renderer,
    shown_logs: bool,
) -> ExitCode {
    let mut out = String::new();
    match failure {
        Failure::Dockerfile(rendered) => {
            let _ = writeln!(out, "{rendered}");
        }
        Failure::Step {
            name,
            message,
            vertex,
            location,
            text,
            file_name,
        } => {
            if !shown_logs && let Some(vertex) = vertex {
                let lines = renderer.failure_log(vertex);
                let _ = writeln!(out, "------\n > {name}:");
                for line in &lines {
                    let _ = writeln!(out, "{line}");
                }
                let _ = writeln!(out, "------");
            }
            if let Some(range) = location {
                out.push_str(&excerpt(file_name, text, range));
            }
            let _ = writeln!(out, "error: failed to solve: {message}");
        }
        Failure::Other(message) => {
            let _ = writeln!(out, "error: failed to solve: {message}");
        }
    }
    if let Some(advice) = crate::exit::advice(kind) {
        let _ = writeln!(out, "{advice}");
    }
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
    crate::exit::code(kind)
}

/// Whether the display already printed BuildKit's failure summary with the logs.
pub(crate) fn display_shows_logs(mode: Option<Mode>) -> bool {
    matches!(mode, Some(Mode::Plain | Mode::Tty))
}

/// `Dockerfile:3` and the step's lines marked with `>>>`, between rulers.
fn excerpt(file_name: &str, text: &str, range: &SourceRange) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = range.start.max(1) as usize;
    let end = (range.end.max(range.start) as usize).max(start);
    if start > lines.len() {
        return String::new();
    }
    let first = start.saturating_sub(CONTEXT_LINES).max(1);
    let last = (end + CONTEXT_LINES).min(lines.len());
    let width = last.to_string().len().max(4);
    let mut out = String::new();
    let location = if start == end {
        format!("{start}")
    } else {
        format!("{start}-{end}")
    };
    let _ = writeln!(out, "{file_name}:{location}");
    out.push_str("--------------------\n");
    for number in first..=last {
        let marker = if (start..=end).contains(&number) {
            ">>>"
        } else {
            "   "
        };
        let line = lines.get(number - 1).copied().unwrap_or_default();
        let _ = writeln!(out, "{number:>width$} | {marker} {line}");
    }
    out.push_str("--------------------\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_marks_the_step() {
        let text = "FROM busybox\nRUN echo hi\nRUN false\nCMD x\n";
        let got = excerpt("Dockerfile", text, &SourceRange { start: 3, end: 3 });
        assert_eq!(
            got,
            "Dockerfile:3\n--------------------\n   1 |     FROM busybox\n   2 |     RUN echo hi\n   3 | >>> RUN false\n   4 |     CMD x\n--------------------\n"
        );
    }
}
