//! Typed instructions: each parsed [`Node`] becomes a [`Command`] with its flags
//! validated, and the commands are grouped into stages.
//!
//! This mirrors BuildKit's `frontend/dockerfile/instructions`: argument counts, flag
//! sets per instruction, heredoc sources for COPY/ADD, HEALTHCHECK options, ONBUILD
//! restrictions and stage names. Values are not expanded yet; that needs the
//! variables in scope at each step, which only lowering knows.

mod config;
mod duration;
mod files;
mod flags;
mod healthcheck;
mod lint;
mod mount;
mod onbuild;
mod run;
mod stage;
mod words;

use hearth_core::image::Healthcheck;

use crate::diagnostic::{Diagnostic, LineRange, suggest, with_suggestion};
use crate::syntax::{Heredoc, Node};
use lint::{lint_command, lint_from};

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

/// Types a single node (also used for ONBUILD triggers): one function per instruction,
/// grouped by family in the modules below.
pub(crate) fn parse_node(node: &Node, features: Features) -> Result<Parsed, String> {
    let command = match node.keyword.to_ascii_lowercase().as_str() {
        "from" => return stage::from(node).map(Parsed::From),
        "add" => files::add(node, features),
        "copy" => files::copy(node, features),
        "run" => run::run(node, features),
        "cmd" => run::cmd(node),
        "entrypoint" => run::entrypoint(node),
        "healthcheck" => healthcheck::healthcheck(node),
        "onbuild" => onbuild::onbuild(node),
        "env" => config::env(node),
        "label" => config::label(node),
        "maintainer" => config::maintainer(node),
        "workdir" => config::workdir(node),
        "user" => config::user(node),
        "expose" => config::expose(node),
        "volume" => config::volume(node),
        "stopsignal" => config::stopsignal(node),
        "arg" => config::arg(node),
        "shell" => config::shell(node),
        _ => {
            let message = format!("unknown instruction: {}", node.keyword);
            Err(with_suggestion(
                message,
                suggest(&node.keyword, INSTRUCTION_NAMES.iter().copied(), false),
            ))
        }
    }?;
    Ok(Parsed::Command(command))
}

#[cfg(test)]
mod tests;
