//! Shell patterns for `${v#p}`, `${v%p}` and `${v/p/r}`: `*` and `?` wildcards and
//! backslash escapes, translated to regular expressions as BuildKit does (no
//! bracket expressions).

use regex::Regex;

/// Why a pattern is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// A backslash before something other than `*`, `?`, `\`, `}` or `/`.
    #[error("invalid escape '\\{0}'")]
    InvalidEscape(char),
    /// The translated expression did not compile (should not happen).
    #[error("{0}")]
    Regex(String),
}

/// Translates a shell pattern to a regex. `greedy` picks the longest match for `*`.
fn to_regex(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, PatternError> {
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let mut chars = pattern.chars().peekable();
    while let Some(tok) = chars.next() {
        match tok {
            '*' => out.push_str(star),
            '?' => out.push('.'),
            '\\' => {
                // Inside ${…} a `}` or `/` has to be escaped, but the escape is not part
                // of the pattern.
                if matches!(chars.peek(), Some('}' | '/')) {
                    continue;
                }
                let escaped = chars.next();
                match escaped {
                    Some(c @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(c);
                    }
                    // Go reports the end of input as the replacement character.
                    other => return Err(PatternError::InvalidEscape(other.unwrap_or('\u{fffd}'))),
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => {
                out.push('\\');
                out.push(tok);
            }
            c => out.push(c),
        }
    }
    Regex::new(&out).map_err(|e| PatternError::Regex(e.to_string()))
}

/// `${value#pattern}` (shortest) or `${value##pattern}` (longest).
pub(super) fn trim_prefix(
    pattern: &str,
    value: &str,
    greedy: bool,
) -> Result<String, PatternError> {
    let re = to_regex(pattern, greedy, true)?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_owned(),
        None => value.to_owned(),
    })
}

/// `${value%pattern}` (shortest) or `${value%%pattern}` (longest). Regexes find the
/// leftmost match, so both the value and the pattern are reversed to search from
/// the right.
pub(super) fn trim_suffix(
    pattern: &str,
    value: &str,
    greedy: bool,
) -> Result<String, PatternError> {
    let reversed_pattern = reverse_pattern(pattern);
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reversed_pattern, &reversed_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// `${value/pattern/replacement}` or, with `all`, `${value//pattern/replacement}`.
pub(super) fn replace(
    value: &str,
    pattern: &str,
    replacement: &str,
    all: bool,
) -> Result<String, PatternError> {
    let re = to_regex(pattern, true, false)?;
    // The replacement is literal text, not a regex template.
    let replacement = regex::NoExpand(replacement);
    Ok(if all {
        re.replace_all(value, replacement).into_owned()
    } else {
        re.replace(value, replacement).into_owned()
    })
}

/// Reverses a pattern while keeping each escape in front of the character it escapes.
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = vec![' '; chars.len()];
    let last = chars.len().saturating_sub(1);
    let mut i = 0;
    while i < chars.len() {
        let out_idx = last - i;
        if chars[i] == '\\' && i != last {
            out[out_idx - 1] = chars[i];
            out[out_idx] = chars[i + 1];
            i += 2;
        } else {
            out[out_idx] = chars[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_suffix_trimming() {
        let cases = [
            ("*/", "/usr/local/bin", false, true, "usr/local/bin"),
            ("*/", "/usr/local/bin", true, true, "bin"),
            ("/*", "/usr/local/bin", false, false, "/usr/local"),
            ("/*", "/usr/local/bin", true, false, ""),
            ("a?c", "abcabc", false, true, "abc"),
            ("x", "abc", false, true, "abc"),
            ("\\*", "*star", false, true, "star"),
            ("a.b", "axb.c", false, true, "axb.c"),
        ];
        for (pattern, value, greedy, prefix, want) in cases {
            let got = if prefix {
                trim_prefix(pattern, value, greedy)
            } else {
                trim_suffix(pattern, value, greedy)
            }
            .unwrap();
            assert_eq!(
                got, want,
                "{pattern} {value} greedy={greedy} prefix={prefix}"
            );
        }
    }

    #[test]
    fn replacement_is_literal() {
        assert_eq!(replace("a.b.c", ".", "$1", false).unwrap(), "a$1b.c");
        assert_eq!(replace("a.b.c", ".", "-", true).unwrap(), "a-b-c");
        assert_eq!(replace("hello", "l*", "L", false).unwrap(), "heL");
    }

    #[test]
    fn bad_escapes_are_reported() {
        assert_eq!(
            trim_prefix("\\a", "x", false),
            Err(PatternError::InvalidEscape('a'))
        );
    }

    #[test]
    fn reversing_keeps_escapes_in_front() {
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(reverse_pattern("abc"), "cba");
    }
}
