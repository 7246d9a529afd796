//! Source wildcards (`COPY *.txt`, `COPY sub/*/leaf`), with Go's `filepath.Match`
//! syntax and fsutil's `ResolveWildcards` walk.
//!
//! The path is split at the first component containing `*`, `?` or `[`: the part
//! before is resolved as a directory, and every path below it whose relative name
//! matches the rest is a source, in the order of a `filepath.Walk` (names sorted
//! bytewise, depth first). A matching directory is not searched further; a
//! non-matching one is, since a pattern with several components (`*/leaf`) can match
//! below it. Symlinks are never followed while walking.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::paths;

/// Whether one path component has an unescaped wildcard character.
pub(crate) fn contains_wildcards(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        match name[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// fsutil's `splitWildcards`: the cleaned path up to the first wildcard component,
/// and the remaining components (empty when there is no wildcard).
pub(crate) fn split_wildcards(p: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let cleaned = paths::clean_abs(p);
    let mut fixed: Vec<&[u8]> = Vec::new();
    let mut pattern: Vec<&[u8]> = Vec::new();
    let mut found = false;
    for part in cleaned.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        found = found || contains_wildcards(part);
        if found {
            pattern.push(part);
        } else {
            fixed.push(part);
        }
    }
    let mut dir = Vec::new();
    for part in fixed {
        dir.push(b'/');
        dir.extend_from_slice(part);
    }
    if dir.is_empty() {
        dir.push(b'/');
    }
    (dir, pattern.join(&b'/'))
}

/// A source matched by a wildcard: its path relative to the source root (already
/// resolved through any links in the fixed part).
pub(crate) type Match = Vec<u8>;

/// fsutil's `ResolveWildcards`: the sources `src` names, as in-root paths. Without a
/// wildcard this is `src` itself, cleaned.
///
/// # Errors
///
/// Errors of resolving the fixed part and of walking below it; the fixed part must
/// exist (`filepath.Walk` fails on a missing root).
pub(crate) fn resolve(root: &Path, src: &[u8], follow: bool) -> io::Result<Vec<Match>> {
    let (dir, pattern) = split_wildcards(src);
    if pattern.is_empty() {
        return Ok(vec![dir]);
    }
    let base = paths::resolve_parent_or_all(root, &dir, follow)?;
    let meta = std::fs::symlink_metadata(&base)?;
    let mut out = Vec::new();
    if meta.is_dir() {
        // The relative prefix of the base inside the root, for the returned paths.
        let prefix = match base.strip_prefix(root) {
            Ok(rel) => rel.as_os_str().as_bytes().to_vec(),
            Err(_) => Vec::new(),
        };
        let mut walker = Walker {
            pattern: &pattern,
            max_slashes: max_slashes(&pattern),
            out: &mut out,
        };
        let mut rel = Vec::new();
        walker.walk(&base, &mut rel, 0)?;
        for m in &mut out {
            if !prefix.is_empty() {
                let mut full = prefix.clone();
                full.push(b'/');
                full.extend_from_slice(m);
                *m = full;
            }
        }
    }
    Ok(out)
}

/// An upper bound on how many `/` a name matching `pattern` can contain: literal
/// slashes plus one per character class (only a class can match a `/` besides a
/// literal one). Lets the walk skip directories too deep to hold a match.
fn max_slashes(pattern: &[u8]) -> usize {
    pattern.iter().filter(|&&b| b == b'/' || b == b'[').count()
}

struct Walker<'a> {
    pattern: &'a [u8],
    max_slashes: usize,
    out: &'a mut Vec<Match>,
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Path, rel: &mut Vec<u8>, depth: usize) -> io::Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let len = rel.len();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name.as_bytes());
            let path: PathBuf = dir.join(&name);
            let meta = std::fs::symlink_metadata(&path)?;
            // A malformed pattern matches nothing, as fsutil ignores Match's error.
            if go_match(self.pattern, rel).unwrap_or(false) {
                self.out.push(rel.clone());
            } else if meta.is_dir() && depth < self.max_slashes {
                self.walk(&path, rel, depth + 1)?;
            }
            rel.truncate(len);
        }
        Ok(())
    }
}

/// A malformed pattern (`[`, `[a-`, trailing `\`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadPattern;

/// Go's `path/filepath.Match` on Unix: `*` matches any run of non-`/` bytes, `?`
/// one non-`/` character, `[...]`/`[^...]` one character of a class (which, unlike
/// `?`, can be a `/`), `\` escapes. Characters are UTF-8 decoded the way Go's
/// `utf8.DecodeRuneInString` does (an invalid byte is one U+FFFD).
pub(crate) fn go_match(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, BadPattern> {
    'outer: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest of the name unless it has a `/`.
            return Ok(!name.contains(&b'/'));
        }
        let (t, ok, err) = match_chunk(chunk, name);
        // The last chunk must consume the whole name; otherwise a star may still help.
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if let Some(e) = err {
            return Err(e);
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                let (t, ok, err) = match_chunk(chunk, &name[i + 1..]);
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'outer;
                }
                if let Some(e) = err {
                    return Err(e);
                }
                i += 1;
            }
        }
        // Go checks that the rest of the pattern is well formed before saying no.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if let (_, _, Some(e)) = match_chunk(chunk, b"") {
                return Err(e);
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Leading stars, then the chunk up to the next star outside a class.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while pattern.first() == Some(&b'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// Matches one star-free chunk at the start of `s`: the rest of `s`, whether it
/// matched, and a syntax error if the chunk is malformed (checked even after the match
/// has failed, as Go does).
fn match_chunk<'s>(mut chunk: &[u8], mut s: &'s [u8]) -> (&'s [u8], bool, Option<BadPattern>) {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = 0u32;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let lo = match get_esc(chunk) {
                        Ok((lo, rest)) => {
                            chunk = rest;
                            lo
                        }
                        Err(e) => return (b"", false, Some(e)),
                    };
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        match get_esc(&chunk[1..]) {
                            Ok((h, rest)) => {
                                hi = h;
                                chunk = rest;
                            }
                            Err(e) => return (b"", false, Some(e)),
                        }
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                let literal = if c == b'\\' {
                    chunk = &chunk[1..];
                    match chunk.first() {
                        Some(&b) => b,
                        None => return (b"", false, Some(BadPattern)),
                    }
                } else {
                    c
                };
                if !failed {
                    if literal != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed {
        (b"", false, None)
    } else {
        (s, true, None)
    }
}

/// One possibly escaped character of a class, and what follows it.
fn get_esc(mut chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    match chunk.first() {
        None | Some(b'-') | Some(b']') => return Err(BadPattern),
        Some(b'\\') => {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return Err(BadPattern);
            }
        }
        Some(_) => {}
    }
    let (r, n) = decode_rune(chunk);
    if r == u32::from(char::REPLACEMENT_CHARACTER) && n == 1 {
        return Err(BadPattern);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// Go's `utf8.DecodeRuneInString`: the first character and its length; an invalid or
/// truncated sequence is U+FFFD with length 1, an empty input U+FFFD with length 0.
fn decode_rune(s: &[u8]) -> (u32, usize) {
    let Some(&first) = s.first() else {
        return (u32::from(char::REPLACEMENT_CHARACTER), 0);
    };
    if first < 0x80 {
        return (u32::from(first), 1);
    }
    let len = match first {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (u32::from(char::REPLACEMENT_CHARACTER), 1),
    };
    match s.get(..len).and_then(|b| std::str::from_utf8(b).ok()) {
        Some(text) => match text.chars().next() {
            Some(ch) => (u32::from(ch), len),
            None => (u32::from(char::REPLACEMENT_CHARACTER), 1),
        },
        None => (u32::from(char::REPLACEMENT_CHARACTER), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Go's own filepath.Match test table (Unix rows).
    #[test]
    fn match_agrees_with_go() {
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[x-]", "-", Err(BadPattern)),
            ("[x-]", "z", Err(BadPattern)),
            ("[-x]", "x", Err(BadPattern)),
            ("[-x]", "-", Err(BadPattern)),
            ("[-x]", "a", Err(BadPattern)),
            ("\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("[^", "a", Err(BadPattern)),
            ("[^bc", "a", Err(BadPattern)),
            ("a[", "a", Err(BadPattern)),
            ("a[", "ab", Err(BadPattern)),
            ("a[", "x", Err(BadPattern)),
            ("a/b[", "x", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
            // A class can match a separator, `?` and `*` cannot.
            ("a[^x]b", "a/b", Ok(true)),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(
                go_match(pattern.as_bytes(), name.as_bytes()),
                *want,
                "Match({pattern:?}, {name:?})"
            );
        }
    }

    #[test]
    fn wildcards_split_at_the_first_wildcard_component() {
        let split = |p: &str| {
            let (a, b) = split_wildcards(p.as_bytes());
            (String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap())
        };
        assert_eq!(split("/a/b.txt"), ("/a/b.txt".into(), String::new()));
        assert_eq!(split("/*.txt"), ("/".into(), "*.txt".into()));
        assert_eq!(split("/sub/*/leaf"), ("/sub".into(), "*/leaf".into()));
        assert_eq!(split("/a/\\*b/c?"), ("/a/\\*b".into(), "c?".into()));
        assert!(contains_wildcards(b"[ab].*"));
        assert!(!contains_wildcards(b"a\\*"));
    }
}
