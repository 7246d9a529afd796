//! Instructions that set the image's configuration or the build's variables (ENV, LABEL,
//! MAINTAINER, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, ARG, SHELL): argument checks only,
//! since values are expanded later, in lowering, with the variables in scope.

use super::words::{at_least_one, exactly_one, json_args, no_flags};
use super::{ArgDef, Command, KeyValue};
use crate::syntax::Node;

pub(super) fn env(node: &Node) -> Result<Command, String> {
    no_flags(node)?;
    Ok(Command::Env(key_values(&node.args, "ENV")?))
}

pub(super) fn label(node: &Node) -> Result<Command, String> {
    no_flags(node)?;
    Ok(Command::Label(key_values(&node.args, "LABEL")?))
}

pub(super) fn maintainer(node: &Node) -> Result<Command, String> {
    Ok(Command::Maintainer(one_argument(node, "MAINTAINER")?))
}

pub(super) fn workdir(node: &Node) -> Result<Command, String> {
    Ok(Command::Workdir(one_argument(node, "WORKDIR")?))
}

pub(super) fn user(node: &Node) -> Result<Command, String> {
    Ok(Command::User(one_argument(node, "USER")?))
}

/// The single argument of an instruction taking exactly one and no flags; the count is
/// checked first, as BuildKit does.
fn one_argument(node: &Node, command: &str) -> Result<String, String> {
    if node.args.len() != 1 {
        return Err(exactly_one(command));
    }
    no_flags(node)?;
    Ok(node.args[0].clone())
}

pub(super) fn expose(node: &Node) -> Result<Command, String> {
    if node.args.is_empty() {
        return Err(at_least_one("EXPOSE"));
    }
    no_flags(node)?;
    let mut ports = node.args.clone();
    ports.sort();
    Ok(Command::Expose(ports))
}

pub(super) fn volume(node: &Node) -> Result<Command, String> {
    if node.args.is_empty() {
        return Err(at_least_one("VOLUME"));
    }
    no_flags(node)?;
    let mut volumes = Vec::with_capacity(node.args.len());
    for v in &node.args {
        let v = v.trim();
        if v.is_empty() {
            return Err("VOLUME specified can not be an empty string".to_owned());
        }
        volumes.push(v.to_owned());
    }
    Ok(Command::Volume(volumes))
}

pub(super) fn stopsignal(node: &Node) -> Result<Command, String> {
    // BuildKit never parses STOPSIGNAL's flags, so stray flags are ignored.
    if node.args.len() != 1 {
        return Err(exactly_one("STOPSIGNAL"));
    }
    Ok(Command::StopSignal(node.args[0].clone()))
}

pub(super) fn arg(node: &Node) -> Result<Command, String> {
    // Likewise ARG: flags are silently ignored.
    if node.args.is_empty() {
        return Err(at_least_one("ARG"));
    }
    let mut defs = Vec::with_capacity(node.args.len());
    for arg in &node.args {
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
    Ok(Command::Arg(defs))
}

pub(super) fn shell(node: &Node) -> Result<Command, String> {
    no_flags(node)?;
    let line = json_args(&node.args, node.json);
    if line.is_empty() {
        return Err(at_least_one("SHELL"));
    }
    if !node.json {
        return Err("SHELL requires the arguments to be in JSON form".to_owned());
    }
    Ok(Command::Shell(line))
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
