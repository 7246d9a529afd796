//! Typing tests: each Dockerfile snippet maps to exact commands or exact errors.

use super::*;
use crate::syntax::parse;

fn typed(text: &str, features: Features) -> (Dockerfile, Vec<Diagnostic>) {
    let parsed = parse(text);
    let mut diagnostics = parsed.diagnostics.clone();
    let df = to_dockerfile(&parsed.nodes, features, &mut diagnostics);
    (df, diagnostics)
}

fn errors(text: &str) -> Vec<(usize, String)> {
    let (_, diags) = typed(text, Features::default());
    diags
        .into_iter()
        .filter(|d| d.is_error())
        .map(|d| (d.lines.start, d.message))
        .collect()
}

fn commands(text: &str) -> Vec<Command> {
    let (df, diags) = typed(text, Features::default());
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    df.stages
        .into_iter()
        .flat_map(|s| s.commands)
        .map(|i| i.command)
        .collect()
}

#[test]
fn stages_and_meta_args() {
    let (df, diags) = typed(
        "ARG BASE=busybox\nARG V\nFROM ${BASE} AS Build\nRUN x\nfrom --platform=$BUILDPLATFORM scratch\nCOPY --from=build /a /b\n",
        Features::default(),
    );
    assert!(diags.iter().all(|d| !d.is_error()));
    assert_eq!(df.meta_args.len(), 2);
    assert_eq!(
        df.meta_args[0].0,
        vec![ArgDef {
            key: "BASE".into(),
            value: Some("busybox".into())
        }]
    );
    assert_eq!(df.stages.len(), 2);
    assert_eq!(df.stages[0].name, "build", "stage names are lowercased");
    assert_eq!(df.stages[0].base, "${BASE}");
    assert_eq!(df.stages[1].platform, "$BUILDPLATFORM");
    assert_eq!(df.stages[1].keyword, "from");
    assert_eq!(df.stages[0].commands[0].lines, LineRange::single(4));
    // The uppercase stage name is allowed but linted.
    assert!(diags.iter().any(|d| d.rule == Some("StageNameCasing")));
}

#[test]
fn argument_count_errors_are_all_reported() {
    let got = errors(
        "FROM busybox\nARG\nWORKDIR\nUSER\nCOPY onlyone\nEXPOSE\nVOLUME\nSHELL /bin/sh\nFROM a b\nMAINTAINER\nENV\n",
    );
    assert_eq!(
        got,
        vec![
            (2, "ARG requires at least one argument".to_owned()),
            (3, "WORKDIR requires exactly one argument".to_owned()),
            (4, "USER requires exactly one argument".to_owned()),
            (5, "COPY requires at least two arguments, but only one was provided. Destination could not be determined".to_owned()),
            (6, "EXPOSE requires at least one argument".to_owned()),
            (7, "VOLUME requires at least one argument".to_owned()),
            (8, "SHELL requires the arguments to be in JSON form".to_owned()),
            (9, "FROM requires either one or three arguments".to_owned()),
            (10, "MAINTAINER requires exactly one argument".to_owned()),
            (11, "ENV requires at least one argument".to_owned()),
        ]
    );
}

#[test]
fn unknown_instructions_and_flags_get_suggestions() {
    let got = errors(
        "FROM busybox\nRUNN echo\nCOPY --chwon=1 a b\nCOPY --parents a b\nRUN --netwrk=none x\n",
    );
    assert_eq!(
        got,
        vec![
            (
                2,
                "unknown instruction: RUNN (did you mean RUN?)".to_owned()
            ),
            (3, "unknown flag: --chwon (did you mean chown?)".to_owned()),
            (4, "unknown flag: --parents".to_owned()),
            (
                5,
                "unknown flag: --netwrk (did you mean network?)".to_owned()
            ),
        ]
    );
}

#[test]
fn labs_features_come_from_the_syntax_directive() {
    assert_eq!(
        Features::from_syntax(Some("docker/dockerfile:1-labs")),
        Features { labs: true }
    );
    assert_eq!(
        Features::from_syntax(Some("docker/dockerfile:1")),
        Features { labs: false }
    );
    let (df, diags) = typed(
        "FROM x\nCOPY --parents --exclude=*.md --exclude=*.txt a/./b /d/\nRUN --security=insecure id\n",
        Features { labs: true },
    );
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let Command::Copy(copy) = &df.stages[0].commands[0].command else {
        panic!()
    };
    assert!(copy.parents);
    assert_eq!(copy.exclude, vec!["*.md", "*.txt"]);
    let Command::Run(run) = &df.stages[0].commands[1].command else {
        panic!()
    };
    assert_eq!(run.security, "insecure");
}

#[test]
fn no_stage_before_first_instruction() {
    assert_eq!(
        errors("ARG A\nRUN echo\nENV B=1\nFROM x\n"),
        vec![(2, "no build stage in current context".to_owned())]
    );
}

#[test]
fn stage_names_are_validated() {
    assert_eq!(
        errors("FROM x AS 1st\nFROM y AS my_stage.v2-x\nFROM z AS a$b\n"),
        vec![
            (1, "invalid name for build stage: \"1st\", name can't start with a number or contain symbols".to_owned()),
            (3, "invalid name for build stage: \"a$b\", name can't start with a number or contain symbols".to_owned()),
        ]
    );
}

#[test]
fn copy_and_add_flags_and_heredoc_sources() {
    let got = commands(
        "FROM x\nCOPY --from=0 --chown=app:app --chmod=644 --link a b /dst/\nADD --checksum=sha256:abc --keep-git-dir=false --unpack=true http://x/y.tgz /y\nCOPY <<-EOF /etc/conf\n\tline\nEOF\n",
    );
    let Command::Copy(copy) = &got[0] else {
        panic!()
    };
    assert_eq!(copy.paths.sources, vec!["a", "b"]);
    assert_eq!(copy.paths.dest, "/dst/");
    assert_eq!(
        (
            copy.from.as_str(),
            copy.chown.as_str(),
            copy.chmod.as_str(),
            copy.link
        ),
        ("0", "app:app", "644", true)
    );
    let Command::Add(add) = &got[1] else { panic!() };
    assert_eq!(add.checksum, "sha256:abc");
    assert_eq!(add.keep_git_dir, Some(false));
    assert_eq!(add.unpack, Some(true));
    let Command::Copy(inline) = &got[2] else {
        panic!()
    };
    assert!(inline.paths.sources.is_empty());
    assert_eq!(
        inline.paths.inline,
        vec![InlineSource {
            path: "EOF".into(),
            data: "line\n".into(),
            expand: true
        }]
    );
}

#[test]
fn heredoc_destination_is_rejected() {
    assert_eq!(
        errors("FROM x\nCOPY a <<EOF\nEOF\n"),
        vec![(
            2,
            "COPY cannot accept a heredoc as a destination".to_owned()
        )]
    );
}

#[test]
fn run_flags() {
    let got = commands("FROM x\nRUN --mount=type=cache,target=/c --network=none echo\nRUN echo\n");
    let Command::Run(run) = &got[0] else { panic!() };
    assert_eq!(run.mounts, vec!["type=cache,target=/c"]);
    assert_eq!(run.network, "none");
    assert_eq!(run.security, "sandbox");
    assert_eq!(run.command.args, vec!["echo"]);
    assert!(run.command.prepend_shell);
    let Command::Run(plain) = &got[1] else {
        panic!()
    };
    assert_eq!(plain.network, "default");
    assert_eq!(
        errors("FROM x\nRUN --network=bridge x\nRUN --mount=from=$X,target=/a x\n"),
        vec![
            (2, "invalid network mode \"bridge\"".to_owned()),
            (
                3,
                "'from' doesn't support variable expansion, define alias stage instead".to_owned()
            ),
        ]
    );
}

#[test]
fn onbuild_triggers() {
    let got = commands("FROM x\nONBUILD RUN echo hi\nonbuild   COPY <<EOF /f\nbody\nEOF\n");
    assert_eq!(got[0], Command::Onbuild("RUN echo hi".into()));
    assert_eq!(got[1], Command::Onbuild("COPY <<EOF /f\nbody\nEOF".into()));
    assert_eq!(
        errors("FROM x\nONBUILD ONBUILD RUN x\nONBUILD FROM y\nONBUILD maintainer me\nONBUILD\n"),
        vec![
            (
                2,
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_owned()
            ),
            (3, "FROM isn't allowed as an ONBUILD trigger".to_owned()),
            (
                4,
                "MAINTAINER isn't allowed as an ONBUILD trigger".to_owned()
            ),
            (5, "ONBUILD requires at least one argument".to_owned()),
        ]
    );
}

#[test]
fn healthcheck_forms() {
    let got = commands(
        "FROM x\nHEALTHCHECK NONE\nHEALTHCHECK --interval=30s --timeout=5s --start-period=1m --start-interval=2s --retries=3 CMD curl -f http://localhost/\nHEALTHCHECK CMD [\"/bin/check\", \"-q\"]\n",
    );
    assert_eq!(
        got[0],
        Command::Healthcheck(Healthcheck {
            test: vec!["NONE".into()],
            ..Healthcheck::default()
        })
    );
    assert_eq!(
        got[1],
        Command::Healthcheck(Healthcheck {
            test: vec!["CMD-SHELL".into(), "curl -f http://localhost/".into()],
            interval: 30_000_000_000,
            timeout: 5_000_000_000,
            start_period: 60_000_000_000,
            start_interval: 2_000_000_000,
            retries: 3,
        })
    );
    assert_eq!(
        got[2],
        Command::Healthcheck(Healthcheck {
            test: vec!["CMD".into(), "/bin/check".into(), "-q".into()],
            ..Healthcheck::default()
        })
    );
    assert_eq!(
        errors(
            "FROM x\nHEALTHCHECK NONE x\nHEALTHCHECK FOO x\nHEALTHCHECK CMD\nHEALTHCHECK --interval=1us CMD x\nHEALTHCHECK --retries=-1 CMD x\nHEALTHCHECK --retries=x CMD x\nHEALTHCHECK --timeout=5 CMD x\n"
        ),
        vec![
            (2, "HEALTHCHECK NONE takes no arguments".to_owned()),
            (
                3,
                "Unknown type \"FOO\" in HEALTHCHECK (try CMD)".to_owned()
            ),
            (4, "Missing command after HEALTHCHECK CMD".to_owned()),
            (
                5,
                "Interval \"interval\" cannot be less than 1ms".to_owned()
            ),
            (6, "--retries cannot be negative (-1)".to_owned()),
            (
                7,
                "strconv.ParseInt: parsing \"x\": invalid syntax".to_owned()
            ),
            (8, "time: missing unit in duration \"5\"".to_owned()),
        ]
    );
}

#[test]
fn env_label_arg_expose_volume() {
    let got = commands(
        "FROM x\nENV A 1 B 2\nLABEL a=b\nARG X Y=1 Z=\nEXPOSE 8080/udp 80 443\nVOLUME [\"/a\", \"/b\"]\nSTOPSIGNAL SIGKILL\n",
    );
    assert_eq!(
        got[0],
        Command::Env(vec![KeyValue {
            key: "A".into(),
            value: "1 B 2".into(),
            legacy: true
        }]),
        "without `=` in the first word the rest of the line is the value"
    );
    assert_eq!(
        errors("FROM x\nENV A=1 B 2\n"),
        vec![(
            2,
            "Syntax error - can't find = in \"B\". Must be of the form: name=value".to_owned()
        )]
    );
    assert_eq!(
        got[2],
        Command::Arg(vec![
            ArgDef {
                key: "X".into(),
                value: None
            },
            ArgDef {
                key: "Y".into(),
                value: Some("1".into())
            },
            ArgDef {
                key: "Z".into(),
                value: Some(String::new())
            },
        ])
    );
    assert_eq!(
        got[3],
        Command::Expose(vec!["443".into(), "80".into(), "8080/udp".into()])
    );
    assert_eq!(got[4], Command::Volume(vec!["/a".into(), "/b".into()]));
    assert_eq!(got[5], Command::StopSignal("SIGKILL".into()));
    assert_eq!(
        errors("FROM x\nARG =x\n"),
        vec![(2, "ARG names can not be blank".to_owned())]
    );
}

#[test]
fn legacy_env_and_maintainer_are_linted() {
    let (_, diags) = typed("FROM x\nENV A b\nMAINTAINER me\n", Features::default());
    let rules: Vec<_> = diags.iter().filter_map(|d| d.rule).collect();
    assert_eq!(rules, vec!["LegacyKeyValueFormat", "MaintainerDeprecated"]);
}
