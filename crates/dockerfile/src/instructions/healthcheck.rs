//! HEALTHCHECK: `NONE`, or `CMD` with Go-duration intervals and a retry count, checked the
//! way BuildKit checks them (its messages included).

use hearth_core::image::Healthcheck;

use super::Command;
use super::duration;
use super::flags::{FlagKind, FlagValues, flag, parse_flags};
use super::words::{at_least_one, json_args};
use crate::syntax::Node;

/// HEALTHCHECK as a command.
pub(super) fn healthcheck(node: &Node) -> Result<Command, String> {
    parse_healthcheck(node).map(Command::Healthcheck)
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
