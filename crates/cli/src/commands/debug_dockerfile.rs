//! `hearth debug dockerfile`: shows what hearth understood from a Dockerfile.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use hearth_core::Platform;
use hearth_dockerfile::{BuildOptions, OfflineResolver};

/// Flags of `hearth debug dockerfile`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Path of the Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Stage to show the graph for (default: the last stage).
    #[arg(long)]
    target: Option<String>,
    /// Build argument, `KEY=VALUE` (or `KEY` to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<String>,
    /// Target platform, e.g. linux/arm64.
    #[arg(long)]
    platform: Option<String>,
    /// Build context directory, for `.dockerignore`.
    #[arg(default_value = ".")]
    context: PathBuf,
}

/// Parses `--build-arg` values as docker does: `KEY=VALUE`, or `KEY` alone to copy
/// the variable from the environment (skipped when unset).
pub(crate) fn parse_build_args(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in raw {
        match item.split_once('=') {
            Some(("", _)) => bail!("invalid --build-arg {item:?}: the name is empty"),
            Some((key, value)) => {
                out.insert(key.to_owned(), value.to_owned());
            }
            None => {
                if let Ok(value) = std::env::var(item) {
                    out.insert(item.clone(), value);
                }
            }
        }
    }
    Ok(out)
}

fn dockerfile_path(args: &Args) -> PathBuf {
    match &args.file {
        Some(f) if f.as_os_str() == "-" => f.clone(),
        Some(f) => f.clone(),
        None => args.context.join("Dockerfile"),
    }
}

fn read_dockerignore(context: &Path, dockerfile: &Path) -> anyhow::Result<Vec<String>> {
    if dockerfile.as_os_str() == "-" {
        let resolved =
            hearth_dockerignore::fs::read_ignore_for_build(context, &context.join("Dockerfile"))
                .with_context(|| format!("reading .dockerignore in {}", context.display()))?;
        return Ok(resolved.patterns);
    }
    let resolved = hearth_dockerignore::fs::read_ignore_for_build(context, dockerfile)
        .with_context(|| format!("reading .dockerignore in {}", context.display()))?;
    Ok(resolved.patterns)
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let path = dockerfile_path(args);
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the Dockerfile from stdin")?
    } else {
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
    };
    let display_name = match path.file_name() {
        Some(name) if name != "-" => name.to_string_lossy().into_owned(),
        _ => "Dockerfile".to_owned(),
    };
    let mut options = BuildOptions::for_host();
    options.target = args.target.clone();
    options.build_args = parse_build_args(&args.build_args)?;
    if let Some(p) = &args.platform {
        options.target_platform =
            Some(Platform::parse(p).with_context(|| format!("invalid --platform {p:?}"))?);
    }
    options.dockerignore = read_dockerignore(&args.context, &path)?;

    let mut out = String::new();
    let plan = match hearth_dockerfile::plan(&text, &options, &OfflineResolver) {
        Ok(plan) => plan,
        Err(diagnostics) => {
            let mut stderr = std::io::stderr().lock();
            writeln!(stderr, "{}", diagnostics.render(&display_name, &text))?;
            let count = diagnostics.errors().count();
            let source = if path.as_os_str() == "-" {
                "stdin".to_owned()
            } else {
                path.display().to_string()
            };
            writeln!(
                stderr,
                "\n{count} error{} in {source}",
                if count == 1 { "" } else { "s" }
            )?;
            return Ok(ExitCode::from(1));
        }
    };
    for warning in &plan.warnings {
        writeln!(out, "{}\n", warning.render(&display_name, &text))?;
    }
    writeln!(out, "Stages:")?;
    for stage in &plan.stages {
        let state = if stage.reachable {
            ""
        } else {
            "  (not needed for this target)"
        };
        let platform = stage
            .platform
            .as_ref()
            .map(|p| format!(" [{p}]"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {} {}  FROM {}{platform}{state}",
            stage.index, stage.name, stage.base
        )?;
        for step in &stage.steps {
            writeln!(out, "      {step}")?;
        }
    }
    if !plan.secrets.is_empty() || !plan.ssh.is_empty() {
        writeln!(out, "\nSession requests:")?;
        for s in &plan.secrets {
            writeln!(
                out,
                "  secret {} ({})",
                s.id,
                if s.required { "required" } else { "optional" }
            )?;
        }
        for s in &plan.ssh {
            writeln!(
                out,
                "  ssh {} ({})",
                s.id,
                if s.required { "required" } else { "optional" }
            )?;
        }
    }
    writeln!(out, "\nImage config (base images not resolved: offline):")?;
    writeln!(out, "{}", serde_json::to_string_pretty(&plan.image)?)?;
    writeln!(out, "\nBuild graph ({} nodes):", plan.definition.len())?;
    out.push_str(&plan.definition.dump());
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_follow_docker() {
        let raw = vec![
            "A=1".to_owned(),
            "B=".to_owned(),
            "C=x=y".to_owned(),
            "HEARTH_TEST_SURELY_UNSET".to_owned(),
        ];
        let got = parse_build_args(&raw).unwrap();
        assert_eq!(got.get("A").map(String::as_str), Some("1"));
        assert_eq!(got.get("B").map(String::as_str), Some(""));
        assert_eq!(got.get("C").map(String::as_str), Some("x=y"));
        assert!(!got.contains_key("HEARTH_TEST_SURELY_UNSET"));
        assert!(parse_build_args(&["=x".to_owned()]).is_err());
    }
}
