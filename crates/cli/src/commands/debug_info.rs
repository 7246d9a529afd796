//! `hearth debug info`: which engine `hearth build` would use — a daemon (and which) or
//! the in-process one — and how it is set up.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use hearth_api::v1::{InfoRequest, InfoResponse};

use super::build::daemon;
use super::engine::{self, GlobalArgs};
use super::images::human_size;

pub(crate) fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let text = runtime.block_on(async {
        match daemon(global).await? {
            Some(daemon) => {
                let info = daemon
                    .client
                    .clone()
                    .info(InfoRequest { storage: true })
                    .await
                    .context("asking hearthd for its info")?
                    .into_inner();
                let addr = global
                    .addr
                    .clone()
                    .unwrap_or_else(|| format!("unix://{}", engine::DEFAULT_SOCKET));
                let platforms = info.platforms.clone();
                Ok::<_, anyhow::Error>(render(&format!("daemon at {addr}"), &info, &platforms))
            }
            None => {
                let settings = engine::settings(global)?;
                let config_file = global
                    .config
                    .clone()
                    .unwrap_or_else(hearth_config::Config::default_path);
                let config = std::fs::read_to_string(&config_file).unwrap_or_default();
                let runtime_path = settings.options.runtime.display().to_string();
                let max_parallelism = settings.options.max_parallelism;
                let engine = std::sync::Arc::new(engine::open(settings).await?);
                let measured = std::sync::Arc::clone(&engine);
                let storage_bytes = tokio::task::spawn_blocking(move || measured.disk_usage())
                    .await
                    .context("measuring the store")??;
                let snapshotter = engine.host().snapshotter().name();
                let platforms = engine.host().platforms().lines();
                let info = InfoResponse {
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    api_version: hearth_api::API_VERSION,
                    root: engine.root().display().to_string(),
                    runtime: runtime_path.clone(),
                    snapshotter: snapshotter.to_owned(),
                    max_parallelism: u32::try_from(max_parallelism).unwrap_or(u32::MAX),
                    config_file: if config.is_empty() {
                        String::new()
                    } else {
                        config_file.display().to_string()
                    },
                    config,
                    storage_bytes,
                    overlay_works: snapshotter == "overlayfs",
                    runtime_works: hearth_engine::program_found(&runtime_path),
                    builds_running: 0,
                    containers_started: 0,
                    features: Vec::new(),
                    platforms: Vec::new(),
                };
                Ok(render(
                    "embedded (no daemon answered; the engine runs in this process)",
                    &info,
                    &platforms,
                ))
            }
        }
    })?;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `platforms`: what the engine's host builds, one way of running per line.
fn render(mode: &str, info: &InfoResponse, platforms: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Engine:           {mode}");
    let _ = writeln!(
        out,
        "Version:          {} (API v{})",
        info.version, info.api_version
    );
    let _ = writeln!(out, "Root:             {}", info.root);
    let _ = writeln!(out, "Storage used:     {}", human_size(info.storage_bytes));
    let _ = writeln!(out, "Worker:           oci");
    let _ = writeln!(
        out,
        "Runtime:          {} (found: {})",
        info.runtime,
        yes_no(info.runtime_works)
    );
    let _ = writeln!(
        out,
        "Snapshotter:      {} (overlayfs works here: {})",
        info.snapshotter,
        yes_no(info.overlay_works)
    );
    for (i, line) in platforms.iter().enumerate() {
        let label = if i == 0 { "Platforms:" } else { "" };
        let _ = writeln!(out, "{label:<18}{line}");
    }
    let _ = writeln!(out, "Max parallelism:  {}", info.max_parallelism);
    let _ = writeln!(out, "Builds running:   {}", info.builds_running);
    let _ = writeln!(out, "Containers run:   {}", info.containers_started);
    if info.config_file.is_empty() {
        let _ = writeln!(out, "Config file:      none (defaults)");
    } else {
        let _ = writeln!(out, "Config file:      {}", info.config_file);
        for line in info.config.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_listed_one_way_of_running_per_line() {
        let lines = [
            "linux/amd64, linux/386 (native)".to_owned(),
            "linux/arm64 (emulated: /usr/bin/qemu-aarch64-static)".to_owned(),
        ];
        let text = render("embedded", &InfoResponse::default(), &lines);
        assert!(
            text.contains(
                "Platforms:        linux/amd64, linux/386 (native)\n                  linux/arm64 (emulated: /usr/bin/qemu-aarch64-static)\n"
            ),
            "{text}"
        );
        assert!(!render("daemon", &InfoResponse::default(), &[]).contains("Platforms"));
    }
}
