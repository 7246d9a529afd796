//! `hearth debug verify`: checks every blob against its digest and every record against
//! what it names, in the state directory (waiting while a daemon or build holds it).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;

use super::engine::GlobalArgs;
use super::images::open_store;

pub(crate) fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let (runtime, engine) = open_store(global)?;
    let engine = std::sync::Arc::new(engine);
    let report = runtime
        .block_on(async move { tokio::task::spawn_blocking(move || engine.verify()).await })
        .context("verifying the store")??;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "checked {} blobs, {} layers, {} records",
        report.blobs_checked, report.layers_checked, report.records_checked
    );
    if report.problems.is_empty() {
        let _ = writeln!(out, "ok");
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &report.problems {
        let _ = writeln!(out, "problem: {problem}");
    }
    Ok(ExitCode::from(1))
}
