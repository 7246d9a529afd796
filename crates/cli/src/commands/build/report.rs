//! How a failed build is explained: Dockerfile diagnostics, or the failing step with its
//! Dockerfile lines and last output lines, the way buildx shows them.

use std::fmt::Write as _;
use std::io::Write as _;

use hearth_engine::{EngineError, StepFailure};
use hearth_graph::SourceRange;
use hearth_progress::{Mode, Renderer};

/// Lines of the Dockerfile shown around a failing step.
const CONTEXT_LINES: usize = 2;

pub(crate) fn print_failure(err: &EngineError, renderer: &Renderer, shown_logs: bool) {
    let mut out = String::new();
    match err {
        EngineError::Dockerfile(failure) => {
            let (diagnostics, text, file_name) =
                (&failure.diagnostics, &failure.text, &failure.file_name);
            let _ = writeln!(out, "{}", diagnostics.render(file_name, text));
            let count = diagnostics.errors().count();
            let _ = writeln!(
                out,
                "\n{count} error{} in {file_name}",
                if count == 1 { "" } else { "s" }
            );
        }
        EngineError::Step(failure) => {
            let StepFailure {
                name,
                message,
                vertex,
                location,
                text,
                file_name,
            } = failure.as_ref();
            if !shown_logs {
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
        other => {
            let _ = writeln!(out, "error: failed to solve: {other}");
        }
    }
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
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
