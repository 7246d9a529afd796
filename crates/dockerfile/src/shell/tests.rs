//! Table tests for the lexer: each row is an input word, the environment and the exact
//! expected result (or error), covering the behaviours of BuildKit's lexer.

use std::collections::BTreeMap;

use super::*;

struct Env(BTreeMap<&'static str, &'static str>);

impl EnvGetter for Env {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).copied()
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().copied().collect()
    }
}

fn env() -> Env {
    Env(BTreeMap::from([
        ("HOME", "/root"),
        ("NAME", "hearth"),
        ("EMPTY", ""),
        ("GREEK", "αβγ"),
        ("SPACED", "one  two"),
        ("PADDED", "  x y  "),
        ("FILE", "archive.tar.gz"),
        ("DIR", "/usr/local/bin"),
    ]))
}

fn word(input: &str) -> Result<String, String> {
    Lex::new('\\')
        .process_word(input, &env())
        .map(|p| p.result)
        .map_err(|e| e.root_cause().to_string())
}

#[test]
fn quotes_and_escapes() {
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("plain", Ok("plain")),
        ("a'b'c", Ok("abc")),
        (
            "a'bc",
            Err("unexpected end of statement while looking for matching single-quote"),
        ),
        (r"a\'bc", Ok("a'bc")),
        (
            r"a\\'bc",
            Err("unexpected end of statement while looking for matching single-quote"),
        ),
        (r"x\ny", Ok("xny")),
        (r#""x\ny""#, Ok(r"x\ny")),
        (r#""x\\ny""#, Ok(r"x\ny")),
        (r"'x\ny'", Ok(r"x\ny")),
        (r"end\", Ok("end")),
        (r"end\\", Ok(r"end\")),
        (
            r#""open"#,
            Err("unexpected end of statement while looking for matching double-quote"),
        ),
        (
            r#""open\""#,
            Err("unexpected end of statement while looking for matching double-quote"),
        ),
        (r#""it's""#, Ok("it's")),
        (r"'single\'", Ok(r"single\")),
        (r#"'"q"'"#, Ok(r#""q""#)),
        (r#""''""#, Ok("''")),
        ("가'나'다", Ok("가나다")),
    ];
    for (input, want) in cases {
        let want = want.map(str::to_owned).map_err(str::to_owned);
        assert_eq!(word(input), want, "input {input:?}");
    }
}

#[test]
fn variables() {
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("$HOME/x", Ok("/root/x")),
        ("${HOME}x", Ok("/rootx")),
        ("$UNSET-x", Ok("-x")),
        ("a$.b", Ok("a$.b")),
        ("$", Ok("$")),
        (r"\$HOME", Ok("$HOME")),
        (r"\\$HOME", Ok(r"\/root")),
        (r#""\$HOME""#, Ok("$HOME")),
        (r#""\\$HOME""#, Ok(r"\/root")),
        ("'$HOME'", Ok("$HOME")),
        (r"'\$HOME'", Ok(r"\$HOME")),
        ("\"'$NAME'\"", Ok("'hearth'")),
        ("$GREEK!", Ok("αβγ!")),
        ("x$1y", Ok("xy")),
        ("x$123y", Ok("xy")),
        ("$@@", Ok("@")),
        ("${@:-d}", Ok("d")),
        ("${0}", Ok("")),
        ("${}", Err("syntax error: bad substitution")),
        ("${:-x}", Err("syntax error: bad substitution")),
        ("${{x}", Err("syntax error: bad substitution")),
        (
            "${HOME",
            Err("unsupported modifier (\u{fffd}) in substitution"),
        ),
        ("${.}", Err("unsupported modifier (.) in substitution")),
        ("${x}}", Ok("}")),
        (r"\${}", Ok("${}")),
    ];
    for (input, want) in cases {
        let want = want.map(str::to_owned).map_err(str::to_owned);
        assert_eq!(word(input), want, "input {input:?}");
    }
}

#[test]
fn modifiers() {
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("${UNSET:-def}", Ok("def")),
        ("${EMPTY:-def}", Ok("def")),
        ("${NAME:-def}", Ok("hearth")),
        ("${UNSET-def}", Ok("def")),
        ("${EMPTY-def}", Ok("")),
        ("${UNSET:+alt}", Ok("")),
        ("${EMPTY:+alt}", Ok("")),
        ("${NAME:+alt}", Ok("alt")),
        ("${EMPTY+alt}", Ok("alt")),
        ("${UNSET+alt}", Ok("")),
        ("${UNSET:-${NAME:-x}}", Ok("hearth")),
        ("${UNSET:-${ALSO_UNSET:-deep}}", Ok("deep")),
        ("${NAME:+${HOME}:}", Ok("/root:")),
        (r"${UNSET:-\$HOME:}", Ok("$HOME:")),
        (r"${UNSET:-\${HOME}z}", Ok("${HOMEz}")),
        ("${UNSET:-a {b}", Ok("a {b")),
        ("${UNSET:-a ${b}", Err("syntax error: missing '}'")),
        ("${UNSET:-abc", Err("syntax error: missing '}'")),
        (
            "${NAME:=x}",
            Err("unsupported modifier (:=) in substitution"),
        ),
        (
            "${NAME:x}",
            Err("unsupported modifier (:x) in substitution"),
        ),
        ("${NAME?}", Ok("hearth")),
        ("${EMPTY?}", Ok("")),
        ("${EMPTY:?}", Err("EMPTY: is not allowed to be empty")),
        ("${UNSET?}", Err("UNSET: is not allowed to be unset")),
        ("${UNSET:?must set $NAME}", Err("UNSET: must set hearth")),
        ("${FILE#*.}", Ok("tar.gz")),
        ("${FILE##*.}", Ok("gz")),
        ("${FILE%.*}", Ok("archive.tar")),
        ("${FILE%%.*}", Ok("archive")),
        ("${DIR#/usr}", Ok("/local/bin")),
        ("${FILE#nomatch}", Ok("archive.tar.gz")),
        (
            "${FILE:#x}",
            Err("unsupported modifier (:#) in substitution"),
        ),
        ("${FILE/tar/zip}", Ok("archive.zip.gz")),
        ("${DIR//\\//:}", Ok(":usr:local:bin")),
        ("${UNSET/a/b}", Ok("")),
        ("${FILE/a", Err("syntax error: missing '/' in ${}")),
        ("${FILE/a/b", Err("syntax error: missing '}'")),
    ];
    for (input, want) in cases {
        let want = want.map(str::to_owned).map_err(str::to_owned);
        assert_eq!(word(input), want, "input {input:?}");
    }
}

#[test]
fn errors_name_the_word_like_buildkit() {
    let err = Lex::new('\\')
        .process_word("${V:?needed}", &NoEnv)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"failed to process "${V:?needed}": V: needed"#
    );
}

#[test]
fn field_splitting() {
    let lex = Lex::new('\\');
    let cases: &[(&str, &[&str])] = &[
        ("a b", &["a", "b"]),
        ("x${SPACED}y", &["xone", "twoy"]),
        ("x\"${SPACED}\"y", &["xone  twoy"]),
        ("x \"${SPACED}\"y", &["x", "one  twoy"]),
        ("x${PADDED}z", &["x", "x", "y", "z"]),
        ("x\"${PADDED}\" z", &["x  x y  ", "z"]),
        (r"one\ two", &["one two"]),
        (r#"say\" hi"#, &["say\"", "hi"]),
        ("  lead  trail  ", &["lead", "trail"]),
        ("cat << EOF", &["cat", "<< EOF"]),
        ("a <b", &["a", "<b"]),
        ("", &[]),
    ];
    for (input, want) in cases {
        let got = lex.process_words(input, &env()).unwrap();
        assert_eq!(got, *want, "input {input:?}");
    }
}

#[test]
fn raw_modes_keep_quotes_escapes_and_unset_references() {
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.skip_unset_env = true;
    let got = lex
        .process_word(r#"echo "$NAME" '$UNSET' $UNSET ${UNSET:-d}"#, &env())
        .unwrap();
    assert_eq!(got.result, r#"echo "hearth" '$UNSET' $UNSET ${UNSET:-d}"#);
    assert_eq!(got.matched.iter().collect::<Vec<_>>(), vec!["NAME"]);
    assert_eq!(got.unmatched.iter().collect::<Vec<_>>(), vec!["UNSET"]);

    let mut raw = Lex::new('\\');
    raw.raw_escapes = true;
    assert_eq!(raw.process_word(r"a\$b", &NoEnv).unwrap().result, r"a\$b");
    // Inside double quotes an escaped ordinary character keeps its escape, and in raw
    // mode the escape is written once more, as BuildKit's lexer does.
    assert_eq!(
        raw.process_word(r#""a\b""#, &NoEnv).unwrap().result,
        r"a\\b"
    );
}

#[test]
fn skipping_quote_processing_treats_quotes_as_text() {
    let mut lex = Lex::new('\\');
    lex.skip_process_quotes = true;
    assert_eq!(
        lex.process_word("it's \"$NAME\"", &env()).unwrap().result,
        "it's \"hearth\""
    );
}

#[test]
fn backtick_escape() {
    let lex = Lex::new('`');
    assert_eq!(
        lex.process_word(r"C:\path`$x", &NoEnv).unwrap().result,
        r"C:\path$x"
    );
    assert_eq!(lex.process_word("a` b", &NoEnv).unwrap().words, vec!["a b"]);
}
