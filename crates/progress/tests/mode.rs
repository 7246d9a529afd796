//! `--progress` values: parsing, display and how `auto` resolves.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use hearth_progress::Mode;

#[test]
fn mode_parsing_table() {
    let table: &[(&str, Option<Mode>)] = &[
        ("auto", Some(Mode::Auto)),
        ("plain", Some(Mode::Plain)),
        ("tty", Some(Mode::Tty)),
        ("rawjson", Some(Mode::RawJson)),
        ("", None),
        ("Plain", None),
        (" tty", None),
        ("json", None),
        ("raw-json", None),
        ("quiet", None),
    ];
    for (text, want) in table {
        let got = text.parse::<Mode>().ok();
        assert_eq!(got, *want, "{text:?}");
        if let Some(mode) = want {
            assert_eq!(mode.to_string(), *text);
        }
    }
}

#[test]
fn the_error_lists_the_valid_values() {
    let err = "fancy".parse::<Mode>().unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid progress mode "fancy": valid values are auto, plain, tty, rawjson"#
    );
}

#[test]
fn auto_is_tty_on_a_terminal_and_plain_otherwise() {
    assert_eq!(Mode::Auto.resolve(true), Mode::Tty);
    assert_eq!(Mode::Auto.resolve(false), Mode::Plain);
    assert_eq!(Mode::Plain.resolve(true), Mode::Plain);
    assert_eq!(Mode::Tty.resolve(false), Mode::Tty);
    assert_eq!(Mode::RawJson.resolve(true), Mode::RawJson);
}
