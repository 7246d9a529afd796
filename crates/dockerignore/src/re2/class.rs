//! Character classes as Go's regexp builds them, and their spelling in Rust
//! `regex` syntax.
//!
//! Ranges are kept as Go computes them (including its fixed ASCII sets for
//! `\d`, `\s`, `\w` and the POSIX names); Unicode tables are kept by name and
//! left to the Rust engine, which is the only place the two engines' data can
//! differ.

use std::fmt::Write as _;

/// The largest code point Go's regexp knows about.
const MAX_RUNE: u32 = 0x10_ffff;

/// One member of a class: a code point range or a named Unicode table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Item {
    /// An inclusive range of code points.
    Range(u32, u32),
    /// A Unicode table in Rust property syntax (e.g. `sc=Greek`), possibly negated.
    Table {
        /// The property, ready to go between `\p{` and `}`.
        property: String,
        /// Whether the complement of the table is meant (`\P` or `\p{^…}`).
        negated: bool,
    },
}

/// A built-in set: Go's Perl (`\d`) or POSIX (`[:alpha:]`) group.
#[derive(Clone, Copy)]
pub(super) struct Group {
    ranges: &'static [(u32, u32)],
    negated: bool,
}

const DIGIT: &[(u32, u32)] = &[(0x30, 0x39)];
// Go's `\s` leaves out the vertical tab, unlike `[:space:]`.
const PERL_SPACE: &[(u32, u32)] = &[(0x09, 0x0a), (0x0c, 0x0d), (0x20, 0x20)];
const WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5a), (0x5f, 0x5f), (0x61, 0x7a)];

/// The group for a Perl class escape such as `\d`, given the letter after `\`.
pub(super) fn perl_group(letter: char) -> Option<Group> {
    let (ranges, negated) = match letter {
        'd' => (DIGIT, false),
        'D' => (DIGIT, true),
        's' => (PERL_SPACE, false),
        'S' => (PERL_SPACE, true),
        'w' => (WORD, false),
        'W' => (WORD, true),
        _ => return None,
    };
    Some(Group { ranges, negated })
}

/// The group for a POSIX class name such as `alpha` or `^alpha`.
pub(super) fn posix_group(name: &str) -> Option<Group> {
    let (negated, base) = match name.strip_prefix('^') {
        Some(base) => (true, base),
        None => (false, name),
    };
    let ranges: &'static [(u32, u32)] = match base {
        "alnum" => &[(0x30, 0x39), (0x41, 0x5a), (0x61, 0x7a)],
        "alpha" => &[(0x41, 0x5a), (0x61, 0x7a)],
        "ascii" => &[(0x00, 0x7f)],
        "blank" => &[(0x09, 0x09), (0x20, 0x20)],
        "cntrl" => &[(0x00, 0x1f), (0x7f, 0x7f)],
        "digit" => DIGIT,
        "graph" => &[(0x21, 0x7e)],
        "lower" => &[(0x61, 0x7a)],
        "print" => &[(0x20, 0x7e)],
        "punct" => &[(0x21, 0x2f), (0x3a, 0x40), (0x5b, 0x60), (0x7b, 0x7e)],
        "space" => &[(0x09, 0x0d), (0x20, 0x20)],
        "upper" => &[(0x41, 0x5a)],
        "word" => WORD,
        "xdigit" => &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
        _ => return None,
    };
    Some(Group { ranges, negated })
}

/// Adds the code points of `group` to `items`.
pub(super) fn push_group(items: &mut Vec<Item>, group: Group) {
    if !group.negated {
        items.extend(group.ranges.iter().map(|&(lo, hi)| Item::Range(lo, hi)));
        return;
    }
    // The groups are sorted and disjoint, so the gaps are the complement.
    let mut next = 0;
    for &(lo, hi) in group.ranges {
        if next < lo {
            items.push(Item::Range(next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= MAX_RUNE {
        items.push(Item::Range(next, MAX_RUNE));
    }
}

/// Writes a class as Rust syntax. Surrogate code points, which Go's ranges may
/// contain but can never occur in a valid UTF-8 string, are left out because
/// Rust cannot name them; an empty class becomes one that matches nothing.
pub(super) fn write_class(out: &mut String, negated: bool, items: &[Item]) {
    let mut body = String::new();
    for item in items {
        match item {
            Item::Range(lo, hi) => {
                for (lo, hi) in without_surrogates(*lo, *hi) {
                    let _ = write!(body, "\\x{{{lo:x}}}-\\x{{{hi:x}}}");
                }
            }
            Item::Table { property, negated } => {
                let _ = write!(body, "\\{}{{{property}}}", if *negated { 'P' } else { 'p' });
            }
        }
    }
    if body.is_empty() {
        // Rust has no empty-class literal; the full range stands in for it,
        // with the sense flipped.
        out.push_str(if negated {
            "[\\x{0}-\\x{10ffff}]"
        } else {
            "[^\\x{0}-\\x{10ffff}]"
        });
        return;
    }
    out.push('[');
    if negated {
        out.push('^');
    }
    out.push_str(&body);
    out.push(']');
}

/// Writes a single literal code point.
pub(super) fn write_literal(out: &mut String, c: u32) {
    if (0xd800..=0xdfff).contains(&c) {
        write_class(out, false, &[]);
    } else {
        let _ = write!(out, "\\x{{{c:x}}}");
    }
}

/// Splits `lo..=hi` around the surrogate block.
fn without_surrogates(lo: u32, hi: u32) -> impl Iterator<Item = (u32, u32)> {
    let below = (lo <= 0xd7ff).then(|| (lo, hi.min(0xd7ff)));
    let above = (hi >= 0xe000).then(|| (lo.max(0xe000), hi));
    below.into_iter().chain(above)
}
