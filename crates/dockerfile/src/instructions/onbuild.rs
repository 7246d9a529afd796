//! ONBUILD: a trigger kept as text (with its heredocs) for images built FROM this one;
//! triggers are typed again with `parse_node` when a stage runs them.

use super::Command;
use super::words::{at_least_one, no_flags};
use crate::syntax::Node;

pub(super) fn onbuild(node: &Node) -> Result<Command, String> {
    if node.args.is_empty() {
        return Err(at_least_one("ONBUILD"));
    }
    no_flags(node)?;
    let trigger = node.args[0].trim().to_ascii_uppercase();
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
    Ok(Command::Onbuild(expression))
}

fn strip_onbuild_keyword(original: &str) -> String {
    let trimmed = original.trim_start();
    let rest = match trimmed.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("onbuild") => &trimmed[7..],
        _ => trimmed,
    };
    rest.trim_start().to_owned()
}
