//! Build arguments in scope before the first stage: the automatic platform ARGs,
//! ARGs declared before FROM, `--build-arg` overrides, and proxy variables.

use std::collections::BTreeMap;

use hearth_core::Platform;

use super::env::EnvList;
use crate::diagnostic::{Diagnostic, LineRange};
use crate::instructions::ArgDef;
use crate::shell::Lex;

/// The automatic ARGs, each overridable by `--build-arg`.
pub(crate) fn default_args(
    build: &Platform,
    target: &Platform,
    overrides: &BTreeMap<String, String>,
    target_stage: &str,
) -> EnvList {
    let target_stage = if target_stage.is_empty() {
        "default"
    } else {
        target_stage
    };
    let pairs = [
        ("BUILDPLATFORM", build.format()),
        ("BUILDOS", build.os.clone()),
        ("BUILDOSVERSION", build.os_version.clone()),
        ("BUILDARCH", build.architecture.clone()),
        ("BUILDVARIANT", build.variant.clone()),
        ("TARGETPLATFORM", target.format_all()),
        ("TARGETOS", target.os.clone()),
        ("TARGETOSVERSION", target.os_version.clone()),
        ("TARGETARCH", target.architecture.clone()),
        ("TARGETVARIANT", target.variant.clone()),
        ("TARGETSTAGE", target_stage.to_owned()),
    ];
    let mut env = EnvList::default();
    for (key, value) in pairs {
        let value = overrides.get(key).cloned().unwrap_or(value);
        env.add_or_replace(key, &value);
    }
    env
}

/// Applies the ARGs declared before the first FROM: a `--build-arg` wins, otherwise
/// the default is expanded against what is already in scope.
pub(crate) fn apply_meta_args(
    mut args: EnvList,
    lex: &Lex,
    meta_args: &[(Vec<ArgDef>, LineRange)],
    build_args: &BTreeMap<String, String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> EnvList {
    for (defs, lines) in meta_args {
        for def in defs {
            let value = match build_args.get(&def.key) {
                Some(v) => Some(v.clone()),
                None => match &def.value {
                    Some(default) => match lex.process_word(default, &args) {
                        Ok(p) => Some(p.result),
                        Err(err) => {
                            diagnostics.push(Diagnostic::error(*lines, err.to_string()));
                            None
                        }
                    },
                    None => None,
                },
            };
            if let Some(value) = value {
                args.add_or_replace(&def.key, &value);
            }
        }
    }
    args
}

/// `HTTP_PROXY=…`/`http_proxy=…` pairs for every proxy build argument (matched
/// without regard to case), in the order BuildKit's executor appends them.
pub(crate) fn proxy_env(build_args: &BTreeMap<String, String>) -> Vec<String> {
    let find = |name: &str| {
        build_args
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut out = Vec::new();
    for name in [
        "http_proxy",
        "https_proxy",
        "ftp_proxy",
        "no_proxy",
        "all_proxy",
    ] {
        if let Some(value) = find(name).filter(|v| !v.is_empty()) {
            out.push(format!("{}={value}", name.to_ascii_uppercase()));
            out.push(format!("{name}={value}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::EnvGetter;

    #[test]
    fn automatic_args_describe_build_and_target() {
        let build = Platform::new("linux", "amd64", "");
        let target = Platform::new("linux", "arm", "v7");
        let mut overrides = BTreeMap::new();
        overrides.insert("BUILDOS".to_owned(), "custom".to_owned());
        let env = default_args(&build, &target, &overrides, "");
        assert_eq!(env.get("BUILDPLATFORM"), Some("linux/amd64"));
        assert_eq!(env.get("BUILDOS"), Some("custom"));
        assert_eq!(env.get("TARGETPLATFORM"), Some("linux/arm/v7"));
        assert_eq!(env.get("TARGETARCH"), Some("arm"));
        assert_eq!(env.get("TARGETVARIANT"), Some("v7"));
        assert_eq!(env.get("BUILDVARIANT"), Some(""));
        assert_eq!(env.get("TARGETSTAGE"), Some("default"));
    }

    #[test]
    fn meta_args_expand_in_order_and_build_args_win() {
        let lex = Lex::new('\\');
        let meta = vec![(
            vec![
                ArgDef {
                    key: "A".into(),
                    value: Some("a".into()),
                },
                ArgDef {
                    key: "B".into(),
                    value: Some("${A}-b".into()),
                },
                ArgDef {
                    key: "C".into(),
                    value: None,
                },
                ArgDef {
                    key: "D".into(),
                    value: Some("d".into()),
                },
            ],
            LineRange::single(1),
        )];
        let mut build_args = BTreeMap::new();
        build_args.insert("D".to_owned(), "override".to_owned());
        build_args.insert("C".to_owned(), "given".to_owned());
        let mut diags = Vec::new();
        let env = apply_meta_args(EnvList::default(), &lex, &meta, &build_args, &mut diags);
        assert!(diags.is_empty());
        assert_eq!(env.to_vec(), vec!["A=a", "B=a-b", "C=given", "D=override"]);
    }

    #[test]
    fn proxies_from_build_args() {
        let mut args = BTreeMap::new();
        args.insert("HTTP_PROXY".to_owned(), "http://p:3128".to_owned());
        args.insert("no_proxy".to_owned(), "localhost".to_owned());
        args.insert("OTHER".to_owned(), "x".to_owned());
        assert_eq!(
            proxy_env(&args),
            vec![
                "HTTP_PROXY=http://p:3128",
                "http_proxy=http://p:3128",
                "NO_PROXY=localhost",
                "no_proxy=localhost"
            ]
        );
    }
}
