//! FROM: the base, the optional `AS name` and `--platform`, which open a stage.

use super::Stage;
use super::flags::{FlagKind, flag, parse_flags};
use crate::syntax::Node;

pub(super) fn from(node: &Node) -> Result<Stage, String> {
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

fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}
