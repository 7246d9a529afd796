//! `hearth du` and `hearth prune`, as `buildctl du` and `buildctl prune`: storage by record
//! (cached step results, synced contexts, cache mounts) and removal by the same rules the
//! daemon's collector follows, through the daemon when one answers.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use hearth_api::v1::{DiskUsageRequest, PruneRequest};
use hearth_engine::gc::{PruneReport, PruneRule, UsageRecord};

use super::build::daemon;
use super::engine::{self, GlobalArgs};
use super::images::human_size;

/// `hearth du`.
#[derive(Debug, clap::Args)]
pub(crate) struct DuArgs {
    /// Show every field of every record.
    #[arg(short, long)]
    verbose: bool,
    /// Only records matching a filter (`type==regular`, `description~=RUN`); repeatable.
    #[arg(long = "filter", value_name = "FILTER")]
    filters: Vec<String>,
}

/// `hearth prune`.
#[derive(Debug, clap::Args)]
pub(crate) struct PruneArgs {
    /// Also remove records other records build on.
    #[arg(short, long)]
    all: bool,
    /// Keep records used more recently than this (`48h`, `3600s`).
    #[arg(long, value_name = "DURATION")]
    keep_duration: Option<String>,
    /// Keep at most this much (`10GB`, `20%`): prune down to it.
    #[arg(long, value_name = "SIZE")]
    keep_storage: Option<String>,
    /// Never prune below this much.
    #[arg(long, value_name = "SIZE")]
    reserved_space: Option<String>,
    /// Same as --keep-storage, BuildKit v0.19's name.
    #[arg(long, value_name = "SIZE")]
    max_used_space: Option<String>,
    /// Prune until the disk has this much free.
    #[arg(long, value_name = "SIZE")]
    min_free_space: Option<String>,
    /// Only records matching a filter; repeatable (any may match).
    #[arg(long = "filter", value_name = "FILTER")]
    filters: Vec<String>,
    /// Say what would be removed and why the rest stays; remove nothing.
    #[arg(long)]
    dry_run: bool,
}

fn size(raw: &Option<String>, total_disk: u64, flag: &str) -> anyhow::Result<u64> {
    raw.as_deref().map_or(Ok(0), |s| {
        let space = hearth_config::DiskSpace::parse(s)
            .with_context(|| format!("invalid --{flag} {s:?}: use bytes, 10GB, 512MiB or 20%"))?;
        Ok(space.resolve(total_disk))
    })
}

impl PruneArgs {
    fn rule(&self, total_disk: u64) -> anyhow::Result<PruneRule> {
        let keep_duration = self
            .keep_duration
            .as_deref()
            .map(|d| {
                hearth_config::parse_duration(d)
                    .with_context(|| format!("invalid --keep-duration {d:?}: use 48h or seconds"))
            })
            .transpose()?;
        let max = size(&self.max_used_space, total_disk, "max-used-space")?.max(size(
            &self.keep_storage,
            total_disk,
            "keep-storage",
        )?);
        Ok(PruneRule {
            all: self.all,
            filters: self.filters.clone(),
            keep_duration,
            reserved_space: size(&self.reserved_space, total_disk, "reserved-space")?,
            max_used_space: max,
            min_free_space: size(&self.min_free_space, total_disk, "min-free-space")?,
        })
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub(crate) fn du(global: &GlobalArgs, args: &DuArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let (records, metadata) = runtime.block_on(async {
        if let Some(mut client) = daemon(global).await?.map(|d| d.client) {
            let answer = client
                .disk_usage(DiskUsageRequest {
                    filters: args.filters.clone(),
                    verbose: args.verbose,
                })
                .await
                .context("asking hearthd for its disk usage")?
                .into_inner();
            let records = answer
                .records
                .iter()
                .map(hearth_api::usage_from_wire)
                .collect();
            return Ok::<_, anyhow::Error>((records, answer.metadata_bytes));
        }
        let engine = engine::open(engine::settings(global)?).await?;
        let engine = std::sync::Arc::new(engine);
        let usage = tokio::task::spawn_blocking(move || hearth_engine::gc::usage(&engine))
            .await
            .context("measuring the store")??;
        Ok(usage)
    })?;
    let records: Vec<UsageRecord> = records
        .into_iter()
        .filter(|r| hearth_engine::gc::matches(r, &args.filters))
        .collect();
    let text = render_du(&records, metadata, args.verbose, hearth_engine::unix_now());
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn ago(now: u64, then: u64) -> String {
    let s = now.saturating_sub(then);
    match s {
        0..=119 => format!("{s} seconds ago"),
        120..=7199 => format!("{} minutes ago", s / 60),
        7200..=172_799 => format!("{} hours ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

fn render_du(records: &[UsageRecord], metadata: u64, verbose: bool, now: u64) -> String {
    let mut out = String::new();
    let mut sorted: Vec<&UsageRecord> = records.iter().collect();
    sorted.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
    if verbose {
        for r in &sorted {
            let _ = writeln!(out, "ID:           {}", r.id);
            let _ = writeln!(out, "Type:         {}", r.kind);
            let _ = writeln!(out, "Description:  {}", r.description);
            let _ = writeln!(out, "Size:         {}", human_size(r.size));
            let _ = writeln!(out, "Created:      {}", ago(now, r.created));
            let _ = writeln!(out, "Last used:    {}", ago(now, r.last_used));
            let _ = writeln!(out, "In use:       {}", r.in_use);
            let _ = writeln!(out, "Shared:       {}", r.shared);
            let _ = writeln!(out, "Reclaimable:  {}\n", !r.in_use);
        }
    } else {
        let _ = writeln!(
            out,
            "{:<72} {:<12} {:>10}  LAST ACCESSED",
            "ID", "RECLAIMABLE", "SIZE"
        );
        for r in &sorted {
            let _ = writeln!(
                out,
                "{:<72} {:<12} {:>10}  {}",
                r.id,
                !r.in_use,
                human_size(r.size),
                ago(now, r.last_used)
            );
        }
    }
    let sum = |f: &dyn Fn(&&UsageRecord) -> bool| -> u64 {
        sorted.iter().filter(|r| f(r)).map(|r| r.size).sum()
    };
    let shared = sum(&|r| r.shared);
    let private = sum(&|r| !r.shared);
    let reclaimable = sum(&|r| !r.in_use);
    let total = sum(&|_| true);
    let _ = writeln!(out, "Shared:        {}", human_size(shared));
    let _ = writeln!(out, "Private:       {}", human_size(private));
    let _ = writeln!(out, "Reclaimable:   {}", human_size(reclaimable));
    let _ = writeln!(out, "Metadata DB:   {}", human_size(metadata));
    let _ = writeln!(out, "Total:         {}", human_size(total + metadata));
    out
}

pub(crate) fn prune(global: &GlobalArgs, args: &PruneArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let report: PruneReport = runtime.block_on(async {
        if let Some(mut client) = daemon(global).await?.map(|d| d.client) {
            // Percentages resolve against this machine's disk under the default root: the
            // daemon's, for a unix socket.
            let rule = args.rule(hearth_engine::gc::disk_size(std::path::Path::new(
                hearth_engine::DEFAULT_ROOT,
            )))?;
            let request = PruneRequest {
                all: rule.all,
                keep_duration_seconds: rule.keep_duration.map_or(0, |d| d.as_secs()),
                reserved_space: rule.reserved_space,
                filters: rule.filters.clone(),
                dry_run: args.dry_run,
                max_used_space: rule.max_used_space,
                min_free_space: rule.min_free_space,
            };
            let answer = client
                .prune(request)
                .await
                .context("asking hearthd to prune")?
                .into_inner();
            return Ok::<_, anyhow::Error>(hearth_api::prune_from_wire(&answer));
        }
        let settings = engine::settings(global)?;
        let rule = args.rule(hearth_engine::gc::disk_size(&settings.options.root))?;
        let engine = std::sync::Arc::new(engine::open(settings).await?);
        let dry_run = args.dry_run;
        let report = tokio::task::spawn_blocking(move || {
            hearth_engine::gc::prune(&engine, &[rule], dry_run)
        })
        .await
        .context("pruning")??;
        Ok(report)
    })?;
    let text = render_prune(&report, args.dry_run);
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn render_prune(report: &PruneReport, dry_run: bool) -> String {
    let mut out = String::new();
    let verb = if dry_run { "would remove" } else { "removed" };
    for r in &report.removed {
        let _ = writeln!(
            out,
            "{verb} {} ({}, {})",
            r.id,
            human_size(r.size),
            r.description
        );
    }
    if dry_run {
        for (r, why) in &report.kept {
            let _ = writeln!(out, "keep {} ({}): {why}", r.id, human_size(r.size));
        }
    }
    let _ = writeln!(
        out,
        "Total: {} {} ({} records); records hold {} of {} before",
        if dry_run { "would free" } else { "freed" },
        human_size(report.freed),
        report.removed.len(),
        human_size(report.after),
        human_size(report.before)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, size: u64, shared: bool, in_use: bool) -> UsageRecord {
        UsageRecord {
            id: id.into(),
            kind: "regular".into(),
            size,
            created: 100,
            last_used: 100,
            description: "exec: RUN x".into(),
            in_use,
            shared,
        }
    }

    #[test]
    fn du_sums_shared_private_reclaimable_and_the_database() {
        let text = render_du(
            &[
                record("a", 3000, true, false),
                record("b", 1000, false, true),
            ],
            500,
            false,
            160,
        );
        assert!(
            text.contains("1 minutes ago") || text.contains("60 seconds ago"),
            "{text}"
        );
        assert!(
            text.contains(&format!("Shared:        {}", human_size(3000))),
            "{text}"
        );
        assert!(
            text.contains(&format!("Private:       {}", human_size(1000))),
            "{text}"
        );
        assert!(
            text.contains(&format!("Reclaimable:   {}", human_size(3000))),
            "{text}"
        );
        assert!(
            text.contains(&format!("Total:         {}", human_size(4500))),
            "{text}"
        );
    }

    #[test]
    fn prune_flags_become_a_rule() {
        let args = PruneArgs {
            all: true,
            keep_duration: Some("48h".into()),
            keep_storage: Some("1000".into()),
            reserved_space: Some("10%".into()),
            max_used_space: None,
            min_free_space: None,
            filters: vec!["type==regular".into()],
            dry_run: false,
        };
        let rule = args.rule(10_000).unwrap();
        assert!(rule.all);
        assert_eq!(
            rule.keep_duration,
            Some(std::time::Duration::from_secs(48 * 3600))
        );
        assert_eq!(rule.max_used_space, 1000, "plain numbers are bytes");
        // Percentages follow BuildKit's arithmetic (whole GiB, rounded up, as GB).
        assert_eq!(
            rule.reserved_space,
            hearth_config::DiskSpace::Percentage(10).resolve(10_000)
        );
        let bad = PruneArgs {
            keep_duration: Some("two days".into()),
            ..args
        };
        assert!(format!("{:#}", bad.rule(0).unwrap_err()).contains("--keep-duration"));
    }
}
