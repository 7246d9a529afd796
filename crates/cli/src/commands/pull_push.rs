//! `hearth pull` and `hearth push`: docker's commands for moving an image between
//! hearth's store and a registry without building.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use hearth_core::Platform;

use super::build::normalize_name;
use super::engine::{self, GlobalArgs};
use super::images::{human_size, open_store};

/// `hearth pull [--platform P] REF`.
#[derive(Debug, clap::Args)]
pub(crate) struct PullArgs {
    /// The image (`registry/repo:tag` or `…@sha256:…`).
    reference: String,
    /// The platform to pull from a multi-platform image (default: this machine's).
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
}

/// `hearth push NAME`.
#[derive(Debug, clap::Args)]
pub(crate) struct PushArgs {
    /// A name of an image in hearth's store (`hearth images`), including its registry.
    name: String,
}

fn progress() -> Arc<dyn Fn(String) + Send + Sync> {
    Arc::new(|line: String| {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    })
}

pub(crate) fn pull(global: &GlobalArgs, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)
            .with_context(|| format!("invalid --platform {p:?}"))?
            .normalized(),
        None => Platform::host(),
    };
    let credentials = engine::credentials();
    let (runtime, engine) = open_store(global)?;
    let _ = writeln!(
        std::io::stderr().lock(),
        "Pulling {} ({})",
        args.reference,
        platform.format()
    );
    let report = runtime.block_on(engine.pull(&args.reference, &platform, &*progress()));
    engine::report_credential_warnings(&credentials);
    let report = report.with_context(|| format!("pulling {}", args.reference))?;
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "Digest: {}", report.manifest_digest);
    let _ = writeln!(
        stderr,
        "Status: {} ({} layers downloaded, {} present, {})",
        if report.downloaded > 0 {
            format!("Downloaded newer image for {}", report.reference)
        } else {
            format!("Image is up to date for {}", report.reference)
        },
        report.downloaded,
        report.present,
        human_size(report.size)
    );
    drop(stderr);
    let _ = writeln!(std::io::stdout().lock(), "{}", report.reference);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn push(global: &GlobalArgs, args: &PushArgs) -> anyhow::Result<ExitCode> {
    let name = normalize_name(&args.name)?;
    let credentials = engine::credentials();
    let (runtime, engine) = open_store(global)?;
    let reports = runtime.block_on(engine.push(&name, &*progress()));
    engine::report_credential_warnings(&credentials);
    let reports = reports.with_context(|| format!("pushing {name}"))?;
    let mut stdout = std::io::stdout().lock();
    for report in reports {
        let _ = writeln!(
            stdout,
            "{}: digest: {} ({} uploaded, {} mounted, {} already present)",
            report.reference,
            report.digest,
            report.uploaded(),
            report.mounted(),
            report.existed()
        );
    }
    Ok(ExitCode::SUCCESS)
}
