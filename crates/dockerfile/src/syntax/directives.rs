//! Parser directives (`# syntax=…`, `# escape=…`, `# check=…`).
//!
//! Directives are only recognised in the contiguous run of `# key=value` lines at the
//! very top of the file: the first line that is anything else (an instruction, a blank
//! line, an ordinary comment, an unknown key) ends the run for good.

/// A recognised directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lowercased name: `syntax`, `escape` or `check`.
    pub name: String,
    /// The value, trimmed.
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// Why a directive line is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveError {
    /// The same directive twice.
    #[error("only one {0} parser directive can be used")]
    Repeated(String),
    /// `escape` with something other than `\` or `` ` ``.
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscape(String),
}

const KNOWN: [&str; 3] = ["syntax", "escape", "check"];

/// Tracks whether directives may still appear.
#[derive(Debug, Default)]
pub(crate) struct DirectiveParser {
    line: usize,
    done: bool,
    seen: Vec<String>,
}

impl DirectiveParser {
    /// Looks at the next physical line; returns the directive it holds, if any.
    pub(crate) fn parse_line(&mut self, line: &str) -> Result<Option<Directive>, DirectiveError> {
        self.line += 1;
        if self.done {
            return Ok(None);
        }
        let Some((name, value)) = match_directive(line) else {
            self.done = true;
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&name) {
            return Err(DirectiveError::Repeated(name));
        }
        self.seen.push(name.clone());
        Ok(Some(Directive {
            name,
            value: value.to_owned(),
            line: self.line,
        }))
    }
}

/// Go's RE2 `\s`: ASCII space, tab, newline, form feed, carriage return.
fn is_re2_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

/// Matches `#\s*NAME\s*=\s*VALUE\s*` where NAME is `[a-zA-Z][a-zA-Z0-9]*` and VALUE
/// is non-empty after trimming.
fn match_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start_matches(is_re2_space);
    let name_len = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphabetic() || (*i > 0 && c.is_ascii_digit())))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let rest = rest.trim_start_matches(is_re2_space).strip_prefix('=')?;
    let value = rest.trim_matches(is_re2_space);
    if value.is_empty() {
        return None;
    }
    Some((name, value))
}

/// Validates an `escape` value and returns the escape character.
pub(crate) fn escape_token(value: &str) -> Result<char, DirectiveError> {
    match value {
        "\\" => Ok('\\'),
        "`" => Ok('`'),
        other => Err(DirectiveError::InvalidEscape(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_directive_lines() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            (
                "# syntax=docker/dockerfile:1",
                Some(("syntax", "docker/dockerfile:1")),
            ),
            ("#escape = `", Some(("escape", "`"))),
            ("#  check=skip=all ", Some(("check", "skip=all"))),
            ("# Escape=\\", Some(("Escape", "\\"))),
            ("# escape=", None),
            ("# just a comment", None),
            ("#1x=y", None),
            (" # syntax=x", None),
            ("RUN x", None),
        ];
        for (line, want) in cases {
            assert_eq!(match_directive(line), *want, "{line:?}");
        }
    }

    #[test]
    fn directives_stop_at_the_first_other_line_and_cannot_repeat() {
        let mut p = DirectiveParser::default();
        assert_eq!(p.parse_line("# escape=`").unwrap().unwrap().name, "escape");
        assert_eq!(
            p.parse_line("# escape=\\"),
            Err(DirectiveError::Repeated("escape".into()))
        );
        assert!(p.parse_line("# syntax=x").unwrap().is_some());
        assert_eq!(p.parse_line("# unknown=1").unwrap(), None);
        assert_eq!(p.parse_line("# check=x").unwrap(), None, "run is over");
    }

    #[test]
    fn only_backslash_and_backtick_escape() {
        assert_eq!(escape_token("`"), Ok('`'));
        assert_eq!(escape_token("\\"), Ok('\\'));
        assert_eq!(
            escape_token("x").unwrap_err().to_string(),
            "invalid escape token 'x' does not match ` or \\"
        );
    }
}
