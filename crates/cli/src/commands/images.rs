//! `hearth images` and `hearth rmi`: the named images in hearth's store.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use hearth_engine::{ImageRecord, unix_now};

use super::engine::{self, GlobalArgs};

/// Flags of `hearth images`.
#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Only show image IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Show full image IDs.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
}

/// Flags of `hearth rmi`.
#[derive(Debug, clap::Args)]
pub(crate) struct RemoveArgs {
    /// Images to remove, by name (`app:1.0`).
    #[arg(required = true)]
    names: Vec<String>,
}

pub(crate) fn open_store(
    global: &GlobalArgs,
) -> anyhow::Result<(tokio::runtime::Runtime, hearth_engine::Engine)> {
    let settings = engine::settings(global)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let engine = runtime.block_on(engine::open(settings))?;
    Ok((runtime, engine))
}

/// `docker.io/library/app:1.0` → (`app`, `1.0`), as docker shows names.
fn familiar(name: &str) -> (String, String) {
    let (repo, tag) = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (name, "<none>"),
    };
    let repo = repo
        .strip_prefix("docker.io/library/")
        .or_else(|| repo.strip_prefix("docker.io/"))
        .unwrap_or(repo);
    (repo.to_owned(), tag.to_owned())
}

/// docker's `units.HumanSize`: decimal units, four significant digits (Go's `%.4g`).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let integer_digits = if value < 10.0 {
        1
    } else if value < 100.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.*}", 4 - integer_digits);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{}", UNITS[unit])
}

fn ago(created: u64) -> String {
    let secs = unix_now().saturating_sub(created);
    match secs {
        0..=59 => format!("{secs} seconds ago"),
        60..=3599 => format!("{} minutes ago", secs / 60),
        3600..=86_399 => format!("{} hours ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

pub(crate) fn list(global: &GlobalArgs, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let (_runtime, engine) = open_store(global)?;
    let mut images: Vec<ImageRecord> = engine.images()?;
    images.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
    let mut out = String::new();
    // The id of an image of several platforms is its index's digest, as docker's
    // containerd image store shows it.
    let id = |r: &ImageRecord| {
        let digest = if r.platforms.is_empty() {
            r.config
        } else {
            r.manifest
        };
        if args.no_trunc {
            digest.to_string()
        } else {
            digest.hex().chars().take(12).collect()
        }
    };
    if args.quiet {
        for r in &images {
            out.push_str(&id(r));
            out.push('\n');
        }
    } else {
        let short = |d: &hearth_core::Digest| {
            if args.no_trunc {
                d.to_string()
            } else {
                d.hex().chars().take(12).collect()
            }
        };
        // An image of several platforms lists each platform's image under it.
        let rows: Vec<[String; 5]> = images
            .iter()
            .flat_map(|r| {
                let (repo, tag) = familiar(&r.name);
                std::iter::once([repo, tag, id(r), ago(r.created), human_size(r.size)]).chain(
                    r.platforms.iter().map(|p| {
                        [
                            format!("  \u{2514} {}", p.platform),
                            String::new(),
                            short(&p.config),
                            ago(r.created),
                            human_size(p.size),
                        ]
                    }),
                )
            })
            .collect();
        let header = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut line = |cells: [&str; 5]| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    text.push_str(cell);
                } else {
                    text.push_str(&format!("{cell:<width$}   ", width = widths[i]));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(header);
        for row in &rows {
            line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
        }
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn remove(global: &GlobalArgs, args: &RemoveArgs) -> anyhow::Result<ExitCode> {
    let (_runtime, engine) = open_store(global)?;
    let normalized = args
        .names
        .iter()
        .map(|name| super::build::normalize_name(name))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let found = engine.untag(&normalized)?;
    let mut missing = Vec::new();
    let mut removed = Vec::new();
    for (name, existed) in args.names.iter().zip(found) {
        if existed {
            removed.push(name.clone());
        } else {
            missing.push(name.clone());
        }
    }
    let mut stdout = std::io::stdout().lock();
    for name in &removed {
        writeln!(stdout, "Untagged: {name}")?;
    }
    if missing.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        let mut stderr = std::io::stderr().lock();
        for name in &missing {
            writeln!(stderr, "error: no such image: {name}")?;
        }
        Ok(ExitCode::from(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes_as_docker_shows_them() {
        assert_eq!(
            familiar("docker.io/library/app:1.0"),
            ("app".into(), "1.0".into())
        );
        assert_eq!(
            familiar("docker.io/team/app:latest"),
            ("team/app".into(), "latest".into())
        );
        assert_eq!(
            familiar("127.0.0.1:5000/app:v2"),
            ("127.0.0.1:5000/app".into(), "v2".into())
        );
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(1_070_000), "1.07MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
        assert_eq!(human_size(5_000_000_000), "5GB");
    }
}
