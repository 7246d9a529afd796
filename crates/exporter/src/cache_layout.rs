//! The parts of a cache layout directory (`--cache-to type=local`) both sides write: the
//! engine when the directory is its own, a daemon's client when the daemon streams the new
//! files to it.

use std::fs;
use std::io;
use std::path::Path;

use crate::MediaTypes;

/// The annotation naming a manifest's tag in an OCI layout's `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// Name, inside the tarball streamed to a daemon's client, of the `index.json` entry the
/// client merges into its directory's index once every blob is in place.
pub const CLIENT_ENTRY_NAME: &str = "hearth-cache-entry.json";

/// Puts `entry` into `dir/index.json` in place of any manifest tagged `tag`, keeping the
/// other tags; the file is replaced atomically.
pub fn merge_index(dir: &Path, entry: &serde_json::Value, tag: &str) -> io::Result<()> {
    let index_path = dir.join("index.json");
    let mut manifests: Vec<serde_json::Value> = fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["manifests"].as_array().cloned())
        .unwrap_or_default();
    manifests.retain(|m| m["annotations"][REF_NAME_ANNOTATION].as_str() != Some(tag));
    manifests.push(entry.clone());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MediaTypes::Oci.index(),
        "manifests": manifests,
    });
    let tmp = index_path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, serde_json::to_vec(&index).unwrap_or_default())?;
    fs::rename(&tmp, &index_path)
}
