//! Parsing of `.dockerignore` files into pattern strings, with the rules of
//! moby/patternmatcher's `ignorefile.ReadAll`.

use crate::Error;
use crate::clean::clean;

/// Go's line scanner gives up on a line that does not fit its 64 KiB buffer
/// (the line's bytes, without the newline, must be fewer than this).
const MAX_LINE: usize = 64 * 1024;

const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// Splits an ignore file into patterns.
///
/// * A UTF-8 byte-order mark at the start of the first line is dropped.
/// * Lines are split on `\n`, and one `\r` before it is dropped.
/// * A line whose *first* byte is `#` is a comment; `  # x` is the pattern `# x`.
/// * Surrounding whitespace is trimmed and empty lines are skipped.
/// * A leading `!` marks an exception; whitespace after it is trimmed too.
/// * The rest is cleaned like a Go path and one leading `/` is removed, so
///   `/foo/` and `foo` are the same pattern.
///
/// A line that is just `!` yields `"!"`, which [`PatternMatcher::new`]
/// rejects. Bytes that are not UTF-8 are replaced by U+FFFD.
///
/// [`PatternMatcher::new`]: crate::PatternMatcher::new
///
/// # Errors
///
/// [`Error::LineTooLong`] if a line has 65536 bytes or more.
pub fn read_ignore_file(content: &[u8]) -> Result<Vec<String>, Error> {
    let mut patterns = Vec::new();
    let mut rest = content;
    let mut line_no = 0;
    while !rest.is_empty() {
        let (raw, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        line_no += 1;
        if raw.len() >= MAX_LINE {
            return Err(Error::LineTooLong { line: line_no });
        }
        let mut line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line_no == 1 {
            line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
        }
        let text = String::from_utf8_lossy(line);
        if text.starts_with('#') {
            continue;
        }
        if let Some(pattern) = normalize(&text) {
            patterns.push(pattern);
        }
    }
    Ok(patterns)
}

/// Trims and cleans one non-comment line; `None` for a blank line.
fn normalize(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let (invert, body) = match line.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, line),
    };
    let mut pattern = String::with_capacity(body.len() + 1);
    if invert {
        pattern.push('!');
    }
    if !body.is_empty() {
        let cleaned = clean(body);
        // Patterns are relative to the context root either way; the root
        // itself ("/") is left alone.
        let relative = match cleaned.strip_prefix('/') {
            Some(rest) if !rest.is_empty() => rest,
            _ => &cleaned,
        };
        pattern.push_str(relative);
    }
    Some(pattern)
}
