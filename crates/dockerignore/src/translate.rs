//! Turns a cleaned glob into what patternmatcher would evaluate: an exact,
//! prefix or suffix comparison for the simple shapes, or otherwise the source
//! text of a Go (RE2) regular expression.
//!
//! The translation is deliberately character-by-character like the Go code, so
//! that oddities carry over: `[`, `]`, `^`, `|`, `{` and `}` reach the regex
//! verbatim, `\` escapes become regex escapes (so `\d` means "digit"), and
//! `*`/`?` are rewritten even inside brackets.

/// How a pattern is evaluated; the shortcuts compare raw bytes of the cleaned
/// pattern, exactly as the Go code slices its string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The path must equal the pattern.
    Exact,
    /// The pattern ends in `**`; the path must start with what precedes it.
    Prefix,
    /// The pattern starts with `**`; the path must end with what follows it.
    Suffix,
    /// Anything else, matched by the regex from [`translate`].
    Regex,
}

/// The shape of `pattern` and, when it is [`Shape::Regex`], the RE2 source.
pub(crate) fn translate(pattern: &str) -> (Shape, String) {
    let mut re = String::with_capacity(pattern.len() + 8);
    re.push('^');
    let mut shape = Shape::Exact;
    let mut chars = pattern.chars().peekable();
    // Go's text/scanner silently drops a byte-order mark at the very start.
    if chars.peek() == Some(&'\u{feff}') {
        chars.next();
    }
    let mut first = true;
    while let Some(ch) = chars.next() {
        match ch {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                // `**/` behaves as `**`.
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    if shape == Shape::Exact {
                        shape = Shape::Prefix;
                    } else {
                        re.push_str(".*");
                        shape = Shape::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    shape = Shape::Regex;
                }
                if first {
                    shape = Shape::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                shape = Shape::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                shape = Shape::Regex;
            }
            // Go means to escape `.+()|{}$` here, but its lookup table is
            // one byte wide per row and silently loses `|`, `{` and `}`
            // (code points of 64 and up), which therefore reach the regex
            // raw: `a|b*` is an alternation and `a{2}*` a counted repeat.
            '.' | '+' | '(' | ')' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => match chars.next() {
                Some(next) => {
                    re.push('\\');
                    re.push(next);
                    shape = Shape::Regex;
                }
                // Unreachable after the glob check, kept for parity with Go.
                None => re.push('\\'),
            },
            '[' | ']' => {
                re.push(ch);
                shape = Shape::Regex;
            }
            _ => re.push(ch),
        }
        first = false;
    }
    if shape == Shape::Regex {
        re.push('$');
    }
    (shape, re)
}

#[cfg(test)]
mod tests {
    use super::{Shape, translate};

    #[test]
    fn shapes_and_regexes_match_patternmatcher() {
        // The regex column is only meaningful for `Shape::Regex`.
        let cases: &[(&str, Shape, &str)] = &[
            ("*", Shape::Regex, "^[^/]*$"),
            ("file*", Shape::Regex, "^file[^/]*$"),
            ("*file", Shape::Regex, "^[^/]*file$"),
            ("a*/b", Shape::Regex, "^a[^/]*/b$"),
            ("**", Shape::Suffix, ""),
            ("**/**", Shape::Regex, "^(.*/)?.*$"),
            ("dir/**", Shape::Prefix, ""),
            ("**/dir", Shape::Suffix, ""),
            ("**/dir2/*", Shape::Regex, "^(.*/)?dir2/[^/]*$"),
            ("**/dir2/**", Shape::Regex, "^(.*/)?dir2/.*$"),
            ("**file", Shape::Suffix, ""),
            ("**/file*txt", Shape::Regex, "^(.*/)?file[^/]*txt$"),
            ("**/**/*.txt", Shape::Regex, "^(.*/)?(.*/)?[^/]*\\.txt$"),
            ("a[b-d]e", Shape::Regex, "^a[b-d]e$"),
            (".*", Shape::Regex, "^\\.[^/]*$"),
            ("abc.def", Shape::Exact, ""),
            ("abc?def", Shape::Regex, "^abc[^/]def$"),
            ("**/foo/bar", Shape::Suffix, ""),
            ("a(b)c/def", Shape::Exact, ""),
            ("a.|)$(}+{bc", Shape::Exact, ""),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                Shape::Exact,
                "",
            ),
            // Characters Go fails to escape, and escapes that become regex escapes.
            ("a|b*", Shape::Regex, "^a|b[^/]*$"),
            ("x{2}*", Shape::Regex, "^x{2}[^/]*$"),
            ("\\d*", Shape::Regex, "^\\d[^/]*$"),
            ("a\\*b", Shape::Regex, "^a\\*b$"),
            // `**` anywhere but the end, even after other text.
            ("a**/b", Shape::Regex, "^a(.*/)?b$"),
            ("a/**", Shape::Prefix, ""),
            ("a*/**", Shape::Regex, "^a[^/]*/.*$"),
            ("***", Shape::Regex, "^(.*/)?[^/]*$"),
            // The leading byte-order mark is dropped from the regex only.
            ("\u{feff}a*", Shape::Regex, "^a[^/]*$"),
            ("\u{feff}**/x", Shape::Suffix, ""),
        ];
        for &(pattern, shape, regex) in cases {
            let (got_shape, got_regex) = translate(pattern);
            assert_eq!(got_shape, shape, "{pattern:?}");
            if shape == Shape::Regex {
                assert_eq!(got_regex, regex, "{pattern:?}");
            }
        }
    }
}
