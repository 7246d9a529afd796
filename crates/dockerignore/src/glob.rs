//! Syntax check of a pattern as a Go `filepath.Match` glob.
//!
//! patternmatcher never matches with `filepath.Match`; it only calls it to
//! reject malformed patterns up front. Since Go 1.16 that call inspects the
//! whole pattern whatever the name, so the check reduces to this grammar:
//! `\` must be followed by a character, and `[` opens a class of one or more
//! items (`c` or `c-c`, where `c` is any character but `-` and `]`, or `\`
//! followed by any character), optionally negated by a leading `^`, and closed
//! by `]`.

use std::str::Chars;

/// Returns why `pattern` is not a valid Go glob, if it is not.
pub(crate) fn check(pattern: &str) -> Result<(), &'static str> {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            // The escaped character itself is irrelevant, only its presence.
            '\\' => _ = chars.next().ok_or("trailing backslash")?,
            '[' => check_class(&mut chars)?,
            _ => {}
        }
    }
    Ok(())
}

/// Checks a class body; `chars` is just past the opening `[`.
fn check_class(chars: &mut Chars<'_>) -> Result<(), &'static str> {
    if chars.clone().next() == Some('^') {
        chars.next();
    }
    let mut items = 0usize;
    loop {
        if items > 0 && chars.clone().next() == Some(']') {
            chars.next();
            return Ok(());
        }
        class_char(chars)?;
        if chars.clone().next() == Some('-') {
            chars.next();
            class_char(chars)?;
        }
        items += 1;
    }
}

/// Consumes one possibly escaped class character. Like Go, it also insists
/// that something follows, since a class cannot end without its `]`.
fn class_char(chars: &mut Chars<'_>) -> Result<(), &'static str> {
    match chars.next() {
        None => return Err("unterminated character class"),
        Some('-') => return Err("unexpected '-' in character class"),
        Some(']') => return Err("unexpected ']' in character class"),
        Some('\\') => {
            if chars.next().is_none() {
                return Err("trailing backslash in character class");
            }
        }
        Some(_) => {}
    }
    if chars.as_str().is_empty() {
        return Err("unterminated character class");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_what_go_accepts_and_rejects_the_rest() {
        let cases: &[(&str, bool)] = &[
            ("abc", true),
            ("*", true),
            ("a*/b", true),
            ("a?b", true),
            ("ab[c]", true),
            ("ab[^b-d]", true),
            ("a\\*b", true),
            ("[\\]a]", true),
            ("[\\-]", true),
            ("[x\\-]", true),
            ("[a-ζ]*", true),
            // A `*` inside brackets is a class member, not a chunk boundary.
            ("[*]", true),
            // Go's glob has no POSIX classes: this is `[`, `:`, `a` … then `]`.
            ("[[:alpha:]]", true),
            // Empty and reversed ranges are fine for the glob syntax.
            ("[z-a]", true),
            ("[Local-Only]", true),
            ("a|b{2}", true),
            ("[]a]", false),
            ("[-]", false),
            ("[x-]", false),
            ("[-x]", false),
            ("\\", false),
            ("a/b\\", false),
            ("[a-b-c]", false),
            ("[", false),
            ("[^", false),
            ("[^bc", false),
            ("a[", false),
            ("[a*", false),
            ("[\\", false),
            // Go checks the whole pattern, not just what it needed to reject ".".
            ("x[", false),
            ("**/a[b", false),
        ];
        for &(pattern, valid) in cases {
            assert_eq!(check(pattern).is_ok(), valid, "{pattern:?}");
        }
    }
}
