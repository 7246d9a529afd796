//! `hearth imagetools inspect REF`, after `docker buildx imagetools inspect`: what a
//! registry stores under a reference — the manifest or index and every entry's platform,
//! and for a single image its size and layers — read directly from the registry, nothing
//! pulled into the store.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use hearth_registry::{Descriptor, Inspected, InspectedImage, Inspection};

use super::super::engine::{self, GlobalArgs};
use super::super::images::human_size;
use super::table::Block;

/// `hearth imagetools inspect [--raw] REF`.
#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// The image reference (`registry/repo:tag` or `…@sha256:…`).
    reference: String,
    /// Print the manifest or index exactly as stored (no newline added, so the bytes
    /// hash to the digest).
    #[arg(long)]
    raw: bool,
}

pub(crate) fn inspect(global: &GlobalArgs, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let (runtime, client, credentials) = super::registry_client(global)?;
    let inspection = runtime.block_on(client.inspect(&args.reference));
    engine::report_credential_warnings(&credentials);
    let inspection = inspection.with_context(|| format!("inspecting {}", args.reference))?;
    let mut stdout = std::io::stdout().lock();
    if args.raw {
        stdout.write_all(&inspection.raw)?;
    } else {
        stdout.write_all(render(&inspection).as_bytes())?;
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The human-readable report: buildx's lines (and alignment) for the reference and, for an
/// index, each entry; for a single image hearth adds its platform, size and layers.
fn render(inspection: &Inspection) -> String {
    let mut out = String::new();
    let mut top = Block::default();
    top.row("Name:", &inspection.name);
    top.row("MediaType:", &inspection.media_type);
    top.row("Digest:", inspection.digest.to_string());
    top.flush_into(&mut out);
    match &inspection.content {
        Inspected::Image(image) => {
            render_image_summary(&mut out, image, "");
            render_layers(&mut out, image);
        }
        Inspected::Index(entries) => {
            let base = inspection
                .name
                .split_once('@')
                .map_or(inspection.name.as_str(), |(n, _)| n);
            render_entries(&mut out, base, entries.iter().map(|(entry, _)| entry));
        }
    }
    out
}

/// buildx's `Manifests:` list: each entry's reference by digest, media type and
/// platform details. As in buildx, annotations are listed only for entries with a
/// platform, and each annotation list ends an alignment block.
fn render_entries<'a>(out: &mut String, base: &str, entries: impl Iterator<Item = &'a Descriptor>) {
    let mut header = Block::default();
    header.row("", "");
    header.row("Manifests:", "");
    header.flush_into(out);
    let mut block = Block::default();
    for (i, entry) in entries.enumerate() {
        if i > 0 {
            block.row("", "");
        }
        block.row("  Name:", format!("{base}@{}", entry.digest));
        block.row("  MediaType:", &entry.media_type);
        let Some(platform) = &entry.platform else {
            continue;
        };
        block.row("  Platform:", platform.format());
        if !platform.os_version.is_empty() {
            block.row("  OSVersion:", &platform.os_version);
        }
        if !platform.os_features.is_empty() {
            block.row("  OSFeatures:", platform.os_features.join(", "));
        }
        if !entry.urls.is_empty() {
            block.row("  URLs:", entry.urls.join(", "));
        }
        if !entry.annotations.is_empty() {
            block.row("  Annotations:", "");
            block.flush_into(out);
            let mut annotations = Block::default();
            for (key, value) in &entry.annotations {
                annotations.row(format!("    {key}:"), value);
            }
            annotations.flush_into(out);
        }
    }
    block.flush_into(out);
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
    fn an_index_lists_each_platform_by_digest_as_buildx_prints_it() {
        let (a, b) = (image("amd64"), image("arm64"));
        let mut da = descriptor(&a.media_type, b"amd64", 400);
        da.platform = a.platform.clone();
        da.annotations = [("a.b", "1"), ("longer.key", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut db = descriptor(&b.media_type, b"arm64", 400);
        db.platform = b.platform.clone();
        let dc = descriptor("application/vnd.oci.image.manifest.v1+json", b"none", 10);
        let index = Digest::of(b"index");
        let text = render(&Inspection {
            name: "127.0.0.1:5000/app:1".into(),
            digest: index,
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            raw: Vec::new(),
            content: Inspected::Index(vec![
                (da.clone(), Some(a)),
                (db.clone(), Some(b)),
                (dc.clone(), None),
            ]),
        });
        // Go's tabwriter: each flushed block is aligned on its widest label plus one,
        // empty rows included; buildx flushes before and after each annotation list.
        let name = "127.0.0.1:5000/app:1";
        let oci = "application/vnd.oci.image.manifest.v1+json";
        let want = format!(
            "Name:      {name}\n\
             MediaType: application/vnd.oci.image.index.v1+json\n\
             Digest:    {index}\n\
             {blank11}\n\
             Manifests: \n\
             \x20 Name:        {name}@{}\n\
             \x20 MediaType:   {oci}\n\
             \x20 Platform:    linux/amd64\n\
             \x20 Annotations: \n\
             \x20   a.b:        1\n\
             \x20   longer.key: 2\n\
             {blank13}\n\
             \x20 Name:      {name}@{}\n\
             \x20 MediaType: {oci}\n\
             \x20 Platform:  linux/arm64\n\
             {blank13}\n\
             \x20 Name:      {name}@{}\n\
             \x20 MediaType: {oci}\n",
            da.digest,
            db.digest,
            dc.digest,
            blank11 = " ".repeat(11),
            blank13 = " ".repeat(13),
        );
        assert_eq!(text, want);
    }
}
