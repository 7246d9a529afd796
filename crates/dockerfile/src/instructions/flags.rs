//! Instruction flags (`--chown=…`, `--link`, `--mount=…`), parsed with BuildKit's
//! rules: every flag is `--name[=value]`, booleans accept `true`/`false` (any case) or
//! no value, strings require `=`, repeatable flags collect every value, and a bare
//! `--` ends the flags.

use crate::diagnostic::{suggest, with_suggestion};

/// The kind of value a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    Bool,
    String,
    /// Repeatable; every value is kept.
    Strings,
}

/// A flag an instruction accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlagSpec {
    pub(crate) name: &'static str,
    pub(crate) kind: FlagKind,
}

pub(crate) const fn flag(name: &'static str, kind: FlagKind) -> FlagSpec {
    FlagSpec { name, kind }
}

/// Values of the flags that were given.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlagValues {
    values: Vec<(&'static str, Vec<String>)>,
}

impl FlagValues {
    /// Whether the flag appeared at all.
    pub(crate) fn used(&self, name: &str) -> bool {
        self.values.iter().any(|(n, _)| *n == name)
    }

    /// The last value of a string flag, or `""` when absent.
    pub(crate) fn string(&self, name: &str) -> String {
        self.get(name)
            .and_then(|v| v.last().cloned())
            .unwrap_or_default()
    }

    /// A boolean flag: true when given without a value or with `true`.
    pub(crate) fn bool(&self, name: &str) -> bool {
        self.get(name)
            .and_then(|v| v.last())
            .map(|v| v == "true")
            .unwrap_or(false)
    }

    /// A boolean flag's value when given, `None` when absent.
    pub(crate) fn optional_bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(|v| v.last()).map(|v| v == "true")
    }

    /// Every value of a repeatable flag.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.get(name).cloned().unwrap_or_default()
    }

    fn get(&self, name: &str) -> Option<&Vec<String>> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// Parses `args` against `specs`. Messages match BuildKit's.
pub(crate) fn parse_flags(args: &[String], specs: &[FlagSpec]) -> Result<FlagValues, String> {
    let mut out = FlagValues::default();
    for arg in args {
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--") else {
            return Err(format!("arg should start with -- : {arg}"));
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let flag_name = format!("--{name}");
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            let message = format!("unknown flag: {flag_name}");
            return Err(with_suggestion(
                message,
                suggest(name, specs.iter().map(|s| s.name), true),
            ));
        };
        let already = out.values.iter().position(|(n, _)| *n == spec.name);
        if already.is_some() && spec.kind != FlagKind::Strings {
            return Err(format!("duplicate flag specified: {flag_name}"));
        }
        let value = match spec.kind {
            FlagKind::Bool => match value {
                Some("") => return Err(format!("missing a value on flag: {flag_name}")),
                None => "true".to_owned(),
                Some(v) if v.eq_ignore_ascii_case("true") => "true".to_owned(),
                Some(v) if v.eq_ignore_ascii_case("false") => "false".to_owned(),
                Some(v) => {
                    return Err(format!(
                        "expecting boolean value for flag {flag_name}, not: {v}"
                    ));
                }
            },
            FlagKind::String | FlagKind::Strings => match value {
                Some(v) => v.to_owned(),
                None => return Err(format!("missing a value on flag: {flag_name}")),
            },
        };
        match already {
            Some(i) => out.values[i].1.push(value),
            None => out.values.push((spec.name, vec![value])),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[FlagSpec] = &[
        flag("chown", FlagKind::String),
        flag("link", FlagKind::Bool),
        flag("mount", FlagKind::Strings),
    ];

    fn parse(args: &[&str]) -> Result<FlagValues, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_flags(&args, SPECS)
    }

    #[test]
    fn accepted_forms() {
        let v = parse(&["--chown=1:2", "--link", "--mount=a", "--mount=b"]).unwrap();
        assert_eq!(v.string("chown"), "1:2");
        assert!(v.bool("link"));
        assert_eq!(v.strings("mount"), vec!["a", "b"]);
        assert!(!parse(&["--link=FALSE"]).unwrap().bool("link"));
        assert_eq!(
            parse(&["--link=True"]).unwrap().optional_bool("link"),
            Some(true)
        );
        assert_eq!(parse(&[]).unwrap().optional_bool("link"), None);
        assert_eq!(parse(&["--chown="]).unwrap().string("chown"), "");
        assert!(!parse(&["--", "--link"]).unwrap().used("link"));
    }

    #[test]
    fn errors_match_buildkit() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--chwon=1"],
                "unknown flag: --chwon (did you mean chown?)",
            ),
            (&["--nope"], "unknown flag: --nope"),
            (&["-x"], "arg should start with -- : -x"),
            (&["--link", "--link"], "duplicate flag specified: --link"),
            (&["--link="], "missing a value on flag: --link"),
            (
                &["--link=yes"],
                "expecting boolean value for flag --link, not: yes",
            ),
            (&["--chown"], "missing a value on flag: --chown"),
            (&["--mount"], "missing a value on flag: --mount"),
        ];
        for (args, want) in cases {
            assert_eq!(parse(args).unwrap_err(), *want, "{args:?}");
        }
    }
}
