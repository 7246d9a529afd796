//! Errors and warnings about a Dockerfile, located by line.
//!
//! The frontend never stops at the first problem it can recover from: parsing and
//! typing collect every diagnostic, and [`Diagnostics`] carries them all to the caller,
//! which renders each as `Dockerfile:LINE: message` followed by the offending lines.

use std::fmt;

/// Lines of the Dockerfile, 1-based and inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineRange {
    /// First line.
    pub start: usize,
    /// Last line (equal to `start` for one line).
    pub end: usize,
}

impl LineRange {
    /// Lines `start..=end`; a reversed range collapses to `start`.
    pub fn new(start: usize, end: usize) -> Self {
        Self {
            start,
            end: end.max(start),
        }
    }

    /// One line.
    pub fn single(line: usize) -> Self {
        Self {
            start: line,
            end: line,
        }
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The build cannot proceed.
    Error,
    /// The build proceeds; the user should still look.
    Warning,
}

/// One finding about the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where.
    pub lines: LineRange,
    /// What, in BuildKit's words where BuildKit has words for it, including any
    /// "(did you mean …?)" suggestion.
    pub message: String,
    /// The lint rule name for warnings, as BuildKit's build checks name them.
    pub rule: Option<&'static str>,
    /// Longer explanation or how to fix it.
    pub detail: Option<String>,
}

impl Diagnostic {
    /// An error at `lines`.
    pub fn error(lines: LineRange, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            lines,
            message: message.into(),
            rule: None,
            detail: None,
        }
    }

    /// A warning at `lines`.
    pub fn warning(lines: LineRange, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(lines, message)
        }
    }

    /// Names the lint rule.
    pub fn with_rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }

    /// Adds an explanation.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `FILE:LINE: message` followed by the source lines it refers to, each as
    /// `  NN | text`, ready to print to a terminal.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        let mut out = match self.severity {
            Severity::Error => format!("{file_name}:{}: {}", self.lines.start, self.message),
            Severity::Warning => {
                let rule = self.rule.map(|r| format!(" ({r})")).unwrap_or_default();
                format!(
                    "{file_name}:{}: warning{rule}: {}",
                    self.lines.start, self.message
                )
            }
        };
        const MAX_SHOWN: usize = 6;
        let width = self.lines.end.to_string().len();
        for (index, text) in source
            .lines()
            .enumerate()
            .skip(self.lines.start.saturating_sub(1))
        {
            let number = index + 1;
            if number > self.lines.end {
                break;
            }
            if number >= self.lines.start + MAX_SHOWN {
                out.push_str(&format!("\n  {:>width$} | …", ""));
                break;
            }
            out.push_str(&format!("\n  {number:>width$} | {text}"));
        }
        if let Some(detail) = &self.detail {
            out.push_str(&format!("\n  = {detail}"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "line {}: {}", self.lines.start, self.message),
            Severity::Warning => write!(f, "line {}: warning: {}", self.lines.start, self.message),
        }
    }
}

/// One or more errors (plus any warnings found on the way) that stop a build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", summary(.0))]
pub struct Diagnostics(pub Vec<Diagnostic>);

fn summary(all: &[Diagnostic]) -> String {
    let errors: Vec<String> = all
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    if errors.is_empty() {
        return "no errors".to_owned();
    }
    errors.join("; ")
}

impl Diagnostics {
    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    /// Renders every diagnostic, errors first, separated by blank lines.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        let mut sorted: Vec<&Diagnostic> = self.0.iter().collect();
        sorted.sort_by_key(|d| (d.severity, d.lines));
        sorted
            .iter()
            .map(|d| d.render(file_name, source))
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// Finds the closest option to `value` (edit distance below 3), as BuildKit's
/// `suggest.Search` does, except that a swap of two neighbouring letters counts as one
/// edit: `--chwon` is a typo of `--chown`, not an equally likely `--chmod`. An exact match means the problem lies elsewhere: no
/// suggestion. With `case_sensitive` false the suggestion takes the case of `value`.
pub(crate) fn suggest<'a>(
    value: &str,
    options: impl IntoIterator<Item = &'a str>,
    case_sensitive: bool,
) -> Option<String> {
    let fold = |s: &str| {
        if case_sensitive {
            s.to_owned()
        } else {
            s.to_lowercase()
        }
    };
    let value_folded = fold(value);
    let mut best: Option<String> = None;
    let mut min_distance = 3;
    let mut options: Vec<&str> = options.into_iter().collect();
    // Go iterates a map here, so ties are random there; sort for a stable answer.
    options.sort_unstable();
    for option in options {
        let folded = fold(option);
        if folded == value_folded {
            return None;
        }
        let distance = strsim::osa_distance(&value_folded, &folded);
        if distance < min_distance {
            min_distance = distance;
            best = Some(if case_sensitive {
                folded
            } else if value == value.to_lowercase() {
                folded.to_lowercase()
            } else if value == value.to_uppercase() {
                folded.to_uppercase()
            } else {
                folded
            });
        }
    }
    best
}

/// `message (did you mean X?)` when a suggestion exists.
pub(crate) fn with_suggestion(message: String, suggestion: Option<String>) -> String {
    match suggestion {
        Some(s) => format!("{message} (did you mean {s}?)"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_follow_buildkit() {
        let names = ["RUN", "ENV", "COPY", "FROM", "ARG"];
        assert_eq!(suggest("RUNN", names, false), Some("RUN".into()));
        assert_eq!(suggest("runn", names, false), Some("run".into()));
        assert_eq!(suggest("Cpoy", names, false), Some("copy".into()));
        assert_eq!(suggest("RUN", names, false), None);
        assert_eq!(suggest("XYZZY", names, false), None);
        assert_eq!(
            suggest("chwon", ["chown", "chmod", "from", "link"], true),
            Some("chown".into())
        );
    }

    #[test]
    fn render_shows_the_lines() {
        let source = "FROM busybox\nRUNN echo hi\n";
        let d = Diagnostic::error(
            LineRange::single(2),
            "unknown instruction: RUNN (did you mean RUN?)",
        );
        assert_eq!(
            d.render("Dockerfile", source),
            "Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)\n  2 | RUNN echo hi"
        );
        let w = Diagnostic::warning(LineRange::new(1, 2), "careful")
            .with_rule("SomeRule")
            .with_detail("because");
        assert_eq!(
            w.render("Dockerfile", source),
            "Dockerfile:1: warning (SomeRule): careful\n  1 | FROM busybox\n  2 | RUNN echo hi\n  = because"
        );
    }

    #[test]
    fn errors_display_with_their_line() {
        let all = Diagnostics(vec![
            Diagnostic::warning(LineRange::single(1), "w"),
            Diagnostic::error(LineRange::single(3), "first"),
            Diagnostic::error(LineRange::single(5), "second"),
        ]);
        assert_eq!(all.to_string(), "line 3: first; line 5: second");
        assert_eq!(all.errors().count(), 2);
    }
}
