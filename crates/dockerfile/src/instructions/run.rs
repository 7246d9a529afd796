//! Instructions whose argument is a command line: RUN (with its mounts, network and
//! security flags), CMD and ENTRYPOINT.

use super::flags::{FlagKind, flag, parse_flags};
use super::words::{command_line, no_flags};
use super::{Command, Features, Run, parse_mount};
use crate::syntax::Node;

pub(super) fn run(node: &Node, features: Features) -> Result<Command, String> {
    let mut specs = vec![
        flag("mount", FlagKind::Strings),
        flag("network", FlagKind::String),
    ];
    if features.labs {
        specs.push(flag("security", FlagKind::String));
    }
    let values = parse_flags(&node.flags, &specs)?;
    let mounts = values.strings("mount");
    // Mounts are checked now so a bad one is reported with the other typing errors; they
    // are parsed again in lowering, with their variables expanded.
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
    Ok(Command::Run(Run {
        command: command_line(node),
        mounts,
        network,
        security,
    }))
}

pub(super) fn cmd(node: &Node) -> Result<Command, String> {
    no_flags(node)?;
    Ok(Command::Cmd(command_line(node)))
}

pub(super) fn entrypoint(node: &Node) -> Result<Command, String> {
    no_flags(node)?;
    Ok(Command::Entrypoint(command_line(node)))
}
