//! Argument shapes several instructions share: argument counts, BuildKit's messages for
//! them, and the exec (JSON) versus shell form of a command line.

use super::CommandLine;
use super::flags::parse_flags;
use crate::syntax::Node;

/// Refuses any flag: most instructions take none, and BuildKit names the stray one.
pub(super) fn no_flags(node: &Node) -> Result<(), String> {
    parse_flags(&node.flags, &[]).map(drop)
}

pub(super) fn at_least_one(command: &str) -> String {
    format!("{command} requires at least one argument")
}

pub(super) fn exactly_one(command: &str) -> String {
    format!("{command} requires exactly one argument")
}

/// Exec form keeps the argv; shell form joins the words into one string.
pub(super) fn json_args(args: &[String], json: bool) -> Vec<String> {
    if args.is_empty() {
        return Vec::new();
    }
    if json {
        args.to_vec()
    } else {
        vec![args.join(" ")]
    }
}

pub(super) fn command_line(node: &Node) -> CommandLine {
    CommandLine {
        args: json_args(&node.args, node.json),
        heredocs: node.heredocs.clone(),
        prepend_shell: !node.json,
    }
}
