//! Per-instruction argument parsers: how the text after the keyword (and its flags)
//! becomes the argument list, before any expansion.

use super::words::{parse_words, split_all_spaces, split_first_space};

/// Arguments of one instruction as the parser sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ParsedArgs {
    pub(crate) args: Vec<String>,
    pub(crate) json: bool,
    /// For ONBUILD: the keyword of the wrapped instruction and whether it is JSON.
    pub(crate) sub: Option<(String, bool)>,
}

/// Why an argument list is malformed. Messages match BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ArgsError {
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray,
    #[error("{0} must have two arguments")]
    TwoArguments(&'static str),
    #[error("Syntax error - can't find = in {0}. Must be of the form: name=value")]
    MissingEquals(String),
}

/// How an instruction's arguments are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgStyle {
    /// ADD, COPY, VOLUME: JSON array or whitespace-separated list.
    MaybeJsonToList,
    /// ARG: words, each `name` or `name=value`.
    NameOrNameVal,
    /// CMD, ENTRYPOINT, RUN, SHELL: JSON array or the raw text as one argument.
    MaybeJson,
    /// ENV: `key value` or `key=value …`.
    Env,
    /// LABEL: like ENV.
    Label,
    /// EXPOSE, FROM: whitespace-separated words.
    Whitespace,
    /// HEALTHCHECK: a type word, then a command like CMD.
    Health,
    /// MAINTAINER, STOPSIGNAL, USER, WORKDIR: the raw text.
    String,
    /// ONBUILD: another instruction.
    SubCommand,
    /// Unknown keywords: arguments are dropped.
    Ignore,
}

/// The argument style of a keyword (case-insensitive).
pub(crate) fn style_of(keyword: &str) -> ArgStyle {
    match keyword.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => ArgStyle::MaybeJsonToList,
        "arg" => ArgStyle::NameOrNameVal,
        "cmd" | "entrypoint" | "run" | "shell" => ArgStyle::MaybeJson,
        "env" => ArgStyle::Env,
        "label" => ArgStyle::Label,
        "expose" | "from" => ArgStyle::Whitespace,
        "healthcheck" => ArgStyle::Health,
        "maintainer" | "stopsignal" | "user" | "workdir" => ArgStyle::String,
        "onbuild" => ArgStyle::SubCommand,
        _ => ArgStyle::Ignore,
    }
}

/// Parses `rest` (flags already removed) in the given style.
pub(crate) fn parse_args(
    style: ArgStyle,
    rest: &str,
    escape: char,
) -> Result<ParsedArgs, ArgsError> {
    let plain = |args: Vec<String>| ParsedArgs {
        args,
        ..ParsedArgs::default()
    };
    match style {
        ArgStyle::Ignore => Ok(ParsedArgs::default()),
        ArgStyle::String => Ok(plain(if rest.is_empty() {
            vec![]
        } else {
            vec![rest.to_owned()]
        })),
        ArgStyle::Whitespace => Ok(plain(whitespace_list(rest))),
        ArgStyle::NameOrNameVal => Ok(plain(parse_words(rest, escape))),
        ArgStyle::MaybeJson => maybe_json(rest),
        ArgStyle::MaybeJsonToList => match parse_json(rest) {
            Json::Array(args) => Ok(ParsedArgs {
                args,
                json: true,
                sub: None,
            }),
            Json::NotStrings => Err(ArgsError::NotStringArray),
            Json::Other => Ok(plain(whitespace_list(rest))),
        },
        ArgStyle::Env => name_val(rest, "ENV", escape).map(plain),
        ArgStyle::Label => name_val(rest, "LABEL", escape).map(plain),
        ArgStyle::Health => health(rest),
        ArgStyle::SubCommand => {
            if rest.is_empty() {
                return Ok(ParsedArgs::default());
            }
            let (keyword, flags, sub_rest) = super::words::split_command(rest, escape);
            let _ = flags;
            let sub = parse_args(style_of(&keyword), &sub_rest, escape)?;
            let mut args = vec![keyword.clone()];
            args.extend(sub.args);
            Ok(ParsedArgs {
                args,
                json: false,
                sub: Some((keyword, sub.json)),
            })
        }
    }
}

fn whitespace_list(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_all_spaces(rest)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

enum Json {
    Array(Vec<String>),
    NotStrings,
    Other,
}

fn parse_json(rest: &str) -> Json {
    let trimmed = rest.trim_start();
    if !trimmed.starts_with('[') {
        return Json::Other;
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(trimmed) else {
        return Json::Other;
    };
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        match value {
            serde_json::Value::String(s) => out.push(s),
            _ => return Json::NotStrings,
        }
    }
    Json::Array(out)
}

fn maybe_json(rest: &str) -> Result<ParsedArgs, ArgsError> {
    if rest.is_empty() {
        return Ok(ParsedArgs::default());
    }
    match parse_json(rest) {
        Json::Array(args) => Ok(ParsedArgs {
            args,
            json: true,
            sub: None,
        }),
        Json::NotStrings => Err(ArgsError::NotStringArray),
        // Text that only looks like JSON runs as a shell command, as in BuildKit.
        Json::Other => Ok(ParsedArgs {
            args: vec![rest.to_owned()],
            ..ParsedArgs::default()
        }),
    }
}

/// `ENV`/`LABEL`: flattened `[key, value, separator]` triples; the separator is `=`
/// for the `key=value` form and empty for the legacy `key value` form.
fn name_val(rest: &str, instruction: &'static str, escape: char) -> Result<Vec<String>, ArgsError> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let (key, value) = split_first_space(rest);
        let Some(value) = value else {
            return Err(ArgsError::TwoArguments(instruction));
        };
        return Ok(vec![key.to_owned(), value.to_owned(), String::new()]);
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for word in &words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(ArgsError::MissingEquals(crate::shell::go_quote(word)));
        };
        out.extend([key.to_owned(), value.to_owned(), "=".to_owned()]);
    }
    Ok(out)
}

fn health(rest: &str) -> Result<ParsedArgs, ArgsError> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok(ParsedArgs::default());
    }
    let kind = &rest[..sep];
    let command = rest[sep..].trim_start();
    let parsed = maybe_json(command)?;
    let mut args = vec![kind.to_owned()];
    args.extend(parsed.args);
    Ok(ParsedArgs {
        args,
        json: parsed.json,
        sub: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(keyword: &str, rest: &str) -> Result<(Vec<String>, bool), ArgsError> {
        parse_args(style_of(keyword), rest, '\\').map(|p| (p.args, p.json))
    }

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn json_and_shell_forms() {
        assert_eq!(
            parse("RUN", r#"["echo", "hi"]"#),
            Ok((owned(&["echo", "hi"]), true))
        );
        assert_eq!(parse("RUN", "echo hi"), Ok((owned(&["echo hi"]), false)));
        // Not valid JSON: BuildKit falls back to the shell form.
        assert_eq!(
            parse("CMD", "[echo, hi]"),
            Ok((owned(&["[echo, hi]"]), false))
        );
        assert_eq!(
            parse("CMD", r#"["echo", 1]"#),
            Err(ArgsError::NotStringArray)
        );
        assert_eq!(parse("CMD", "[]"), Ok((vec![], true)));
        assert_eq!(
            parse("COPY", r#"["a b", "c"]"#),
            Ok((owned(&["a b", "c"]), true))
        );
        assert_eq!(
            parse("COPY", "a  b\tc"),
            Ok((owned(&["a", "b", "c"]), false))
        );
        assert_eq!(parse("RUN", ""), Ok((vec![], false)));
    }

    #[test]
    fn env_forms() {
        assert_eq!(parse("ENV", "A B C"), Ok((owned(&["A", "B C", ""]), false)));
        assert_eq!(
            parse("ENV", r#"A=1 B="2 3""#),
            Ok((owned(&["A", "1", "=", "B", "\"2 3\"", "="]), false))
        );
        assert_eq!(parse("ENV", "A"), Err(ArgsError::TwoArguments("ENV")));
        assert_eq!(
            parse("LABEL", "a=1 b").unwrap_err().to_string(),
            "Syntax error - can't find = in \"b\". Must be of the form: name=value"
        );
        assert_eq!(parse("ENV", ""), Ok((vec![], false)));
    }

    #[test]
    fn healthcheck_and_onbuild() {
        assert_eq!(
            parse("HEALTHCHECK", r#"CMD ["curl", "x"]"#),
            Ok((owned(&["CMD", "curl", "x"]), true))
        );
        assert_eq!(parse("HEALTHCHECK", "NONE"), Ok((owned(&["NONE"]), false)));
        let on = parse_args(ArgStyle::SubCommand, "RUN --mount=x echo hi", '\\').unwrap();
        assert_eq!(on.args, owned(&["RUN", "echo hi"]));
        assert_eq!(on.sub, Some(("RUN".to_owned(), false)));
    }

    #[test]
    fn unknown_keywords_drop_arguments() {
        assert_eq!(parse("RUNN", "echo"), Ok((vec![], false)));
    }
}
