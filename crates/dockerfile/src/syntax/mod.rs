//! From Dockerfile text to a list of instruction nodes.
//!
//! This is the line-level grammar of BuildKit's `frontend/dockerfile/parser`: parser
//! directives, comments, line continuations (with the escape character from the
//! `escape` directive), heredoc bodies, the keyword and its `--flags`, and the
//! per-keyword argument forms. Nothing is expanded here. Unlike BuildKit, which stops
//! at the first problem, the parser keeps going after a bad instruction so that one
//! run reports every problem it can find.

mod directives;
mod heredoc;
mod line_parsers;
mod words;

pub use directives::{Directive, DirectiveError};
pub use heredoc::Heredoc;
pub(crate) use heredoc::{chomp_heredoc_content, parse_heredoc_word};
pub(crate) use words::split_command;

use crate::diagnostic::{Diagnostic, LineRange};
use line_parsers::{ArgStyle, parse_args, style_of};

/// Longest physical line BuildKit's scanner accepts, including its newline.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// One instruction as parsed, before typing and expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The keyword as written (`RUN`, `run`, `Copy`…).
    pub keyword: String,
    /// The logical line after joining continuations and dropping comment lines.
    pub original: String,
    /// `--flag[=value]` words before the arguments, quotes removed.
    pub flags: Vec<String>,
    /// The arguments in the keyword's form (see BuildKit's `nodeArgs`).
    pub args: Vec<String>,
    /// True when the arguments were written as a JSON array.
    pub json: bool,
    /// Heredoc bodies that follow the line, in order.
    pub heredocs: Vec<Heredoc>,
    /// Lines the instruction spans, including heredoc bodies.
    pub lines: LineRange,
    /// Comment lines directly above the instruction.
    pub comments: Vec<String>,
}

/// The parse result: nodes plus everything worth telling the user.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Instructions in file order.
    pub nodes: Vec<Node>,
    /// Recognised parser directives.
    pub directives: Vec<Directive>,
    /// The escape character in effect (`\` unless changed by a directive).
    pub escape: char,
    /// Errors and warnings, in line order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// The value of a directive, if present.
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.value.as_str())
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Removes a trailing continuation (the escape character, optionally followed by
/// spaces or tabs). Returns the line and whether it was the last of its instruction.
/// An escaped escape character (`\\` at the end) is not a continuation.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, true);
    };
    if before.is_empty() {
        return ("", false);
    }
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

struct Scanner<'a> {
    lines: std::str::SplitInclusive<'a, char>,
    too_long: Option<usize>,
    number: usize,
}

impl<'a> Scanner<'a> {
    fn next_line(&mut self) -> Option<&'a str> {
        if self.too_long.is_some() {
            return None;
        }
        let line = self.lines.next()?;
        if line.len() > MAX_LINE_BYTES {
            self.too_long = Some(self.number + 1);
            return None;
        }
        Some(line)
    }
}

/// Parses Dockerfile text. Never fails: problems are reported as diagnostics.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed {
        escape: '\\',
        ..Parsed::default()
    };
    let mut directive_parser = directives::DirectiveParser::default();
    let mut scanner = Scanner {
        lines: text.split_inclusive('\n'),
        too_long: None,
        number: 0,
    };
    let mut comments: Vec<String> = Vec::new();
    let mut first = true;

    while let Some(raw) = scanner.next_line() {
        let raw = if first {
            raw.strip_prefix('\u{feff}').unwrap_or(raw)
        } else {
            raw
        };
        first = false;
        let line_no = scanner.number + 1;
        if is_comment(raw) {
            let comment = raw.get(1..).unwrap_or_default().trim().to_owned();
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment);
            }
        }
        let trimmed = trim_newline(raw).trim_start();
        match directive_parser.parse_line(trimmed) {
            Ok(Some(directive)) => {
                comments.pop();
                if directive.name == "escape" {
                    match directives::escape_token(&directive.value) {
                        Ok(escape) => out.escape = escape,
                        Err(err) => out.diagnostics.push(Diagnostic::error(
                            LineRange::single(line_no),
                            err.to_string(),
                        )),
                    }
                }
                out.directives.push(directive);
            }
            Ok(None) => {}
            Err(err) => out.diagnostics.push(Diagnostic::error(
                LineRange::single(line_no),
                err.to_string(),
            )),
        }
        scanner.number += 1;
        let start_line = scanner.number;
        let content = if is_comment(trimmed) { "" } else { trimmed };
        let (content, mut at_end) = trim_continuation(content, out.escape);
        if at_end && content.is_empty() {
            continue;
        }
        let mut logical = content.to_owned();
        let mut empty_continuation = false;
        while !at_end {
            let Some(next) = scanner.next_line() else {
                break;
            };
            // Directives are over by now, but the directive parser still counts lines.
            let _ = directive_parser.parse_line(trim_newline(next));
            scanner.number += 1;
            if is_comment(next) {
                continue;
            }
            let body = trim_newline(next);
            if body.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (body, end) = trim_continuation(body, out.escape);
            at_end = end;
            logical.push_str(body);
        }
        if !at_end && scanner.too_long.is_none() {
            // BuildKit accepts a file ending in a continuation and runs what it has;
            // we do the same but say so, since it is almost always a mistake.
            out.diagnostics.push(
                Diagnostic::warning(
                    LineRange::new(start_line, scanner.number),
                    "the last instruction ends with a line continuation and nothing follows it",
                )
                .with_rule("NoTrailingContinuation"),
            );
        }
        if empty_continuation {
            out.diagnostics.push(
                Diagnostic::warning(
                    LineRange::single(scanner.number),
                    format!("Empty continuation line found in: {logical}"),
                )
                .with_rule("NoEmptyContinuation")
                .with_detail("Empty continuation lines will become errors in a future release"),
            );
        }
        let (keyword, flags, rest) = split_command(&logical, out.escape);
        let style = style_of(&keyword);
        let parsed = match parse_args(style, &rest, out.escape) {
            Ok(parsed) => parsed,
            Err(err) => {
                out.diagnostics.push(Diagnostic::error(
                    LineRange::new(start_line, scanner.number),
                    err.to_string(),
                ));
                comments.clear();
                continue;
            }
        };
        let mut node = Node {
            keyword,
            original: logical,
            flags,
            args: parsed.args,
            json: parsed.json,
            heredocs: Vec::new(),
            lines: LineRange::new(start_line, scanner.number),
            comments: std::mem::take(&mut comments),
        };
        let heredoc_keyword = match &parsed.sub {
            Some((sub_keyword, sub_json)) => (!*sub_json).then_some(sub_keyword.as_str()),
            None => (!node.json).then_some(node.keyword.as_str()),
        };
        let can_have_heredoc = heredoc_keyword
            .map(|k| matches!(k.to_ascii_lowercase().as_str(), "add" | "copy" | "run"))
            .unwrap_or(false)
            && (style != ArgStyle::SubCommand || parsed.sub.is_some());
        if can_have_heredoc && node.original.contains("<<") {
            match heredoc::heredocs_in_line(&node.original) {
                Ok(found) => {
                    for mut doc in found {
                        let mut terminated = false;
                        while let Some(body_line) = scanner.next_line() {
                            scanner.number += 1;
                            let mut candidate = trim_newline(body_line);
                            if doc.chomp {
                                candidate = candidate.trim_start_matches('\t');
                            }
                            if candidate == doc.name {
                                terminated = true;
                                break;
                            }
                            doc.content.push_str(body_line);
                        }
                        if !terminated {
                            out.diagnostics.push(Diagnostic::error(
                                LineRange::new(start_line, scanner.number),
                                format!("unterminated heredoc (no line {:?} closes it)", doc.name),
                            ));
                            break;
                        }
                        node.heredocs.push(doc);
                    }
                }
                Err(err) => out.diagnostics.push(Diagnostic::error(
                    LineRange::new(start_line, scanner.number),
                    err.to_string(),
                )),
            }
            node.lines = LineRange::new(start_line, scanner.number);
        }
        out.nodes.push(node);
    }
    if let Some(line) = scanner.too_long {
        out.diagnostics.push(Diagnostic::error(
            LineRange::single(line),
            format!(
                "dockerfile line greater than max allowed size of {}",
                MAX_LINE_BYTES - 1
            ),
        ));
    }
    if out.nodes.is_empty() && !out.diagnostics.iter().any(Diagnostic::is_error) {
        out.diagnostics.push(Diagnostic::error(
            LineRange::single(scanner.number.max(1)),
            "file with no instructions",
        ));
    }
    out
}

#[cfg(test)]
mod tests;
