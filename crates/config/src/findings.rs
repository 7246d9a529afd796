//! Findings: what the loader has to say about a configuration file, each located by the
//! key it concerns and the line it sits on.
//!
//! A file with findings still loads; warnings describe settings hearth reads differently
//! from what the user probably meant or does not act on, errors describe settings
//! BuildKit itself would refuse (so a daemon should refuse them too).

use std::fmt;
use std::ops::Range;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The file is wrong: BuildKit would refuse to start with it, and so should hearth.
    Error,
    /// The file loads, but something in it is ignored, deprecated or suspicious.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What kind of problem a finding reports; lets callers and tests group findings without
/// matching on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    /// The text is not valid TOML.
    Syntax,
    /// A key buildkitd.toml does not have.
    UnknownKey,
    /// A key BuildKit knows only under another spelling it also accepts (`reservedspace`).
    Spelling,
    /// A section or setting BuildKit has and hearth does not act on.
    Unsupported,
    /// A deprecated key, still honoured.
    Deprecated,
    /// A value of the wrong TOML type (a string where a list belongs, …).
    WrongType,
    /// A value of the right type that does not parse or is not allowed.
    InvalidValue,
    /// A recognisable misuse of the format, reported with the right form.
    Mistake,
}

/// One finding about a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// What kind of problem.
    pub kind: FindingKind,
    /// The key concerned, as a TOML path: `worker.oci.gcpolicy[1].keepBytes`,
    /// `registry."docker.io".ca`; array indexes count from 0. Empty for syntax errors
    /// that belong to no key.
    pub key: String,
    /// 1-based line in the file.
    pub line: usize,
    /// 1-based column (in characters) in that line.
    pub column: usize,
    /// What is wrong, in BuildKit's words where BuildKit has words for it.
    pub message: String,
    /// How to fix it: a "did you mean" or the form to use instead.
    pub hint: Option<String>,
    /// Replacement TOML for the offending part of the file, when hearth can write it.
    pub fix: Option<String>,
}

impl Finding {
    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `FILE:LINE: severity: message`, then the hint and the corrected TOML (if any) on
    /// indented lines below it.
    pub fn render(&self, source_name: &str) -> String {
        let mut out = format!(
            "{source_name}:{}: {}: {}",
            self.line, self.severity, self.message
        );
        if let Some(hint) = &self.hint {
            out.push_str("\n  = hint: ");
            out.push_str(hint);
        }
        if let Some(fix) = &self.fix {
            out.push_str("\n  = corrected TOML:");
            for line in fix.lines() {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str("\n    ");
                    out.push_str(line);
                }
            }
        }
        out
    }
}

/// Maps byte offsets of a text to lines and columns.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        Self { starts }
    }

    /// 1-based line and column (in characters) of `offset` in `text`.
    pub(crate) fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        // Offsets from the TOML parser are on character boundaries; `get` keeps a bad
        // one from panicking and merely reports column 1.
        let column = text
            .get(start..offset)
            .map_or(0, |prefix| prefix.chars().count());
        (line.max(1), column + 1)
    }
}

/// Collects findings while a file is decoded.
#[derive(Debug)]
pub(crate) struct Sink<'s> {
    pub(crate) source: &'s str,
    lines: LineIndex,
    pub(crate) findings: Vec<Finding>,
}

/// Everything about a finding except where it is; [`Sink::push`] adds the position.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) severity: Severity,
    pub(crate) kind: FindingKind,
    pub(crate) key: String,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    pub(crate) fix: Option<String>,
}

impl Report {
    pub(crate) fn error(kind: FindingKind, key: &str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            kind,
            key: key.to_owned(),
            message: message.into(),
            hint: None,
            fix: None,
        }
    }

    pub(crate) fn warning(kind: FindingKind, key: &str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(kind, key, message)
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

impl<'s> Sink<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        Self {
            source,
            lines: LineIndex::new(source),
            findings: Vec::new(),
        }
    }

    /// 1-based line and column of a byte offset.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        self.lines.position(self.source, offset)
    }

    /// Records `report` at the start of `span`.
    pub(crate) fn push(&mut self, span: Range<usize>, report: Report) {
        let (line, column) = self.lines.position(self.source, span.start);
        self.findings.push(Finding {
            severity: report.severity,
            kind: report.kind,
            key: report.key,
            line,
            column,
            message: report.message,
            hint: report.hint,
            fix: report.fix,
        });
    }

    /// The source text of `span`, or "" for a span outside the text.
    pub(crate) fn text(&self, span: Range<usize>) -> &'s str {
        self.source.get(span).unwrap_or("")
    }

    /// The findings in file order.
    pub(crate) fn into_findings(self) -> Vec<Finding> {
        let mut findings = self.findings;
        // Stable: findings on one position keep the order they were found in.
        findings.sort_by_key(|f| (f.line, f.column));
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nµ = \"x\"\n\nlast";
        let index = LineIndex::new(text);
        assert_eq!(index.position(text, 0), (1, 1));
        assert_eq!(index.position(text, 4), (1, 5));
        assert_eq!(index.position(text, 6), (2, 1));
        // "µ" is two bytes but one column.
        assert_eq!(index.position(text, 9), (2, 3));
        assert_eq!(index.position(text, 15), (3, 1));
        assert_eq!(index.position(text, text.len()), (4, 5));
    }

    #[test]
    fn render_puts_hint_and_fix_under_the_message() {
        let finding = Finding {
            severity: Severity::Error,
            kind: FindingKind::Mistake,
            key: "worker.oci.gc".into(),
            line: 3,
            column: 1,
            message: "wrong".into(),
            hint: Some("do this".into()),
            fix: Some("[a]\nb = 1\n\n[c]\n".into()),
        };
        assert_eq!(
            finding.render("f.toml"),
            "f.toml:3: error: wrong\n  = hint: do this\n  = corrected TOML:\n    [a]\n    b = 1\n\n    [c]"
        );
    }
}
