//! Parsing of ignore files, ported from patternmatcher's `ignorefile` tests
//! and extended with the line-splitting rules of Go's `bufio.Scanner`.

// Shared helpers sit outside `#[test]` functions, where clippy's test
// exemption does not reach; a panic in them is still just a failed test.
#![allow(clippy::unwrap_used)]

use hearth_dockerignore::{Error, PatternMatcher, read_ignore_file};

fn read(content: &[u8]) -> Vec<String> {
    read_ignore_file(content).unwrap()
}

#[test]
fn upstream_example() {
    let content =
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
    assert_eq!(
        read(content.as_bytes()),
        [
            "test1",
            "test2",
            "a/file/here",
            "lastfile",
            "!inverted/abs/path",
            "!",
            "!"
        ]
    );
    assert!(read(b"").is_empty());
}

#[test]
fn line_rules() {
    let rows: &[(&[u8], &[&str])] = &[
        // Comments only start at the very first byte of a line.
        (b"# comment\n#*.go\n", &[]),
        (b" # not a comment", &["# not a comment"]),
        (b"\t#x", &["#x"]),
        (b"a #b", &["a #b"]),
        // Whitespace, CRLF and blank lines.
        (b"  a  \n\n\t\n b\r\nc\r", &["a", "b", "c"]),
        (b"a\r\r\n", &["a"]),
        (b"a\rb", &["a\rb"]),
        // Cleaning and the leading slash.
        (b"a/./b//c/", &["a/b/c"]),
        (b"./a", &["a"]),
        (b"a/..", &["."]),
        (b"../a", &["../a"]),
        (b"/", &["/"]),
        (b"//", &["/"]),
        (b"/..", &["/"]),
        (b"///a", &["a"]),
        (b"/a/../b", &["b"]),
        // Exclusions: trimmed after the `!`, cleaned, slash removed.
        (b"!a", &["!a"]),
        (b"! a ", &["!a"]),
        (b" !/a/", &["!a"]),
        (b"!!a", &["!!a"]),
        (b"!a/..", &["!."]),
        (b"!/", &["!/"]),
        (b"!", &["!"]),
        (b"!#a", &["!#a"]),
        // Unicode whitespace counts as whitespace, as in Go.
        ("\u{a0}a\u{2003}".as_bytes(), &["a"]),
        ("\u{85}a".as_bytes(), &["a"]),
    ];
    for &(content, expected) in rows {
        assert_eq!(
            read(content),
            expected,
            "{:?}",
            String::from_utf8_lossy(content)
        );
    }
}

#[test]
fn byte_order_mark_is_stripped_from_the_first_line_only() {
    let rows: &[(&[u8], &[&str])] = &[
        (b"\xef\xbb\xbfa\nb", &["a", "b"]),
        (b"\xef\xbb\xbf# comment\na", &["a"]),
        (b"\xef\xbb\xbf\xef\xbb\xbfa", &["\u{feff}a"]),
        (b"a\n\xef\xbb\xbfb", &["a", "\u{feff}b"]),
        // On a later line it is no whitespace, so `#` is not at the start.
        (b"\n\xef\xbb\xbf#x", &["\u{feff}#x"]),
        (b"\xef\xbb\xbf", &[]),
    ];
    for &(content, expected) in rows {
        assert_eq!(read(content), expected, "{content:?}");
    }
}

#[test]
fn invalid_utf8_is_replaced() {
    assert_eq!(read(b"caf\xe9\n"), ["caf\u{fffd}"]);
}

#[test]
fn lines_of_64_kib_or_more_are_rejected() {
    let max = 64 * 1024;
    let ok = "b".repeat(max - 1);
    assert_eq!(
        read(format!("a\n{ok}\nc").as_bytes()),
        ["a", ok.as_str(), "c"]
    );
    assert_eq!(read(ok.as_bytes()), [ok.as_str()]);

    let long = "b".repeat(max);
    for content in [
        long.clone(),
        format!("a\n{long}"),
        format!("{long}\n"),
        format!("a\n{ok}\r\n"),
    ] {
        let err = read_ignore_file(content.as_bytes()).unwrap_err();
        assert!(
            matches!(err, Error::LineTooLong { .. }),
            "{} bytes",
            content.len()
        );
    }
    assert!(matches!(
        read_ignore_file(format!("a\n\n{long}").as_bytes()),
        Err(Error::LineTooLong { line: 3 })
    ));
    // The byte-order mark counts towards the limit.
    let bom = format!("\u{feff}{}", "b".repeat(max - 3));
    assert!(matches!(
        read_ignore_file(bom.as_bytes()),
        Err(Error::LineTooLong { line: 1 })
    ));
}

#[test]
fn file_to_matcher_end_to_end() {
    let content =
        b"\xef\xbb\xbf# generated\n*.log\n/target/\n!target/release/app\n**/node_modules\n";
    let matcher = PatternMatcher::new(read(content)).unwrap();
    let rows: &[(&str, bool)] = &[
        ("debug.log", true),
        ("sub/debug.log", false),
        ("target", true),
        ("target/debug/app", true),
        ("target/release/app", false),
        ("target/release/app/inner", false),
        ("node_modules/x", true),
        ("a/b/node_modules", true),
        ("src/main.rs", false),
    ];
    for &(path, expected) in rows {
        assert_eq!(
            matcher.matches_or_parent_matches(path).unwrap(),
            expected,
            "{path:?}"
        );
    }
}

#[test]
fn bare_exclamation_mark_line_fails_when_building_the_matcher() {
    let patterns = read(b"a\n!\n");
    assert!(matches!(
        PatternMatcher::new(patterns),
        Err(Error::IllegalExclusion)
    ));
}
