//! Warnings on well-formed instructions (BuildKit's lint rules with their names), kept
//! apart from typing so a rule never changes what an instruction means.

use super::{Command, Stage};
use crate::diagnostic::Diagnostic;
use crate::syntax::Node;

pub(super) fn lint_from(node: &Node, stage: &Stage, diagnostics: &mut Vec<Diagnostic>) {
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

pub(super) fn lint_command(node: &Node, command: &Command, diagnostics: &mut Vec<Diagnostic>) {
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
