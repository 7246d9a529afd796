//! `hearth imagetools inspect REF`, after `docker buildx imagetools inspect`: what a
//! registry stores under a reference — the manifest or index, each image's platform and
//! its size — read directly from the registry, nothing pulled into the store.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use hearth_registry::{Client, Inspected, InspectedImage, Inspection};

use super::engine::{self, GlobalArgs};
use super::images::human_size;

/// `hearth imagetools inspect [--raw] REF`.
#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// The image reference (`registry/repo:tag` or `…@sha256:…`).
    reference: String,
    /// Print the manifest or index exactly as stored.
    #[arg(long)]
    raw: bool,
}

pub(crate) fn inspect(global: &GlobalArgs, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let config = engine::load_config(global)?;
    let registry = engine::registry_config(&config)?;
    let credentials = engine::credentials();
    let client = Client::new(registry, credentials.clone())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let inspection = runtime.block_on(client.inspect(&args.reference));
    engine::report_credential_warnings(&credentials);
    let inspection = inspection.with_context(|| format!("inspecting {}", args.reference))?;
    let mut stdout = std::io::stdout().lock();
    if args.raw {
        stdout.write_all(&inspection.raw)?;
        if !inspection.raw.ends_with(b"\n") {
            writeln!(stdout)?;
        }
    } else {
        stdout.write_all(render(&inspection).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable report, aligned like buildx's.
fn render(inspection: &Inspection) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Name:      {}", inspection.name);
    let _ = writeln!(out, "MediaType: {}", inspection.media_type);
    let _ = writeln!(out, "Digest:    {}", inspection.digest);
    match &inspection.content {
        Inspected::Image(image) => {
            render_image_summary(&mut out, image, "");
            render_layers(&mut out, image);
        }
        Inspected::Index(entries) => {
            let _ = writeln!(out, "\nManifests:");
            for (i, (entry, image)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let base = inspection
                    .name
                    .split_once('@')
                    .map_or(inspection.name.as_str(), |(n, _)| n);
                let _ = writeln!(out, "  Name:      {base}@{}", entry.digest);
                let _ = writeln!(out, "  MediaType: {}", entry.media_type);
                match image {
                    Some(image) => render_image_summary(&mut out, image, "  "),
                    None => {
                        if let Some(p) = &entry.platform {
                            let _ = writeln!(out, "  Platform:  {p}");
                        }
                    }
                }
            }
        }
    }
    out
}

fn render_image_summary(out: &mut String, image: &InspectedImage, indent: &str) {
    let platform = image
        .platform
        .as_ref()
        .map_or_else(|| "unknown".to_owned(), |p| p.to_string());
    let _ = writeln!(out, "{indent}Platform:  {platform}");
    let _ = writeln!(
        out,
        "{indent}Size:      {} ({} layers, config {})",
        human_size(image.size()),
        image.layers.len(),
        human_size(image.config.size)
    );
}

fn render_layers(out: &mut String, image: &InspectedImage) {
    let _ = writeln!(
        out,
        "\nConfig:\n  {}  {}",
        image.config.digest, image.config.media_type
    );
    let _ = writeln!(out, "\nLayers:");
    for layer in &image.layers {
        let _ = writeln!(
            out,
            "  {}  {:>9}  {}",
            layer.digest,
            human_size(layer.size),
            layer.media_type
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_core::{Digest, Platform};
    use hearth_registry::Descriptor;

    fn descriptor(media_type: &str, bytes: &[u8], size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: Digest::of(bytes),
            size,
            platform: None,
            annotations: Default::default(),
            urls: Vec::new(),
        }
    }

    fn image(arch: &str) -> InspectedImage {
        InspectedImage {
            digest: Digest::of(arch.as_bytes()),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platform: Some(Platform::new("linux", arch, "")),
            config: descriptor("application/vnd.oci.image.config.v1+json", b"c", 1500),
            layers: vec![
                descriptor(
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                    b"l1",
                    2_000_000,
                ),
                descriptor("application/vnd.oci.image.layer.v1.tar+gzip", b"l2", 500),
            ],
        }
    }

    #[test]
    fn an_image_shows_platform_size_and_layers() {
        let img = image("amd64");
        let text = render(&Inspection {
            name: "127.0.0.1:5000/app:1".into(),
            digest: img.digest,
            media_type: img.media_type.clone(),
            raw: Vec::new(),
            content: Inspected::Image(Box::new(img.clone())),
        });
        assert!(
            text.starts_with("Name:      127.0.0.1:5000/app:1\n"),
            "{text}"
        );
        assert!(text.contains("Platform:  linux/amd64\n"), "{text}");
        assert!(
            text.contains(&format!(
                "Size:      {} (2 layers, config {})",
                human_size(2_002_000),
                human_size(1500)
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("  {}", img.layers[0].digest)),
            "{text}"
        );
    }

    #[test]
    fn an_index_lists_each_platform_by_digest() {
        let (a, b) = (image("amd64"), image("arm64"));
        let mut da = descriptor(&a.media_type, b"amd64", 400);
        da.platform = a.platform.clone();
        let mut db = descriptor(&b.media_type, b"arm64", 400);
        db.platform = b.platform.clone();
        let text = render(&Inspection {
            name: "127.0.0.1:5000/app:1".into(),
            digest: Digest::of(b"index"),
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            raw: Vec::new(),
            content: Inspected::Index(vec![(da.clone(), Some(a)), (db, Some(b))]),
        });
        assert!(text.contains("\nManifests:\n"), "{text}");
        assert!(
            text.contains(&format!(
                "  Name:      127.0.0.1:5000/app:1@{}\n",
                da.digest
            )),
            "{text}"
        );
        assert!(text.contains("  Platform:  linux/amd64\n"), "{text}");
        assert!(text.contains("  Platform:  linux/arm64\n"), "{text}");
    }
}
