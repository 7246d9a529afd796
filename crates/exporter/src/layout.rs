//! Image layouts on disk: OCI image layouts (as a directory or a tarball) and the
//! `docker load` archive (an OCI layout plus docker's `manifest.json`, as BuildKit's
//! docker exporter writes it).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use hearth_core::Digest;
use hearth_store::Store;
use serde::Serialize;

use crate::{ExportError, Image, ImageIndex, Top};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexDoc<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<IndexEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry<'a> {
    media_type: &'a str,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// `docker.io/library/app:1` → `app:1`, `docker.io/me/app:1` → `me/app:1`, as docker
/// shows names.
pub(crate) fn familiar(name: &str) -> String {
    let rest = name.strip_prefix("docker.io/").unwrap_or(name);
    rest.strip_prefix("library/").unwrap_or(rest).to_owned()
}

fn tag_of(name: &str) -> String {
    let without_digest = name.split('@').next().unwrap_or(name);
    match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') && !repo.is_empty() => tag.to_owned(),
        _ => "latest".to_owned(),
    }
}

fn index_json(top: Top<'_>, names: &[String]) -> Result<Vec<u8>, ExportError> {
    let entry = |annotations| IndexEntry {
        media_type: top.media_type,
        digest: top.digest.to_string(),
        size: top.bytes.len() as u64,
        annotations,
    };
    let entries = if names.is_empty() {
        vec![entry(BTreeMap::new())]
    } else {
        names
            .iter()
            .map(|name| {
                entry(BTreeMap::from([
                    ("io.containerd.image.name", name.clone()),
                    ("org.opencontainers.image.ref.name", tag_of(name)),
                ]))
            })
            .collect()
    };
    serde_json::to_vec(&IndexDoc {
        schema_version: 2,
        media_type: "application/vnd.oci.image.index.v1+json",
        manifests: entries,
    })
    .map_err(|source| ExportError::Json {
        what: "index",
        source,
    })
}

fn top_of(images: &ImageIndex) -> Result<Top<'_>, ExportError> {
    images
        .top()
        .ok_or_else(|| ExportError::Internal("an image output without an image".into()))
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes an OCI image layout directory (`type=oci,tar=false`).
pub fn write_oci_dir(
    store: &Store,
    images: &ImageIndex,
    dir: &Path,
    names: &[String],
) -> Result<(), ExportError> {
    let top = top_of(images)?;
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(|e| ExportError::io(&blobs, e))?;
    let write = |rel: &str, data: &[u8]| {
        fs::write(dir.join(rel), data).map_err(|e| ExportError::io(dir.join(rel), e))
    };
    for platform in &images.images {
        let image = &platform.image;
        write(&blob_name(&image.config_digest), &image.config)?;
        write(&blob_name(&image.manifest_digest), &image.manifest)?;
        for layer in &image.layers {
            let dest = dir.join(blob_name(&layer.digest));
            if dest.exists() {
                continue;
            }
            fs::copy(store.blob_path(&layer.digest), &dest)
                .map_err(|e| ExportError::io(&dest, e))?;
        }
    }
    if let Some(index) = &images.index {
        write(&blob_name(&index.digest), &index.bytes)?;
    }
    write("oci-layout", OCI_LAYOUT)?;
    write("index.json", &index_json(top, names)?)?;
    Ok(())
}

struct Archive<W: Write> {
    builder: tar::Builder<W>,
    target: String,
}

impl<W: Write> Archive<W> {
    fn header(size: u64) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        header
    }

    fn bytes(&mut self, name: &str, data: &[u8]) -> Result<(), ExportError> {
        let mut header = Self::header(data.len() as u64);
        self.builder
            .append_data(&mut header, name, data)
            .map_err(|e| ExportError::io(&self.target, e))
    }

    fn file(&mut self, name: &str, path: &Path) -> Result<(), ExportError> {
        let file = fs::File::open(path).map_err(|e| ExportError::io(path, e))?;
        let size = file.metadata().map_err(|e| ExportError::io(path, e))?.len();
        let mut header = Self::header(size);
        self.builder
            .append_data(&mut header, name, file)
            .map_err(|e| ExportError::io(&self.target, e))
    }

    fn images(
        &mut self,
        store: &Store,
        images: &ImageIndex,
        names: &[String],
    ) -> Result<(), ExportError> {
        let top = top_of(images)?;
        self.bytes("oci-layout", OCI_LAYOUT)?;
        let mut written = std::collections::BTreeSet::new();
        for platform in &images.images {
            let image = &platform.image;
            if written.insert(image.config_digest) {
                self.bytes(&blob_name(&image.config_digest), &image.config)?;
            }
            for layer in &image.layers {
                if written.insert(layer.digest) {
                    self.file(&blob_name(&layer.digest), &store.blob_path(&layer.digest))?;
                }
            }
            self.bytes(&blob_name(&image.manifest_digest), &image.manifest)?;
        }
        if let Some(index) = &images.index {
            self.bytes(&blob_name(&index.digest), &index.bytes)?;
        }
        self.bytes("index.json", &index_json(top, names)?)?;
        Ok(())
    }

    fn finish(self) -> Result<W, ExportError> {
        let target = self.target;
        self.builder
            .into_inner()
            .map_err(|e| ExportError::io(target, e))
    }
}

/// Writes an OCI image layout tarball (`type=oci`).
pub fn write_oci_archive<W: Write>(
    store: &Store,
    images: &ImageIndex,
    out: W,
    names: &[String],
    target: &str,
) -> Result<W, ExportError> {
    let mut archive = Archive {
        builder: tar::Builder::new(out),
        target: target.to_owned(),
    };
    archive.images(store, images, names)?;
    archive.finish()
}

/// Writes a `docker load` archive (`type=docker`): an OCI layout plus `manifest.json`.
/// `docker load` takes one image per name, so several platforms are refused (see
/// [`crate::check_outputs`], which says so before the build runs).
pub fn write_docker_archive<W: Write>(
    store: &Store,
    images: &ImageIndex,
    out: W,
    names: &[String],
    target: &str,
) -> Result<W, ExportError> {
    let image: &Image = images.single().ok_or_else(|| {
        ExportError::Unsupported(crate::check::DOCKER_LIST_UNSUPPORTED.to_owned())
    })?;
    let mut archive = Archive {
        builder: tar::Builder::new(out),
        target: target.to_owned(),
    };
    archive.images(store, images, names)?;
    let entry = DockerManifestEntry {
        config: blob_name(&image.config_digest),
        repo_tags: names.iter().map(|n| familiar(n)).collect(),
        layers: image.layers.iter().map(|l| blob_name(&l.digest)).collect(),
    };
    let manifest = serde_json::to_vec(&[entry]).map_err(|source| ExportError::Json {
        what: "manifest.json",
        source,
    })?;
    archive.bytes("manifest.json", &manifest)?;
    archive.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_docker_shows_them() {
        assert_eq!(familiar("docker.io/library/app:1"), "app:1");
        assert_eq!(familiar("docker.io/me/app:latest"), "me/app:latest");
        assert_eq!(familiar("127.0.0.1:5000/app:v2"), "127.0.0.1:5000/app:v2");
        assert_eq!(tag_of("127.0.0.1:5000/app"), "latest");
        assert_eq!(tag_of("127.0.0.1:5000/app:v2"), "v2");
        assert_eq!(tag_of("docker.io/library/app:1@sha256:ab"), "1");
    }
}
