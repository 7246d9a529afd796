//! File-mode expressions as `COPY --chmod=<expr>` accepts them: an absolute octal
//! number (`0755`) or a chmod(1) symbolic expression (`u+x,go-w`, `a=rX`, `go=u-w`).
//!
//! BuildKit evaluates these with `github.com/tonistiigi/dchapes-mode`, a Go port of
//! BSD libc's `setmode`/`getmode`. Symbolic expressions have many corner cases where
//! BSD, GNU and "what a reader would guess" disagree, and a build is only reproducible
//! if we land on the same bits as BuildKit, so this module follows that package's
//! algorithm step by step: parsing turns the expression into a short list of bit
//! commands (clear, set, conditional execute, copy between classes), which is then
//! squashed exactly the way `setmode` squashes it, and applied per file.
//!
//! The revision followed is the one BuildKit vendors since v0.21
//! (`v0.0.0-20250318174251-73d941a28323`), which made `X` behave as on Linux: with
//! `+` or `=` it grants execute only to directories and to files that already had
//! some execute bit, and with `-` it removes execute unconditionally. Older revisions
//! ignored `X` after `=` and `-`.
//!
//! The umask is always 0, as BuildKit passes it, so the mode is never filtered by the
//! process's umask.

use std::fmt::{self, Write as _};

/// Set-user-ID on execution.
const IS_UID: u16 = 0o4000;
/// Set-group-ID on execution.
const IS_GID: u16 = 0o2000;
/// Sticky bit.
const IS_TXT: u16 = 0o1000;
const RWX_USER: u16 = 0o700;
const RWX_GROUP: u16 = 0o070;
const RWX_OTHER: u16 = 0o007;
const READ_USER: u16 = 0o400;
const READ_GROUP: u16 = 0o040;
const READ_OTHER: u16 = 0o004;
const READ_ALL: u16 = 0o444;
const WRITE_ALL: u16 = 0o222;
const EXEC_ALL: u16 = 0o111;
/// What `a` selects and what a bare `=` clears. The sticky bit is deliberately left
/// out: `setmode` only touches it when `t` is named explicitly.
const STANDARD_BITS: u16 = IS_UID | IS_GID | RWX_USER | RWX_GROUP | RWX_OTHER;
/// Every bit a mode expression can affect (the low 12 bits of `st_mode`).
const ALL_MODE_BITS: u16 = 0o7777;

/// Why a mode expression is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// Not a valid symbolic expression, or an octal number with bits above `0o7777`.
    #[error("invalid syntax")]
    Syntax,
    /// Starts with a digit but is not an octal number that fits Go's
    /// `strconv.ParseInt(s, 8, 16)`; the message is Go's `*strconv.NumError` text.
    #[error("strconv.ParseInt: parsing {}: {kind}", go_quote(.input))]
    NotOctal {
        /// The whole expression, as given.
        input: String,
        /// Whether it had a non-octal character or was too large.
        kind: OctalErrorKind,
    },
}

impl ModeError {
    /// True if the error came from a value that looks numeric: one starting with a
    /// digit that Go's `strconv` rejected (where Go returns a `*strconv.NumError`).
    /// An octal number that parses but has bits above `0o7777` is [`ModeError::Syntax`].
    ///
    /// BuildKit's Dockerfile frontend reports its own "it should be octal string and
    /// between 0 and 07777" message instead of this error in that case.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Self::NotOctal { .. })
    }
}

/// How a numeric-looking mode failed to parse, mirroring Go's `strconv.ErrSyntax`
/// and `strconv.ErrRange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OctalErrorKind {
    /// A character other than `0`–`7` (`strconv.ErrSyntax`).
    InvalidSyntax,
    /// Larger than a signed 16-bit integer holds (`strconv.ErrRange`).
    OutOfRange,
}

impl fmt::Display for OctalErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidSyntax => "invalid syntax",
            Self::OutOfRange => "value out of range",
        })
    }
}

/// A parsed mode expression, applied per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolicMode {
    commands: Vec<Command>,
}

/// One step of `setmode`'s command list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// Turn these bits on.
    Set(u16),
    /// Turn these bits off.
    Clear(u16),
    /// Turn these bits on if the file is a directory or had any execute bit before
    /// the whole expression started (not before this step).
    SetIfExecutable(u16),
    /// Copy one class's permissions onto others (`u=g`, `go+u`).
    Copy(CopyCommand),
}

/// The class whose `rwx` triplet a copy command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    User,
    Group,
    Other,
}

impl Class {
    /// How far the class's triplet sits above the "other" triplet.
    fn shift(self) -> u32 {
        match self {
            Self::User => 6,
            Self::Group => 3,
            Self::Other => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CopyCommand {
    from: Class,
    to_user: bool,
    to_group: bool,
    to_other: bool,
    /// Clear the destination first: all of it for `=`, only the source's bits for `-`.
    clear: bool,
    /// OR the source's bits into the destination.
    set: bool,
    /// Final filter on what may change; all ones unless the clause had no `who`, in
    /// which case it is the inverted umask.
    bits: u16,
}

/// The operator of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Assign,
}

impl SymbolicMode {
    /// Parses a symbolic (`u+x,go-w`, `a=rX`, `u=g`, `+t`) or octal (`755`) mode
    /// expression, with umask 0.
    pub fn parse(s: &str) -> Result<Self, ModeError> {
        Self::parse_with_umask(s, 0)
    }

    /// `ParseWithUmask`: `umask` only matters for clauses without a `who` (`+x`).
    fn parse_with_umask(s: &str, umask: u16) -> Result<Self, ModeError> {
        let bytes = s.as_bytes();
        match bytes.first() {
            None => Err(ModeError::Syntax),
            Some(b'0'..=b'9') => parse_octal(s),
            Some(_) => parse_symbolic(bytes, !umask),
        }
    }

    /// The new mode for a file whose current mode is `mode` (permission bits plus
    /// setuid, setgid and sticky, i.e. the low 12 bits of `st_mode`; higher bits are
    /// ignored and only the low 12 bits are returned). `is_dir` matters for `X`.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let original = low_bits(mode);
        let mut new = original;
        for command in &self.commands {
            match *command {
                Command::Set(bits) => new |= bits,
                Command::Clear(bits) => new &= !bits,
                Command::SetIfExecutable(bits) => {
                    if is_dir || original & EXEC_ALL != 0 {
                        new |= bits;
                    }
                }
                Command::Copy(copy) => new = copy.apply(new),
            }
        }
        u32::from(new & ALL_MODE_BITS)
    }
}

impl CopyCommand {
    fn apply(&self, mode: u16) -> u16 {
        // The source triplet is read once, before any destination (possibly the
        // source itself) is modified.
        let value = (mode >> self.from.shift()) & RWX_OTHER;
        let targets = [
            (self.to_user, Class::User),
            (self.to_group, Class::Group),
            (self.to_other, Class::Other),
        ];
        let mut mode = mode;
        if self.clear {
            let cleared = if self.set { RWX_OTHER } else { value };
            for (selected, class) in targets {
                if selected {
                    mode &= !((cleared << class.shift()) & self.bits);
                }
            }
        }
        if self.set {
            for (selected, class) in targets {
                if selected {
                    mode |= (value << class.shift()) & self.bits;
                }
            }
        }
        mode
    }
}

/// The low 12 bits of a `st_mode`-like value.
fn low_bits(mode: u32) -> u16 {
    // Masked to 12 bits first, so the conversion cannot fail.
    u16::try_from(mode & u32::from(ALL_MODE_BITS)).unwrap_or(0)
}

/// An absolute mode: Go's `strconv.ParseInt(s, 8, 16)`, then a check that only the
/// 12 mode bits are used.
fn parse_octal(s: &str) -> Result<SymbolicMode, ModeError> {
    let value = go_parse_octal_i16(s).map_err(|kind| ModeError::NotOctal {
        input: s.to_owned(),
        kind,
    })?;
    if value & !ALL_MODE_BITS != 0 {
        return Err(ModeError::Syntax);
    }
    // An absolute mode replaces all 12 bits; it is never squashed, like in Go.
    Ok(SymbolicMode {
        commands: vec![Command::Clear(ALL_MODE_BITS), Command::Set(value)],
    })
}

/// Go's `strconv.ParseInt(s, 8, 16)` for a string that starts with a digit (so there
/// is no sign to strip). The order of checks matters for which error is reported:
/// `ParseUint` stops at the first bad character or at the first digit that takes
/// the value past `u16::MAX`, whichever comes first, and `ParseInt` then reports any
/// value at or above `1 << 15` as out of range.
fn go_parse_octal_i16(s: &str) -> Result<u16, OctalErrorKind> {
    let mut value: u32 = 0;
    for &byte in s.as_bytes() {
        let digit = match byte {
            b'0'..=b'7' => u32::from(byte - b'0'),
            _ => return Err(OctalErrorKind::InvalidSyntax),
        };
        value = value * 8 + digit;
        if value > u32::from(u16::MAX) {
            return Err(OctalErrorKind::OutOfRange);
        }
    }
    if value >= 1 << 15 {
        return Err(OctalErrorKind::OutOfRange);
    }
    u16::try_from(value).map_err(|_| OctalErrorKind::OutOfRange)
}

/// The symbolic grammar of chmod(1):
///
/// ```text
/// mode   ::= clause [, clause ...]
/// clause ::= [who ...] [action ...] action
/// action ::= op [perm ...]
/// who    ::= a | u | g | o
/// op     ::= + | - | =
/// perm   ::= r | s | t | w | x | X | u | g | o
/// ```
///
/// `mask` is the inverted umask.
fn parse_symbolic(s: &[u8], mask: u16) -> Result<SymbolicMode, ModeError> {
    let mut commands = Vec::new();
    let mut pos = 0;
    // Whether the clear half of the current `=` has been emitted. It survives
    // across clauses, but is reset by every `=`, the only place it is read.
    let mut assign_done = false;
    'clauses: loop {
        let mut who: u16 = 0;
        loop {
            match s.get(pos) {
                // Also rejects an empty clause after a trailing comma.
                None => return Err(ModeError::Syntax),
                Some(b'a') => who |= STANDARD_BITS,
                Some(b'u') => who |= IS_UID | RWX_USER,
                Some(b'g') => who |= IS_GID | RWX_GROUP,
                Some(b'o') => who |= RWX_OTHER,
                Some(_) => break,
            }
            pos += 1;
        }

        // Each pass handles one action; a clause may chain several (`u+x-w`).
        loop {
            let op = match s.get(pos) {
                Some(b'+') => Op::Add,
                Some(b'-') => Op::Remove,
                Some(b'=') => {
                    assign_done = false;
                    Op::Assign
                }
                _ => return Err(ModeError::Syntax),
            };
            pos += 1;
            // A `t` in the previous action widened `who`; that must not leak.
            who &= !IS_TXT;

            let mut perm: u16 = 0;
            let mut perm_x: u16 = 0;
            loop {
                match s.get(pos) {
                    Some(b'r') => perm |= READ_ALL,
                    Some(b's') => {
                        // Set-ID bits have no meaning for "other" alone.
                        if who == 0 || who & !RWX_OTHER != 0 {
                            perm |= IS_UID | IS_GID;
                        }
                    }
                    Some(b't') => {
                        // Nor sticky. Recording it in `who` means that a clause
                        // without `who` (`+tx`) is from here on limited to the
                        // sticky bit: a `setmode` quirk kept on purpose.
                        if who == 0 || who & !RWX_OTHER != 0 {
                            who |= IS_TXT;
                            perm |= IS_TXT;
                        }
                    }
                    Some(b'w') => perm |= WRITE_ALL,
                    Some(b'X') => {
                        if op == Op::Remove {
                            perm |= EXEC_ALL;
                        } else {
                            perm_x = EXEC_ALL;
                        }
                    }
                    Some(b'x') => perm |= EXEC_ALL,
                    Some(&class @ (b'u' | b'g' | b'o')) => {
                        // Copies act on the mode as it is at this point, so
                        // whatever was named before must be emitted first.
                        if perm != 0 {
                            push_bits(&mut commands, op, who, perm, mask);
                            perm = 0;
                        }
                        if op == Op::Assign {
                            assign_done = true;
                        }
                        if perm_x != 0 {
                            push_masked(&mut commands, Command::SetIfExecutable, who, perm_x, mask);
                            perm_x = 0;
                        }
                        let from = match class {
                            b'u' => Class::User,
                            b'g' => Class::Group,
                            _ => Class::Other,
                        };
                        push_copy(&mut commands, from, op, who, mask);
                    }
                    _ => {
                        // `=` with nothing after it still clears, unless a copy
                        // already did the clearing.
                        if perm != 0 || (op == Op::Assign && !assign_done) {
                            if op == Op::Assign {
                                assign_done = true;
                            }
                            push_bits(&mut commands, op, who, perm, mask);
                        }
                        if perm_x != 0 {
                            push_masked(&mut commands, Command::SetIfExecutable, who, perm_x, mask);
                        }
                        break;
                    }
                }
                pos += 1;
            }

            match s.get(pos) {
                None => break 'clauses,
                Some(b',') => {
                    pos += 1;
                    continue 'clauses;
                }
                // Anything else must start the next action of this clause.
                Some(_) => {}
            }
        }
    }
    Ok(SymbolicMode {
        commands: compress(commands),
    })
}

/// `addcmd` for `+`, `-` and `=`.
fn push_bits(commands: &mut Vec<Command>, op: Op, who: u16, perm: u16, mask: u16) {
    match op {
        Op::Add => push_masked(commands, Command::Set, who, perm, mask),
        Op::Remove => push_masked(commands, Command::Clear, who, perm, mask),
        Op::Assign => {
            // The clear half ignores the umask: `=r` empties every class.
            commands.push(Command::Clear(if who != 0 { who } else { STANDARD_BITS }));
            push_masked(commands, Command::Set, who, perm, mask);
        }
    }
}

/// Restricts `perm` to the named classes, or to the umask when none was named.
fn push_masked(
    commands: &mut Vec<Command>,
    command: fn(u16) -> Command,
    who: u16,
    perm: u16,
    mask: u16,
) {
    commands.push(command(if who != 0 { who & perm } else { mask & perm }));
}

/// `addcmd` for a copy from another class.
fn push_copy(commands: &mut Vec<Command>, from: Class, op: Op, who: u16, mask: u16) {
    let (to_user, to_group, to_other, bits) = if who != 0 {
        (
            who & READ_USER != 0,
            who & READ_GROUP != 0,
            who & READ_OTHER != 0,
            u16::MAX,
        )
    } else {
        (true, true, true, mask)
    };
    commands.push(Command::Copy(CopyCommand {
        from,
        to_user,
        to_group,
        to_other,
        clear: op != Op::Add,
        set: op != Op::Remove,
        bits,
    }));
}

/// Squashes each run of set/clear/conditional commands into at most one of each, in
/// the order clear, set, conditional, dropping the empty ones; copies stay put.
fn compress(commands: Vec<Command>) -> Vec<Command> {
    /// The net effect of the current run, emitted when a copy or the end is reached.
    #[derive(Default)]
    struct Run {
        set: u16,
        clear: u16,
        conditional: u16,
    }

    impl Run {
        fn flush(&mut self, out: &mut Vec<Command>) {
            let run = std::mem::take(self);
            if run.clear != 0 {
                out.push(Command::Clear(run.clear));
            }
            if run.set != 0 {
                out.push(Command::Set(run.set));
            }
            if run.conditional != 0 {
                out.push(Command::SetIfExecutable(run.conditional));
            }
        }
    }

    let mut out = Vec::with_capacity(commands.len());
    let mut run = Run::default();
    for command in commands {
        match command {
            Command::Clear(bits) => {
                run.clear |= bits;
                run.set &= !bits;
                run.conditional &= !bits;
            }
            Command::Set(bits) => {
                run.set |= bits;
                run.clear &= !bits;
                run.conditional &= !bits;
            }
            // Bits already set unconditionally need no conditional grant.
            Command::SetIfExecutable(bits) => run.conditional |= bits & !run.set,
            // A copy reads the mode as the preceding commands left it, so the run
            // cannot be merged across it.
            Command::Copy(_) => {
                run.flush(&mut out);
                out.push(command);
            }
        }
    }
    run.flush(&mut out);
    out
}

/// Go's `strconv.Quote`, so error messages match BuildKit's byte for byte.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\0'..='\u{1f}' | '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_printable(c) => out.push(c),
            c if u32::from(c) < 0x1_0000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// Go's `unicode.IsPrint` for non-ASCII characters.
///
/// Both Go and Rust's `Debug` call a character printable unless it is a control,
/// format, surrogate, private-use, unassigned or separator character, so the
/// standard library's escaping answers the question without a Unicode table here.
/// Rust escapes combining marks only at the start of a string, hence the prefix.
fn is_printable(c: char) -> bool {
    let probe: String = ['a', c].iter().collect();
    probe.escape_debug().eq(probe.chars())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: bool = false;
    const DIR: bool = true;

    fn apply(expr: &str, mode: u32, is_dir: bool) -> u32 {
        SymbolicMode::parse(expr)
            .unwrap_or_else(|e| panic!("{expr:?} should parse: {e}"))
            .apply(mode, is_dir)
    }

    #[test]
    fn accepts_valid_expressions() {
        let valid = [
            "0",
            "7",
            "00",
            "755",
            "0755",
            "644",
            "7777",
            "07777",
            "000000000000007777",
            "=",
            "+",
            "-",
            "a=",
            "u=",
            "go=",
            "+t",
            "-t",
            "o+t",
            "a+s",
            "o+s",
            "u+x",
            "u+X",
            "a=rX",
            "u=rwX,go=rX",
            "go-w",
            "o-rwx,g+x",
            "u=rwx,g=,o=",
            "u+rw,g+r,o-x,o+w",
            "u=g",
            "g+u",
            "u+go",
            "go=u-w",
            "u=rwx,g=u-w",
            "u+x-w",
            "u+x-w=r",
            "+-=",
            "ugoa+rwxXst",
            "a=r,ug=rw,u+x",
            "o+r,g+w,a+t,g-s,u+og",
            "=rw,+X",
            "-Xu",
            "-uX",
            "u=gr",
            "ua+x",
            "u+uo",
        ];
        for expr in valid {
            assert!(
                SymbolicMode::parse(expr).is_ok(),
                "{expr:?} should be accepted"
            );
        }
    }

    #[test]
    fn rejects_invalid_expressions_with_invalid_syntax() {
        let invalid = [
            "", ",", ",u+x", "u+x,", "u+x,,g+w", "u+x,,", "q+r", "z", "u", "g", "o", "go", "a",
            "u+q", "u+x y", " u+x", "u+x ", "+x,", "u+rz", "u:x", "U+x", "u+R", "u+x\n", "u+x\0",
            "ü+x",
            // In range for a 16-bit signed integer, but above the 12 mode bits.
            "10000", "017777", "77777", "077777",
        ];
        for expr in invalid {
            assert_eq!(
                SymbolicMode::parse(expr),
                Err(ModeError::Syntax),
                "{expr:?}"
            );
        }
    }

    #[test]
    fn numeric_errors_mirror_go_strconv() {
        let cases = [
            ("8", r#"strconv.ParseInt: parsing "8": invalid syntax"#),
            ("9", r#"strconv.ParseInt: parsing "9": invalid syntax"#),
            ("999", r#"strconv.ParseInt: parsing "999": invalid syntax"#),
            (
                "0x1f",
                r#"strconv.ParseInt: parsing "0x1f": invalid syntax"#,
            ),
            (
                "0o755",
                r#"strconv.ParseInt: parsing "0o755": invalid syntax"#,
            ),
            (
                "7_55",
                r#"strconv.ParseInt: parsing "7_55": invalid syntax"#,
            ),
            (
                "755u",
                r#"strconv.ParseInt: parsing "755u": invalid syntax"#,
            ),
            ("1+x", r#"strconv.ParseInt: parsing "1+x": invalid syntax"#),
            ("7 ", r#"strconv.ParseInt: parsing "7 ": invalid syntax"#),
            // Values from 1 << 15 up pass ParseUint but fail ParseInt's signed bound.
            (
                "100000",
                r#"strconv.ParseInt: parsing "100000": value out of range"#,
            ),
            (
                "177777",
                r#"strconv.ParseInt: parsing "177777": value out of range"#,
            ),
            (
                "200000",
                r#"strconv.ParseInt: parsing "200000": value out of range"#,
            ),
            (
                "01000000000000000007777",
                r#"strconv.ParseInt: parsing "01000000000000000007777": value out of range"#,
            ),
            // The overflow is hit at the sixth digit, before the bad character.
            (
                "7777779",
                r#"strconv.ParseInt: parsing "7777779": value out of range"#,
            ),
            (
                "777779",
                r#"strconv.ParseInt: parsing "777779": invalid syntax"#,
            ),
            // Quoting follows Go's strconv.Quote.
            (
                "7\"\\",
                r#"strconv.ParseInt: parsing "7\"\\": invalid syntax"#,
            ),
            (
                "7\n\t\r\u{7}\u{8}\u{c}\u{b}",
                r#"strconv.ParseInt: parsing "7\n\t\r\a\b\f\v": invalid syntax"#,
            ),
            (
                "7\u{1}\u{1b}\u{7f}",
                r#"strconv.ParseInt: parsing "7\x01\x1b\x7f": invalid syntax"#,
            ),
            (
                "7é€😀",
                r#"strconv.ParseInt: parsing "7é€😀": invalid syntax"#,
            ),
            (
                "7e\u{301}",
                "strconv.ParseInt: parsing \"7e\u{301}\": invalid syntax",
            ),
            (
                "7\u{85}\u{a0}\u{200b}\u{2028}\u{feff}",
                r#"strconv.ParseInt: parsing "7\u0085\u00a0\u200b\u2028\ufeff": invalid syntax"#,
            ),
            (
                "7\u{e000}\u{10ffff}\u{e0001}",
                r#"strconv.ParseInt: parsing "7\ue000\U0010ffff\U000e0001": invalid syntax"#,
            ),
        ];
        for (expr, message) in cases {
            let err = SymbolicMode::parse(expr).expect_err(expr);
            assert!(err.is_numeric(), "{expr:?}");
            assert_eq!(err.to_string(), message, "{expr:?}");
        }
        assert_eq!(
            SymbolicMode::parse("999"),
            Err(ModeError::NotOctal {
                input: "999".to_owned(),
                kind: OctalErrorKind::InvalidSyntax,
            })
        );
        assert_eq!(
            SymbolicMode::parse("100000"),
            Err(ModeError::NotOctal {
                input: "100000".to_owned(),
                kind: OctalErrorKind::OutOfRange,
            })
        );
        assert!(!ModeError::Syntax.is_numeric());
        assert_eq!(ModeError::Syntax.to_string(), "invalid syntax");
    }

    #[test]
    fn every_octal_mode_replaces_all_twelve_bits() {
        for value in 0..=0o7777u32 {
            for text in [
                format!("{value:o}"),
                format!("0{value:o}"),
                format!("{value:04o}"),
            ] {
                let mode = SymbolicMode::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                for (start, is_dir) in [(0, FILE), (0o7777, DIR), (0o1234, FILE), (0o170000, DIR)] {
                    assert_eq!(mode.apply(start, is_dir), value, "{text} on {start:o}");
                }
            }
        }
    }

    // The apply table of the Go package's own test suite (umask 0 rows), with the
    // rows whose `X` handling changed in the revision BuildKit vendors updated.
    #[test]
    fn apply_matches_upstream_table() {
        let cases: &[(&str, u32, bool, u32)] = &[
            ("=", 0o777, FILE, 0o000),
            ("+", 0o777, FILE, 0o777),
            ("+", 0o421, FILE, 0o421),
            ("-", 0o777, FILE, 0o777),
            ("-", 0o421, FILE, 0o421),
            ("+t", 0o421, FILE, 0o1421),
            ("-t", 0o1421, FILE, 0o421),
            ("u+r", 0, FILE, 0o400),
            ("u+w", 0, FILE, 0o200),
            ("u+x", 0, FILE, 0o100),
            ("u+X", 0, FILE, 0o000),
            ("u+X", 0o001, FILE, 0o101),
            ("u+X", 0, DIR, 0o100),
            ("u+s", 0, FILE, 0o4000),
            ("g+r", 0, FILE, 0o040),
            ("g+w", 0, FILE, 0o020),
            ("g+x", 0, FILE, 0o010),
            ("g+X", 0, FILE, 0o000),
            ("g+X", 0o100, FILE, 0o110),
            ("g+X", 0, DIR, 0o010),
            ("g+s", 0, FILE, 0o2000),
            ("o+r", 0, FILE, 0o004),
            ("o+w", 0, FILE, 0o002),
            ("o+x", 0, FILE, 0o001),
            ("o+X", 0, FILE, 0o000),
            ("o+X", 0o100, FILE, 0o101),
            ("o+X", 0, DIR, 0o001),
            ("o+s", 0, FILE, 0o000),
            ("0421", 0, FILE, 0o421),
            ("07421", 0, FILE, 0o7421),
            ("+r", 0, FILE, 0o444),
            ("+w", 0, FILE, 0o222),
            ("+x", 0, FILE, 0o111),
            ("+X", 0, FILE, 0o000),
            ("+X", 0o010, FILE, 0o111),
            ("+X", 0, DIR, 0o111),
            ("+s", 0, FILE, 0o6000),
            ("-r", 0o777, FILE, 0o333),
            ("-w", 0o777, FILE, 0o555),
            ("-x", 0o777, FILE, 0o666),
            // `-X` now removes execute like `-x` (upstream HEAD left 0777 alone).
            ("-X", 0o777, FILE, 0o666),
            ("-X", 0o777, DIR, 0o666),
            ("-s", 0o6777, FILE, 0o777),
            ("u-r", 0o777, FILE, 0o377),
            ("u-w", 0o777, FILE, 0o577),
            ("u-x", 0o777, FILE, 0o677),
            ("u-X", 0o777, FILE, 0o677),
            ("u-X", 0o777, DIR, 0o677),
            ("u-s", 0o4777, FILE, 0o777),
            ("u=rw", 0, FILE, 0o600),
            ("u=rw", 0o777, FILE, 0o677),
            ("u=", 0o777, FILE, 0o077),
            ("=rw", 0, FILE, 0o666),
            ("=rw", 0o777, FILE, 0o666),
            ("u=g", 0o042, FILE, 0o442),
            ("u=g", 0o742, FILE, 0o442),
            ("u=g-w", 0o722, FILE, 0o022),
            ("u=g-w", 0o742, FILE, 0o442),
            ("u=g-w", 0o762, FILE, 0o462),
            ("u=g-w", 0o772, FILE, 0o572),
            ("u+o", 0o021, FILE, 0o121),
            ("u+g", 0o021, FILE, 0o221),
            ("u+go", 0o021, FILE, 0o321),
            ("a=r,ug=rw,u+x", 0, FILE, 0o764),
            ("a=r,ug=rw,u+x", 0o777, FILE, 0o764),
            ("o+r,g+w,a+t,g-s,u+og", 0, FILE, 0o1624),
            ("o+r,g+w,a+t,g-s,u+og", 0o2100, FILE, 0o1724),
            ("o+r,g+w,a+t,g-s,u+og", 0o6000, DIR, 0o5624),
            ("644", 0o777, FILE, 0o644),
            ("go-w", 0o777, FILE, 0o755),
            ("u=rwx,go=rx", 0, FILE, 0o755),
            ("u=rwx,go=u-w", 0, FILE, 0o755),
            ("go=", 0o777, FILE, 0o700),
            ("go=u-w", 0o770, FILE, 0o755),
            ("go=u-w", 0o670, FILE, 0o644),
            ("go=u-w", 0o570, FILE, 0o555),
            ("go=u-w", 0o370, FILE, 0o311),
        ];
        for &(expr, start, is_dir, want) in cases {
            assert_eq!(
                apply(expr, start, is_dir),
                want,
                "{expr:?} on {start:#o} (dir: {is_dir}) gave {:#o}",
                apply(expr, start, is_dir)
            );
        }
    }

    #[test]
    fn umask_only_limits_clauses_without_who() {
        let cases: &[(&str, u16, u32, u32)] = &[
            ("+r", 0o034, 0, 0o440),
            ("+w", 0o052, 0, 0o220),
            ("+x", 0o061, 0, 0o110),
            ("-r", 0o037, 0o777, 0o337),
            ("-w", 0o057, 0o777, 0o557),
            ("-x", 0o067, 0o777, 0o667),
            ("u+uo", 0o037, 0o011, 0o111),
            ("-u", 0o037, 0o111, 0o011),
            ("=rw,+X", 0o002, 0o666, 0o664),
            ("=rw,+X", 0o002, 0o766, 0o775),
            ("=rw,+X", 0o012, 0o766, 0o765),
            // Named classes ignore the umask.
            ("a+rwx", 0o077, 0, 0o777),
        ];
        for &(expr, umask, start, want) in cases {
            let mode = SymbolicMode::parse_with_umask(expr, umask).unwrap();
            assert_eq!(mode.apply(start, FILE), want, "{expr:?} umask {umask:#o}");
        }
    }

    #[test]
    fn capital_x_depends_on_directories_and_original_execute_bits() {
        let cases: &[(&str, u32, bool, u32)] = &[
            ("a+X", 0o644, FILE, 0o644),
            ("a+X", 0o744, FILE, 0o755),
            ("a+X", 0o604, DIR, 0o715),
            ("a+X", 0o400, DIR, 0o511),
            // The test is against the mode before the expression, not the running one.
            ("a-x,a+X", 0o755, FILE, 0o755),
            ("a+x,a-x,a+X", 0o644, FILE, 0o644),
            ("u+x,g+X", 0o600, FILE, 0o700),
            // `=` keeps `X` (BuildKit's COPY --chmod=u=rwX,go=rX idiom).
            ("a=rX", 0o600, FILE, 0o444),
            ("a=rX", 0o700, FILE, 0o555),
            ("a=rX", 0o000, DIR, 0o555),
            ("u=rwX,go=rX", 0o644, FILE, 0o644),
            ("u=rwX,go=rX", 0o500, DIR, 0o755),
            ("u=rwX,go=rX", 0o4700, FILE, 0o755),
            ("=X", 0o777, FILE, 0o111),
            ("=X", 0o666, FILE, 0o000),
            // `-X` is unconditional.
            ("a-X", 0o755, FILE, 0o644),
            ("a-X", 0o755, DIR, 0o644),
            ("go-X", 0o7777, FILE, 0o7766),
            // Copies flush a pending `X` before them.
            ("g+Xu", 0o001, FILE, 0o011),
            ("g=Xu", 0o401, FILE, 0o441),
            ("-Xu", 0o111, FILE, 0o000),
            ("-uX", 0o111, FILE, 0o000),
        ];
        for &(expr, start, is_dir, want) in cases {
            assert_eq!(
                apply(expr, start, is_dir),
                want,
                "{expr:?} on {start:#o} (dir: {is_dir})"
            );
        }
    }

    #[test]
    fn special_bits_follow_setmode() {
        let cases: &[(&str, u32, bool, u32)] = &[
            ("a+s", 0o755, FILE, 0o6755),
            ("u+s", 0o755, FILE, 0o4755),
            ("g+s", 0o755, DIR, 0o2755),
            // Set-ID and sticky are meaningless for "other" alone.
            ("o+s", 0o755, FILE, 0o755),
            ("o+t", 0o755, FILE, 0o755),
            ("o-t", 0o1755, FILE, 0o1755),
            ("o+st,u+s", 0o755, FILE, 0o4755),
            ("+t", 0o755, DIR, 0o1755),
            ("a+t", 0o755, DIR, 0o1755),
            ("u+t", 0o755, DIR, 0o1755),
            ("uo+t", 0o755, DIR, 0o1755),
            ("-t", 0o1777, DIR, 0o777),
            // `=` and `a=` clear set-ID but leave sticky alone unless `t` is named.
            ("=", 0o7777, FILE, 0o1000),
            ("a=", 0o7777, FILE, 0o1000),
            ("a=r", 0o7777, FILE, 0o1444),
            ("u=", 0o7777, FILE, 0o3077),
            ("g=", 0o7777, FILE, 0o5707),
            ("o=", 0o7777, FILE, 0o7770),
            ("u=rwx", 0o4000, FILE, 0o700),
            // `t` widens a clause without `who` to the sticky bit only.
            ("+tx", 0o644, FILE, 0o1644),
            ("+xt", 0o644, FILE, 0o1644),
            ("=t", 0o644, FILE, 0o1644),
            ("+t+x", 0o644, FILE, 0o1755),
            ("a+tx", 0o644, FILE, 0o1755),
            ("-t", 0o7777, FILE, 0o6777),
            ("u-s,g+s", 0o4755, DIR, 0o2755),
        ];
        for &(expr, start, is_dir, want) in cases {
            assert_eq!(
                apply(expr, start, is_dir),
                want,
                "{expr:?} on {start:#o} (dir: {is_dir})"
            );
        }
    }

    #[test]
    fn copies_and_chained_actions() {
        let cases: &[(&str, u32, bool, u32)] = &[
            ("u=rwx,g=u-w", 0, FILE, 0o750),
            ("g+u", 0o640, FILE, 0o660),
            ("g=u", 0o4751, FILE, 0o4771),
            ("o=u", 0o644, FILE, 0o646),
            ("o-u", 0o757, FILE, 0o750),
            ("go-u", 0o757, FILE, 0o700),
            ("u=o", 0o751, FILE, 0o151),
            ("a=u", 0o640, FILE, 0o666),
            ("=g", 0o7350, FILE, 0o7555),
            ("u+x-w", 0o644, FILE, 0o544),
            ("u+x-w=r", 0o744, FILE, 0o444),
            ("u-w+x", 0o644, FILE, 0o544),
            ("a+r-r", 0o000, FILE, 0o000),
            ("a-r+r", 0o000, FILE, 0o444),
            ("+-=", 0o777, FILE, 0o000),
            // A perm after a copy in the same `=` action repeats the clear.
            ("u=gr", 0o270, FILE, 0o470),
            ("go=u,o-w", 0o760, FILE, 0o775),
            ("u+g+o", 0o021, FILE, 0o321),
            ("ua+x", 0o600, FILE, 0o711),
            ("ug+w,o=,a+r", 0o7007, FILE, 0o7664),
        ];
        for &(expr, start, is_dir, want) in cases {
            assert_eq!(
                apply(expr, start, is_dir),
                want,
                "{expr:?} on {start:#o} (dir: {is_dir})"
            );
        }
    }

    #[test]
    fn buildkit_integration_expectations() {
        // testFileOpCopyChmodText: a 0644 file and a 0500 directory, compared with
        // coreutils chmod in the test.
        let cases: &[(&str, u32, bool, u32)] = &[
            ("go-w", 0o644, FILE, 0o644),
            ("o-rwx,g+x", 0o644, FILE, 0o650),
            ("u=rwx,g=,o=", 0o644, FILE, 0o700),
            ("u+rw,g+r,o-x,o+w", 0o644, FILE, 0o646),
            ("a+X", 0o500, DIR, 0o511),
            ("g+rw,o+rw", 0o500, DIR, 0o566),
            ("u=rwX,go=rX", 0o500, DIR, 0o755),
        ];
        for &(expr, start, is_dir, want) in cases {
            assert_eq!(apply(expr, start, is_dir), want, "{expr:?}");
        }
    }

    #[test]
    fn apply_ignores_and_drops_bits_above_the_mode() {
        assert_eq!(apply("u+x", 0o100644, FILE), 0o744);
        assert_eq!(apply("a+X", 0o040755, DIR), 0o755);
        assert_eq!(apply("=", 0xffff_ffff, FILE), 0o1000);
    }

    #[test]
    fn command_lists_are_squashed_like_setmode() {
        let set = |bits| Command::Set(bits);
        let clear = |bits| Command::Clear(bits);
        let cases: &[(&str, &[Command])] = &[
            ("0755", &[clear(0o7777), set(0o755)]),
            ("0", &[clear(0o7777), set(0)]),
            ("=", &[clear(STANDARD_BITS)]),
            ("+", &[]),
            ("u+x-w", &[clear(0o200), set(0o100)]),
            (
                "a=rX",
                &[clear(0o6333), set(0o444), Command::SetIfExecutable(0o111)],
            ),
            ("+x,+X", &[set(0o111)]),
            ("+X,-x", &[clear(0o111)]),
            ("-x,+X", &[clear(0o111), Command::SetIfExecutable(0o111)]),
            ("u+t", &[set(0o1000)]),
        ];
        for &(expr, want) in cases {
            assert_eq!(
                SymbolicMode::parse(expr).unwrap().commands,
                want,
                "{expr:?}"
            );
        }
        let copy = SymbolicMode::parse("go=u-w").unwrap().commands;
        assert_eq!(
            copy,
            [
                Command::Copy(CopyCommand {
                    from: Class::User,
                    to_user: false,
                    to_group: true,
                    to_other: true,
                    clear: true,
                    set: true,
                    bits: u16::MAX,
                }),
                clear(0o022),
            ]
        );
    }

    #[test]
    fn equal_expressions_compare_equal() {
        assert_eq!(
            SymbolicMode::parse("u+x,u-w").unwrap(),
            SymbolicMode::parse("u-w+x").unwrap()
        );
        assert_ne!(
            SymbolicMode::parse("u+x").unwrap(),
            SymbolicMode::parse("g+x").unwrap()
        );
    }
}
