//! Rewrites Go regular expressions into equivalent Rust `regex` syntax.
//!
//! The two dialects agree on most spellings but not on all meanings: Go's `\d`,
//! `\s`, `\w` and `\b` are ASCII-only, `[` inside a class is a literal in Go
//! but a nested class in Rust, Go accepts `[]a]`, `\Q…\E` and octal escapes,
//! and the set of escapable characters differs. Rather than patch the source
//! text, this module parses it with Go's rules (for the flags
//! `regexp.Compile` uses) and writes every construct out in an unambiguous
//! form: literals as `\x{…}`, classes as explicit ranges.
//!
//! It covers everything patternmatcher can emit. Perl-style groups `(?…)`
//! cannot arise there (the glob translation escapes `(`) and are reported as
//! unsupported.

mod class;
mod names;

use class::Item;

/// Translates the Go regular expression `source` into Rust syntax, or says why
/// Go would refuse to compile it.
pub(crate) fn to_rust(source: &str) -> Result<String, String> {
    Translator::default().run(source)
}

#[derive(Default)]
struct Translator {
    out: String,
    /// Offsets in `out` of the currently open groups.
    groups: Vec<usize>,
    /// Where the expression a repetition operator would apply to starts, if
    /// there is one (there is none right after `(`, `|` or at the start).
    operand: Option<usize>,
    /// The repetitions already applied to that operand, innermost first. Go
    /// lets an operand be repeated again when an empty `\Q\E` separates the
    /// operators; Rust then needs it wrapped, and Go bounds the product of
    /// nested counts.
    operand_repeats: Vec<Repeat>,
}

/// A repetition operator, as far as Go's nesting limit is concerned.
#[derive(Clone, Copy)]
enum Repeat {
    /// `*`, `+` or `?`, which the limit ignores.
    Unbounded,
    /// `{min}`, `{min,}` (max `None`) or `{min,max}`.
    Counted { min: u32, max: Option<u32> },
}

/// Go refuses counts above this, and nested counts whose product exceeds it.
const MAX_REPEAT: u32 = 1000;

impl Translator {
    fn run(mut self, source: &str) -> Result<String, String> {
        let mut t = source;
        let mut last_was_repeat = false;
        while let Some(c) = t.chars().next() {
            let mut is_repeat = false;
            match c {
                '(' => {
                    if t[1..].starts_with('?') {
                        return Err(format!("unsupported Perl group syntax: `{}`", head(t, 2)));
                    }
                    self.groups.push(self.out.len());
                    self.out.push('(');
                    self.operand = None;
                    t = &t[1..];
                }
                ')' => {
                    let Some(start) = self.groups.pop() else {
                        return Err(format!("unexpected ): `{source}`"));
                    };
                    self.out.push(')');
                    self.operand = Some(start);
                    self.operand_repeats.clear();
                    t = &t[1..];
                }
                '|' => {
                    self.out.push('|');
                    self.operand = None;
                    t = &t[1..];
                }
                '^' | '$' | '.' => {
                    self.atom(|out| out.push(c));
                    t = &t[1..];
                }
                '[' => {
                    let (negated, items, rest) = parse_class(t)?;
                    self.atom(|out| class::write_class(out, negated, &items));
                    t = rest;
                }
                '*' | '+' | '?' => {
                    t = self.repeat(t, 1, Repeat::Unbounded, last_was_repeat)?;
                    is_repeat = true;
                }
                '{' => match parse_count(t) {
                    Some((min, max, len)) => {
                        if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || min > m) {
                            return Err(format!("invalid repeat count: `{}`", &t[..len]));
                        }
                        t = self.repeat(t, len, Repeat::Counted { min, max }, last_was_repeat)?;
                        is_repeat = true;
                    }
                    // Anything that is not a well-formed count is a literal brace.
                    None => {
                        self.atom(|out| class::write_literal(out, u32::from('{')));
                        t = &t[1..];
                    }
                },
                '\\' => t = self.escape(t)?,
                _ => {
                    self.atom(|out| class::write_literal(out, u32::from(c)));
                    t = &t[c.len_utf8()..];
                }
            }
            last_was_repeat = is_repeat;
        }
        if !self.groups.is_empty() {
            return Err(format!("missing closing ): `{source}`"));
        }
        Ok(self.out)
    }

    /// Appends one operand, written by `write`.
    fn atom(&mut self, write: impl FnOnce(&mut String)) {
        self.operand = Some(self.out.len());
        self.operand_repeats.clear();
        write(&mut self.out);
    }

    /// Applies the repetition operator spelled by the first `len` bytes of
    /// `t` (plus a `?` making it lazy) to the current operand; returns the
    /// rest of the input.
    fn repeat<'s>(
        &mut self,
        t: &'s str,
        len: usize,
        kind: Repeat,
        last_was_repeat: bool,
    ) -> Result<&'s str, String> {
        let lazy = t[len..].starts_with('?');
        let op = &t[..len + usize::from(lazy)];
        if last_was_repeat {
            return Err(format!("invalid nested repetition operator: `{op}`"));
        }
        let Some(start) = self.operand else {
            return Err(format!("missing argument to repetition operator: `{op}`"));
        };
        if let Repeat::Counted { min, max } = kind {
            if (min >= 2 || max.is_some_and(|m| m >= 2)) && !nesting_ok(kind, &self.operand_repeats)
            {
                return Err(format!("invalid repeat count: `{op}`"));
            }
        }
        if !self.operand_repeats.is_empty() {
            self.out.insert_str(start, "(?:");
            self.out.push(')');
        }
        self.out.push_str(op);
        self.operand_repeats.push(kind);
        Ok(&t[op.len()..])
    }

    /// Handles a `\` sequence outside a class; returns the rest of the input.
    fn escape<'s>(&mut self, t: &'s str) -> Result<&'s str, String> {
        let rest = &t[1..];
        match rest.chars().next() {
            Some('A') => self.atom(|out| out.push_str("\\A")),
            Some('z') => self.atom(|out| out.push_str("\\z")),
            // Go's word boundaries only know ASCII word characters.
            Some('b') => self.atom(|out| out.push_str("(?-u:\\b)")),
            Some('B') => self.atom(|out| out.push_str("(?-u:\\B)")),
            Some('C') => return Err("invalid escape sequence: `\\C`".to_owned()),
            Some('Q') => {
                let quoted = &rest[1..];
                let (literal, after) = quoted.split_once("\\E").unwrap_or((quoted, ""));
                for c in literal.chars() {
                    self.atom(|out| class::write_literal(out, u32::from(c)));
                }
                return Ok(after);
            }
            Some('p' | 'P') => {
                let (item, after) = parse_unicode_class(t)?;
                self.atom(|out| class::write_class(out, false, &[item]));
                return Ok(after);
            }
            Some(letter) => {
                if let Some(group) = class::perl_group(letter) {
                    let mut items = Vec::new();
                    class::push_group(&mut items, group);
                    self.atom(|out| class::write_class(out, false, &items));
                    return Ok(&rest[1..]);
                }
                let (c, after) = parse_escape(t)?;
                self.atom(|out| class::write_literal(out, c));
                return Ok(after);
            }
            None => return Err("trailing backslash at end of expression".to_owned()),
        }
        Ok(&rest[1..])
    }
}

/// Parses a bracketed class at the start of `s` (which begins with `[`).
/// Returns whether it is negated, its members, and the input after it.
fn parse_class(s: &str) -> Result<(bool, Vec<Item>, &str), String> {
    let mut t = &s[1..];
    let negated = t.starts_with('^');
    if negated {
        t = &t[1..];
    }
    let mut items = Vec::new();
    // A `]` right after the opening bracket is a member, not the end.
    let mut first = true;
    while t.is_empty() || !t.starts_with(']') || first {
        first = false;
        if t.len() > 2 && t.starts_with("[:") {
            if let Some(end) = t[2..].find(":]").map(|i| i + 2) {
                let name = &t[..end + 2];
                let Some(group) = class::posix_group(&t[2..end]) else {
                    return Err(format!("invalid character class range: `{name}`"));
                };
                class::push_group(&mut items, group);
                t = &t[end + 2..];
                continue;
            }
        }
        if t.starts_with("\\p") || t.starts_with("\\P") {
            let (item, rest) = parse_unicode_class(t)?;
            items.push(item);
            t = rest;
            continue;
        }
        if let Some(group) = t
            .strip_prefix('\\')
            .and_then(|r| r.chars().next())
            .and_then(class::perl_group)
        {
            class::push_group(&mut items, group);
            t = &t[2..];
            continue;
        }
        let range_start = t;
        let (lo, rest) = parse_class_char(t, s)?;
        t = rest;
        let mut hi = lo;
        // `[a-]` holds `a` and `-`: a dash before `]` is not a range.
        if t.len() >= 2 && t.starts_with('-') && !t[1..].starts_with(']') {
            let (h, rest) = parse_class_char(&t[1..], s)?;
            t = rest;
            hi = h;
            if hi < lo {
                let range = &range_start[..range_start.len() - t.len()];
                return Err(format!("invalid character class range: `{range}`"));
            }
        }
        items.push(Item::Range(lo, hi));
    }
    Ok((negated, items, &t[1..]))
}

/// One class member character, escaped or not.
fn parse_class_char<'s>(t: &'s str, whole: &str) -> Result<(u32, &'s str), String> {
    match t.chars().next() {
        None => Err(format!("missing closing ]: `{whole}`")),
        Some('\\') => parse_escape(t),
        Some(c) => Ok((u32::from(c), &t[c.len_utf8()..])),
    }
}

/// Parses `\p{Name}`, `\pN`, `\P…` and `\p{^…}` at the start of `s`.
fn parse_unicode_class(s: &str) -> Result<(Item, &str), String> {
    let mut negated = s[1..].starts_with('P');
    let after = &s[2..];
    let (name, rest) = match after.chars().next() {
        Some('{') => {
            let Some(end) = after.find('}').map(|i| i + 2) else {
                return Err(format!("invalid character class range: `{s}`"));
            };
            (&s[3..end], &s[end + 1..])
        }
        Some(c) => after.split_at(c.len_utf8()),
        None => ("", after),
    };
    let seq = &s[..s.len() - rest.len()];
    let name = match name.strip_prefix('^') {
        Some(base) => {
            negated = !negated;
            base
        }
        None => name,
    };
    let Some(property) = names::rust_property(name) else {
        return Err(format!("invalid character class range: `{seq}`"));
    };
    Ok((Item::Table { property, negated }, rest))
}

/// Parses a single-character escape (`\n`, `\x41`, `\101`, `\.` …) at the
/// start of `s`.
fn parse_escape(s: &str) -> Result<(u32, &str), String> {
    let invalid = |rest: &str| format!("invalid escape sequence: `{}`", &s[..s.len() - rest.len()]);
    let mut t = &s[1..];
    let Some(c) = t.chars().next() else {
        return Err("trailing backslash at end of expression".to_owned());
    };
    t = &t[c.len_utf8()..];
    match c {
        '1'..='7' if !t.starts_with(|d: char| ('0'..='7').contains(&d)) => Err(invalid(t)),
        '0'..='7' => {
            let mut r = u32::from(c) - u32::from('0');
            for _ in 0..2 {
                match t.chars().next() {
                    Some(d @ '0'..='7') => {
                        r = r * 8 + (u32::from(d) - u32::from('0'));
                        t = &t[1..];
                    }
                    _ => break,
                }
            }
            Ok((r, t))
        }
        'x' => parse_hex(t).ok_or_else(|| invalid(t)),
        'a' => Ok((0x07, t)),
        'f' => Ok((0x0c, t)),
        'n' => Ok((0x0a, t)),
        'r' => Ok((0x0d, t)),
        't' => Ok((0x09, t)),
        'v' => Ok((0x0b, t)),
        _ if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((u32::from(c), t)),
        _ => Err(invalid(t)),
    }
}

/// The digits after `\x`: either exactly two, or one or more in braces.
fn parse_hex(t: &str) -> Option<(u32, &str)> {
    if let Some(braced) = t.strip_prefix('{') {
        let end = braced.find('}')?;
        let digits = &braced[..end];
        if digits.is_empty() {
            return None;
        }
        let mut r: u32 = 0;
        for d in digits.chars() {
            r = r * 16 + d.to_digit(16)?;
            if r > 0x10_ffff {
                return None;
            }
        }
        return Some((r, &braced[end + 1..]));
    }
    let mut chars = t.chars();
    let hi = chars.next()?.to_digit(16)?;
    let lo = chars.next()?.to_digit(16)?;
    Some((hi * 16 + lo, &t[2..]))
}

/// Parses `{n}`, `{n,}` or `{n,m}` at the start of `t` as Go does (no
/// leading zeros; numbers of nine or more digits count as too large).
/// Returns the bounds and the length of the operator.
fn parse_count(t: &str) -> Option<(u32, Option<u32>, usize)> {
    let body = &t[1..];
    let (min, rest) = parse_int(body)?;
    let (max, rest) = match rest.strip_prefix(',') {
        None => (Some(min), rest),
        Some(r) if r.starts_with('}') => (None, r),
        Some(r) => {
            let (max, r) = parse_int(r)?;
            (Some(max), r)
        }
    };
    let rest = rest.strip_prefix('}')?;
    Some((min, max, t.len() - rest.len()))
}

/// A decimal number without leading zeros; too-large values saturate to
/// `u32::MAX` so that the caller rejects them.
fn parse_int(s: &str) -> Option<(u32, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (digits >= 2 && s.starts_with('0')) {
        return None;
    }
    let value = if digits > 8 {
        u32::MAX
    } else {
        s[..digits].parse().ok()?
    };
    Some((value, &s[digits..]))
}

/// Go's limit on nested counted repetitions: going inwards from the new
/// operator, each count divides a budget of 1000, which no count may exceed;
/// a count of zero ends the check.
fn nesting_ok(new: Repeat, inner: &[Repeat]) -> bool {
    let mut budget = MAX_REPEAT;
    for rep in std::iter::once(&new).chain(inner.iter().rev()) {
        if let Repeat::Counted { min, max } = *rep {
            let m = max.unwrap_or(min);
            if m == 0 {
                return true;
            }
            if m > budget {
                return false;
            }
            budget /= m;
        }
    }
    true
}

/// The first `n` characters of `s`, for error messages.
fn head(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

#[cfg(test)]
mod tests {
    use super::to_rust;
    use regex::Regex;

    /// (Go regex, haystack, whether Go's `MatchString` is true); the expected
    /// values were taken from Go itself.
    const MATCHES: &[(&str, &str, bool)] = &[
        ("^[]a]$", "]", true),
        ("^[]a]$", "a", true),
        ("^[[]$", "[", true),
        ("^\\d$", "\u{663}", false),
        ("^\\d$", "7", true),
        ("^\\s$", "\u{b}", false),
        ("^\\s$", "\u{c}", true),
        ("^[[:space:]]$", "\u{b}", true),
        ("é\\b", "é", false),
        ("^a\\b", "a", true),
        ("^a\\B", "ab", true),
        ("^a\\B", "aé", false),
        ("^\\Q.*\\E$", ".*", true),
        ("^\\Q.*\\E$", "ab", false),
        ("^\\Q.*$", ".*$", true),
        ("^\\101$", "A", true),
        ("^\\0$", "\0", true),
        ("^[^\\x00-\\x{10FFFF}]$", "a", false),
        ("^a{2}\\Q\\E{3}$", "aaaaaa", true),
        ("^a{2}\\Q\\E{3}$", "aaaa", false),
        ("^x|y$", "xz", true),
        ("^[\\pN]$", "5", true),
        ("^\\p{^L}$", "5", true),
        ("^\\PL$", "a", false),
        ("^.$", "\n", false),
        ("^[^a]$", "\n", true),
        ("^a{,2}$", "a{,2}", true),
        ("^a{02}$", "a{02}", true),
        ("^\\_$", "_", true),
        ("^[\\d-z]$", "-", true),
        ("^\\x41\\x{42}$", "AB", true),
        ("^[\\x41-\\x{43}]$", "B", true),
        ("^a{1,}$", "aaa", true),
        ("^(a|b)*?c$", "abac", true),
    ];

    #[test]
    fn translations_match_like_go() {
        for &(go, haystack, expected) in MATCHES {
            let rust = to_rust(go).unwrap();
            let re = Regex::new(&rust).unwrap();
            assert_eq!(
                re.is_match(haystack),
                expected,
                "{go:?} ({rust}) on {haystack:?}"
            );
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        let cases: &[(&str, &str)] = &[
            ("a{100}\\Q\\E{100}", "invalid repeat count"),
            ("a**", "invalid nested repetition operator"),
            ("*", "missing argument to repetition operator"),
            ("a|*", "missing argument to repetition operator"),
            ("[z-a]", "invalid character class range"),
            ("[[:foo:]]", "invalid character class range"),
            ("\\pX", "invalid character class range"),
            ("\\p{Greek", "invalid character class range"),
            ("\\8", "invalid escape sequence"),
            ("\\1", "invalid escape sequence"),
            ("\\q", "invalid escape sequence"),
            ("\\C", "invalid escape sequence"),
            ("\\x{110000}", "invalid escape sequence"),
            ("\\x4", "invalid escape sequence"),
            ("[a-\\d]", "invalid escape sequence"),
            ("a{1001}", "invalid repeat count"),
            ("x{2,1}", "invalid repeat count"),
            ("[a", "missing closing ]"),
            ("a)", "unexpected )"),
            ("(a", "missing closing )"),
            ("a\\", "trailing backslash"),
            ("(?i)a", "unsupported"),
        ];
        for &(go, reason) in cases {
            let err = to_rust(go).unwrap_err();
            assert!(err.contains(reason), "{go:?}: {err}");
        }
        assert!(to_rust("a{100}\\Q\\E{10}").is_ok());
    }

    #[test]
    fn surrogate_escapes_never_match() {
        // Go sometimes matches U+FFFD here through its literal-prefix fast
        // path; no valid path can contain a surrogate, so nothing matches.
        let re = Regex::new(&to_rust("^\\x{D800}a*$").unwrap()).unwrap();
        assert!(!re.is_match("a"));
        assert!(!re.is_match("\u{fffd}"));
    }
}
