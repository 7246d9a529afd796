//! Typed instructions: each parsed [`Node`] becomes a [`Command`] with its flags
//! validated, and the commands are grouped into stages.
//!
//! This mirrors BuildKit's `frontend/dockerfile/instructions`: argument counts, flag
//! sets per instruction, heredoc sources for COPY/ADD, HEALTHCHECK options, ONBUILD
//! restrictions and stage names. Values are not expanded yet; that needs the
//! variables in scope at each step, which only lowering knows.

mod duration;
mod flags;
mod mount;

use hearth_core::image::Healthcheck;

use crate::diagnostic::{Diagnostic, LineRange, suggest, with_suggestion};
use crate::syntax::{Heredoc, Node, chomp_heredoc_content, parse_heredoc_word};
use flags::{FlagKind, FlagSpec, FlagValues, flag, parse_flags};

pub(crate) use mount::parse_mount;
pub use mount::{MountSpec, MountType, Sharing};

/// Optional Dockerfile features, enabled by the `syntax` directive as the matching
/// BuildKit frontend image would.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// `docker/dockerfile:*-labs`: `COPY --parents`, `--exclude`, `RUN --security`.
    pub labs: bool,
}

impl Features {
    /// Features selected by a `# syntax=` value.
    pub fn from_syntax(syntax: Option<&str>) -> Self {
        Self {
            labs: syntax.is_some_and(|s| s.contains("labs")),
        }
    }
}

/// A key/value pair from ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Key, unexpanded.
    pub key: String,
    /// Value, unexpanded, quotes still in place.
    pub value: String,
    /// Written in the legacy `KEY value` form.
    pub legacy: bool,
}

/// One name of an ARG instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    /// Name.
    pub key: String,
    /// Default, unexpanded; `None` when declared without one.
    pub value: Option<String>,
}

/// A file given inline to COPY or ADD by a heredoc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineSource {
    /// File name (the heredoc delimiter).
    pub path: String,
    /// Contents (tabs already stripped for `<<-`).
    pub data: String,
    /// Expand variables in the contents.
    pub expand: bool,
}

/// Sources and destination of COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesAndDest {
    /// Paths (or URLs), unexpanded.
    pub sources: Vec<String>,
    /// Heredoc files.
    pub inline: Vec<InlineSource>,
    /// Destination, unexpanded.
    pub dest: String,
}

/// A command line of RUN, CMD or ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The exec-form argv, or the shell-form text as a single element.
    pub args: Vec<String>,
    /// Heredocs that follow a RUN.
    pub heredocs: Vec<Heredoc>,
    /// Shell form: the stage's SHELL is prepended.
    pub prepend_shell: bool,
}

/// COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// What to copy where.
    pub paths: SourcesAndDest,
    /// `--from`: a stage name, index or image.
    pub from: String,
    /// `--chown`.
    pub chown: String,
    /// `--chmod`.
    pub chmod: String,
    /// `--link`.
    pub link: bool,
    /// `--parents` (labs).
    pub parents: bool,
    /// `--exclude` (labs).
    pub exclude: Vec<String>,
}

/// ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    /// What to add where.
    pub paths: SourcesAndDest,
    /// `--chown`.
    pub chown: String,
    /// `--chmod`.
    pub chmod: String,
    /// `--link`.
    pub link: bool,
    /// `--keep-git-dir`, when given.
    pub keep_git_dir: Option<bool>,
    /// `--checksum`.
    pub checksum: String,
    /// `--unpack`, when given.
    pub unpack: Option<bool>,
    /// `--exclude` (labs).
    pub exclude: Vec<String>,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command.
    pub command: CommandLine,
    /// `--mount` specs, unexpanded (expanded and validated during lowering).
    pub mounts: Vec<String>,
    /// `--network`.
    pub network: String,
    /// `--security` (labs).
    pub security: String,
}

/// One instruction inside a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// ADD.
    Add(Add),
    /// ARG (several names per line).
    Arg(Vec<ArgDef>),
    /// CMD.
    Cmd(CommandLine),
    /// COPY.
    Copy(Copy),
    /// ENTRYPOINT.
    Entrypoint(CommandLine),
    /// ENV.
    Env(Vec<KeyValue>),
    /// EXPOSE (sorted as BuildKit sorts them).
    Expose(Vec<String>),
    /// HEALTHCHECK.
    Healthcheck(Healthcheck),
    /// LABEL.
    Label(Vec<KeyValue>),
    /// MAINTAINER.
    Maintainer(String),
    /// ONBUILD: the trigger text.
    Onbuild(String),
    /// RUN.
    Run(Run),
    /// SHELL.
    Shell(Vec<String>),
    /// STOPSIGNAL.
    StopSignal(String),
    /// USER.
    User(String),
    /// VOLUME.
    Volume(Vec<String>),
    /// WORKDIR.
    Workdir(String),
}

/// A command with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The command.
    pub command: Command,
    /// The keyword as written.
    pub keyword: String,
    /// The instruction text as written (trimmed), for history and progress.
    pub code: String,
    /// Where.
    pub lines: LineRange,
}

/// A build stage: a FROM and the instructions after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Lowercased `AS` name; empty when unnamed.
    pub name: String,
    /// The base, unexpanded: an image reference, a stage name or `scratch`.
    pub base: String,
    /// `--platform`, unexpanded.
    pub platform: String,
    /// The FROM line as written (trimmed).
    pub code: String,
    /// The FROM keyword as written.
    pub keyword: String,
    /// Where the FROM is.
    pub lines: LineRange,
    /// Instructions in order.
    pub commands: Vec<Instruction>,
}

/// The whole Dockerfile, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dockerfile {
    /// ARGs before the first FROM.
    pub meta_args: Vec<(Vec<ArgDef>, LineRange)>,
    /// Stages in order.
    pub stages: Vec<Stage>,
}

const INSTRUCTION_NAMES: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Types every node and groups them into stages. Errors are collected per
/// instruction; a bad instruction is dropped and the rest still checked.
pub fn to_dockerfile(
    nodes: &[Node],
    features: Features,
    diagnostics: &mut Vec<Diagnostic>,
) -> Dockerfile {
    let mut out = Dockerfile::default();
    let mut reported_no_stage = false;
    for node in nodes {
        let parsed = match parse_node(node, features) {
            Ok(parsed) => parsed,
            Err(message) => {
                diagnostics.push(Diagnostic::error(node.lines, message));
                continue;
            }
        };
        match parsed {
            Parsed::From(stage) => {
                lint_from(node, &stage, diagnostics);
                out.stages.push(stage);
            }
            Parsed::Command(Command::Arg(args)) if out.stages.is_empty() => {
                out.meta_args.push((args, node.lines));
            }
            Parsed::Command(command) => {
                lint_command(node, &command, diagnostics);
                let instruction = Instruction {
                    command,
                    keyword: node.keyword.clone(),
                    code: node.original.trim().to_owned(),
                    lines: node.lines,
                };
                match out.stages.last_mut() {
                    Some(stage) => stage.commands.push(instruction),
                    None => {
                        if !reported_no_stage {
                            reported_no_stage = true;
                            diagnostics.push(
                                Diagnostic::error(node.lines, "no build stage in current context")
                                    .with_detail(
                                        "every instruction except ARG must come after a FROM",
                                    ),
                            );
                        }
                    }
                }
            }
        }
    }
    out
}

/// The typed form of a single node.
pub(crate) enum Parsed {
    From(Stage),
    Command(Command),
}

/// Types a single node (also used for ONBUILD triggers).
pub(crate) fn parse_node(node: &Node, features: Features) -> Result<Parsed, String> {
    let lower = node.keyword.to_ascii_lowercase();
    let args = &node.args;
    let f = |specs: &[FlagSpec]| parse_flags(&node.flags, specs);
    let command = match lower.as_str() {
        "env" => {
            f(&[])?;
            Command::Env(key_values(args, "ENV")?)
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            f(&[])?;
            Command::Maintainer(args[0].clone())
        }
        "label" => {
            f(&[])?;
            Command::Label(key_values(args, "LABEL")?)
        }
        "add" => return parse_add(node, features).map(Parsed::Command),
        "copy" => return parse_copy(node, features).map(Parsed::Command),
        "from" => return parse_from(node).map(Parsed::From),
        "onbuild" => {
            if args.is_empty() {
                return Err(at_least_one("ONBUILD"));
            }
            f(&[])?;
            let trigger = args[0].trim().to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_owned());
                }
                "MAINTAINER" | "FROM" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"));
                }
                _ => {}
            }
            let mut expression = strip_onbuild_keyword(&node.original);
            for doc in &node.heredocs {
                expression.push('\n');
                expression.push_str(&doc.content);
                expression.push_str(&doc.name);
            }
            Command::Onbuild(expression)
        }
        "workdir" => {
            if args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            f(&[])?;
            Command::Workdir(args[0].clone())
        }
        "run" => {
            let mut specs = vec![
                flag("mount", FlagKind::Strings),
                flag("network", FlagKind::String),
            ];
            if features.labs {
                specs.push(flag("security", FlagKind::String));
            }
            let values = f(&specs)?;
            let mounts = values.strings("mount");
            for spec in &mounts {
                parse_mount(spec, None)?;
            }
            let network = if values.used("network") {
                values.string("network")
            } else {
                "default".to_owned()
            };
            if !matches!(network.as_str(), "default" | "none" | "host") {
                return Err(format!(
                    "invalid network mode {}",
                    crate::shell::go_quote(&network)
                ));
            }
            let security = if values.used("security") {
                values.string("security")
            } else {
                "sandbox".to_owned()
            };
            if !matches!(security.as_str(), "sandbox" | "insecure") {
                return Err(format!(
                    "security {} is not valid",
                    crate::shell::go_quote(&security)
                ));
            }
            Command::Run(Run {
                command: command_line(node),
                mounts,
                network,
                security,
            })
        }
        "cmd" => {
            f(&[])?;
            Command::Cmd(command_line(node))
        }
        "entrypoint" => {
            f(&[])?;
            Command::Entrypoint(command_line(node))
        }
        "healthcheck" => Command::Healthcheck(parse_healthcheck(node)?),
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            f(&[])?;
            let mut ports = args.clone();
            ports.sort();
            Command::Expose(ports)
        }
        "user" => {
            if args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            f(&[])?;
            Command::User(args[0].clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            f(&[])?;
            let mut volumes = Vec::with_capacity(args.len());
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".to_owned());
                }
                volumes.push(v.to_owned());
            }
            Command::Volume(volumes)
        }
        "stopsignal" => {
            // BuildKit never parses STOPSIGNAL's flags, so stray flags are ignored.
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            Command::StopSignal(args[0].clone())
        }
        "arg" => {
            // Likewise ARG: flags are silently ignored.
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut defs = Vec::with_capacity(args.len());
            for arg in args {
                match arg.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".to_owned()),
                    Some((key, value)) => defs.push(ArgDef {
                        key: key.to_owned(),
                        value: Some(value.to_owned()),
                    }),
                    None => defs.push(ArgDef {
                        key: arg.clone(),
                        value: None,
                    }),
                }
            }
            Command::Arg(defs)
        }
        "shell" => {
            f(&[])?;
            let line = json_args(args, node.json);
            if line.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".to_owned());
            }
            Command::Shell(line)
        }
        _ => {
            let message = format!("unknown instruction: {}", node.keyword);
            return Err(with_suggestion(
                message,
                suggest(&node.keyword, INSTRUCTION_NAMES.iter().copied(), false),
            ));
        }
    };
    Ok(Parsed::Command(command))
}

fn at_least_one(command: &str) -> String {
    format!("{command} requires at least one argument")
}

fn exactly_one(command: &str) -> String {
    format!("{command} requires exactly one argument")
}

/// Exec form keeps the argv; shell form joins the words into one string.
fn json_args(args: &[String], json: bool) -> Vec<String> {
    if args.is_empty() {
        return Vec::new();
    }
    if json {
        args.to_vec()
    } else {
        vec![args.join(" ")]
    }
}

fn command_line(node: &Node) -> CommandLine {
    CommandLine {
        args: json_args(&node.args, node.json),
        heredocs: node.heredocs.clone(),
        prepend_shell: !node.json,
    }
}

fn key_values(args: &[String], command: &str) -> Result<Vec<KeyValue>, String> {
    if args.is_empty() {
        return Err(at_least_one(command));
    }
    if args.len() % 3 != 0 {
        return Err(format!("Bad input to {command}, too many arguments"));
    }
    let mut out = Vec::with_capacity(args.len() / 3);
    for triple in args.chunks(3) {
        if triple[0].is_empty() {
            return Err(format!("{command} names can not be blank"));
        }
        out.push(KeyValue {
            key: triple[0].clone(),
            value: triple[1].clone(),
            legacy: triple[2].is_empty(),
        });
    }
    Ok(out)
}

fn strip_onbuild_keyword(original: &str) -> String {
    let trimmed = original.trim_start();
    let rest = match trimmed.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("onbuild") => &trimmed[7..],
        _ => trimmed,
    };
    rest.trim_start().to_owned()
}

fn sources_and_dest(node: &Node, command: &str) -> Result<SourcesAndDest, String> {
    let (dest, sources) = node
        .args
        .split_last()
        .ok_or_else(|| no_destination(command))?;
    if parse_heredoc_word(dest).ok().flatten().is_some() {
        return Err(format!(
            "{command} cannot accept a heredoc as a destination"
        ));
    }
    let mut paths = Vec::new();
    let mut inline = Vec::new();
    for source in sources {
        match parse_heredoc_word(source).ok().flatten() {
            Some(doc) => {
                let body = node.heredocs.iter().find(|h| h.name == doc.name);
                let content = body.map(|h| h.content.clone()).unwrap_or_default();
                let data = if doc.chomp {
                    chomp_heredoc_content(&content)
                } else {
                    content
                };
                inline.push(InlineSource {
                    path: doc.name,
                    data,
                    expand: doc.expand,
                });
            }
            None => paths.push(source.clone()),
        }
    }
    Ok(SourcesAndDest {
        sources: paths,
        inline,
        dest: dest.clone(),
    })
}

fn no_destination(command: &str) -> String {
    format!(
        "{command} requires at least two arguments, but only one was provided. Destination could not be determined"
    )
}

fn parse_add(node: &Node, features: Features) -> Result<Command, String> {
    if node.args.len() < 2 {
        return Err(no_destination("ADD"));
    }
    let mut specs = vec![
        flag("chown", FlagKind::String),
        flag("chmod", FlagKind::String),
        flag("link", FlagKind::Bool),
        flag("keep-git-dir", FlagKind::Bool),
        flag("checksum", FlagKind::String),
        flag("unpack", FlagKind::Bool),
    ];
    if features.labs {
        specs.push(flag("exclude", FlagKind::Strings));
    }
    let v: FlagValues = parse_flags(&node.flags, &specs)?;
    Ok(Command::Add(Add {
        paths: sources_and_dest(node, "ADD")?,
        chown: v.string("chown"),
        chmod: v.string("chmod"),
        link: v.bool("link"),
        keep_git_dir: v.optional_bool("keep-git-dir"),
        checksum: v.string("checksum"),
        unpack: v.optional_bool("unpack"),
        exclude: v.strings("exclude"),
    }))
}

fn parse_copy(node: &Node, features: Features) -> Result<Command, String> {
    if node.args.len() < 2 {
        return Err(no_destination("COPY"));
    }
    let mut specs = vec![
        flag("chown", FlagKind::String),
        flag("from", FlagKind::String),
        flag("chmod", FlagKind::String),
        flag("link", FlagKind::Bool),
    ];
    if features.labs {
        specs.push(flag("exclude", FlagKind::Strings));
        specs.push(flag("parents", FlagKind::Bool));
    }
    let v = parse_flags(&node.flags, &specs)?;
    Ok(Command::Copy(Copy {
        paths: sources_and_dest(node, "COPY")?,
        from: v.string("from"),
        chown: v.string("chown"),
        chmod: v.string("chmod"),
        link: v.bool("link"),
        parents: v.bool("parents"),
        exclude: v.strings("exclude"),
    }))
}

fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn parse_from(node: &Node) -> Result<Stage, String> {
    let args = &node.args;
    let name = match args.len() {
        3 if args[1].eq_ignore_ascii_case("as") => {
            let name = args[2].to_ascii_lowercase();
            if !is_valid_stage_name(&name) {
                return Err(format!(
                    "invalid name for build stage: {}, name can't start with a number or contain symbols",
                    crate::shell::go_quote(&args[2])
                ));
            }
            name
        }
        1 => String::new(),
        _ => return Err("FROM requires either one or three arguments".to_owned()),
    };
    let v = parse_flags(&node.flags, &[flag("platform", FlagKind::String)])?;
    Ok(Stage {
        name,
        base: args[0].clone(),
        platform: v.string("platform"),
        code: node.original.trim().to_owned(),
        keyword: node.keyword.clone(),
        lines: node.lines,
        commands: Vec::new(),
    })
}

fn parse_interval(values: &FlagValues, name: &str) -> Result<i64, String> {
    let text = values.string(name);
    if text.is_empty() {
        return Ok(0);
    }
    let nanos = duration::parse_go_duration(&text)?;
    if nanos == 0 {
        return Ok(0);
    }
    if nanos < 1_000_000 {
        return Err(format!(
            "Interval {} cannot be less than 1ms",
            crate::shell::go_quote(name)
        ));
    }
    Ok(nanos)
}

fn parse_healthcheck(node: &Node) -> Result<Healthcheck, String> {
    let Some((kind, rest)) = node.args.split_first() else {
        return Err(at_least_one("HEALTHCHECK"));
    };
    let kind = kind.to_ascii_uppercase();
    if kind == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".to_owned());
        }
        return Ok(Healthcheck {
            test: vec![kind],
            ..Healthcheck::default()
        });
    }
    let values = parse_flags(
        &node.flags,
        &[
            flag("interval", FlagKind::String),
            flag("timeout", FlagKind::String),
            flag("start-period", FlagKind::String),
            flag("start-interval", FlagKind::String),
            flag("retries", FlagKind::String),
        ],
    )?;
    if kind != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            crate::shell::go_quote(&kind)
        ));
    }
    let command = json_args(rest, node.json);
    if command.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".to_owned());
    }
    let mut test = vec![if node.json {
        "CMD".to_owned()
    } else {
        "CMD-SHELL".to_owned()
    }];
    test.extend(command);
    let retries_text = values.string("retries");
    let retries = if retries_text.is_empty() {
        0
    } else {
        let parsed: i64 = retries_text.parse::<i32>().map(i64::from).map_err(|_| {
            format!(
                "strconv.ParseInt: parsing {}: invalid syntax",
                crate::shell::go_quote(&retries_text)
            )
        })?;
        if parsed < 0 {
            return Err(format!("--retries cannot be negative ({parsed})"));
        }
        parsed
    };
    Ok(Healthcheck {
        test,
        interval: parse_interval(&values, "interval")?,
        timeout: parse_interval(&values, "timeout")?,
        start_period: parse_interval(&values, "start-period")?,
        start_interval: parse_interval(&values, "start-interval")?,
        retries,
    })
}

fn lint_from(node: &Node, stage: &Stage, diagnostics: &mut Vec<Diagnostic>) {
    if node.args.len() == 3 {
        let as_name = &node.args[2];
        if *as_name != as_name.to_lowercase() {
            diagnostics.push(
                Diagnostic::warning(
                    node.lines,
                    format!("Stage name '{as_name}' should be lowercase"),
                )
                .with_rule("StageNameCasing"),
            );
        }
        let keyword = &node.keyword;
        let as_word = &node.args[1];
        let from_lower = *keyword == keyword.to_lowercase();
        let from_upper = *keyword == keyword.to_uppercase();
        let mismatch = (from_lower && *as_word != as_word.to_lowercase())
            || (from_upper && *as_word != as_word.to_uppercase());
        if mismatch {
            diagnostics.push(
                Diagnostic::warning(
                    node.lines,
                    format!("'{as_word}' and '{keyword}' keywords' casing do not match"),
                )
                .with_rule("FromAsCasing"),
            );
        }
    }
    let _ = stage;
}

fn lint_command(node: &Node, command: &Command, diagnostics: &mut Vec<Diagnostic>) {
    match command {
        Command::Maintainer(_) => diagnostics.push(
            Diagnostic::warning(
                node.lines,
                "Maintainer instruction is deprecated in favor of using label",
            )
            .with_rule("MaintainerDeprecated"),
        ),
        Command::Env(pairs) | Command::Label(pairs) if pairs.iter().any(|p| p.legacy) => {
            let name = node.keyword.to_ascii_uppercase();
            diagnostics.push(
                Diagnostic::warning(
                    node.lines,
                    format!("\"{name} key=value\" should be used instead of legacy \"{name} key value\" format"),
                )
                .with_rule("LegacyKeyValueFormat"),
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
