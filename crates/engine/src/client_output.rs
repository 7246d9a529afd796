//! A daemon's client completing an output the daemon streamed: tarballs become files
//! (appearing only complete) or standard output, a docker archive goes into the client's
//! own Docker daemon, and directory outputs (`type=local`, `type=oci,tar=false`) are
//! extracted from their tarball once it has fully arrived.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hearth_exporter::{ExportKind, Sink};

use crate::EngineError;

/// Where one streamed output goes on the client.
pub struct ClientOutput {
    /// `None` once finished.
    target: Option<Target>,
}

enum Target {
    Sink(Sink),
    Extract {
        spool: fs::File,
        spool_path: PathBuf,
        dest: PathBuf,
    },
    /// A cache directory: extracted like a directory output, then its `index.json` gets
    /// the new tag (after every blob is in place).
    CacheDir {
        spool: fs::File,
        spool_path: PathBuf,
        dest: PathBuf,
        tag: String,
    },
}

fn spool_beside(dest: &Path) -> Result<(fs::File, PathBuf), EngineError> {
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent)
        .map_err(|e| destination(format!("creating {}: {e}", parent.display())))?;
    let spool_path = parent.join(format!(
        ".{}.hearth-partial-{}.tar",
        dest.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let spool = fs::File::create(&spool_path)
        .map_err(|e| destination(format!("creating {}: {e}", spool_path.display())))?;
    Ok((spool, spool_path))
}

impl ClientOutput {
    /// Prepares the destination of an export of `kind`. Must be used from a blocking
    /// context (loading into Docker blocks on its API).
    pub fn open(kind: &ExportKind) -> Result<Self, EngineError> {
        let target = match kind {
            ExportKind::DockerArchive { dest }
            | ExportKind::OciArchive { dest }
            | ExportKind::Tar { dest } => Target::Sink(Sink::open(dest)?),
            ExportKind::DockerLoad => Target::Sink(Sink::docker_load()?),
            ExportKind::Local { dest } | ExportKind::OciDir { dest } => {
                let (spool, spool_path) = spool_beside(dest)?;
                Target::Extract {
                    spool,
                    spool_path,
                    dest: dest.clone(),
                }
            }
            ExportKind::Store => {
                return Err(EngineError::Internal(
                    "the store output is not streamed".into(),
                ));
            }
        };
        Ok(Self {
            target: Some(target),
        })
    }

    /// Prepares a `--cache-to type=local,dest=DIR,tag=TAG` directory the daemon streams.
    pub fn open_cache_dir(dest: &Path, tag: &str) -> Result<Self, EngineError> {
        let (spool, spool_path) = spool_beside(dest)?;
        Ok(Self {
            target: Some(Target::CacheDir {
                spool,
                spool_path,
                dest: dest.to_owned(),
                tag: tag.to_owned(),
            }),
        })
    }

    /// Completes the output; returns what the destination said (Docker's `Loaded image`).
    pub fn finish(mut self) -> Result<Vec<String>, EngineError> {
        let target = self
            .target
            .take()
            .ok_or_else(|| EngineError::Internal("output finished twice".into()))?;
        match target {
            Target::Sink(sink) => Ok(sink.finish_with_report()?),
            Target::Extract {
                spool,
                spool_path,
                dest,
            } => {
                drop(spool);
                let outcome = extract(&spool_path, &dest);
                let _ = fs::remove_file(&spool_path);
                outcome.map(|()| Vec::new())
            }
            Target::CacheDir {
                spool,
                spool_path,
                dest,
                tag,
            } => {
                drop(spool);
                let outcome = extract_cache(&spool_path, &dest);
                let _ = fs::remove_file(&spool_path);
                outcome?;
                let entry_path = dest.join(crate::cache::CLIENT_ENTRY_NAME);
                let failed = |e: String| {
                    destination(format!("writing the cache to {}: {e}", dest.display()))
                };
                let entry: serde_json::Value = fs::read(&entry_path)
                    .map_err(|e| failed(e.to_string()))
                    .and_then(|b| serde_json::from_slice(&b).map_err(|e| failed(e.to_string())))?;
                crate::cache::merge_index(&dest, &entry, &tag)
                    .map_err(|e| failed(e.to_string()))?;
                let _ = fs::remove_file(&entry_path);
                Ok(Vec::new())
            }
        }
    }
}

/// Extracts a directory output through the exporter's writer, which replaces what an
/// earlier output left (links included) instead of writing through it.
fn extract(tarball: &Path, dest: &Path) -> Result<(), EngineError> {
    let file = fs::File::open(tarball)
        .map_err(|e| destination(format!("extracting into {}: {e}", dest.display())))?;
    hearth_exporter::filesystem::extract_tar(io::BufReader::new(file), dest)
        .map(drop)
        .map_err(|e| destination(format!("extracting into {}: {e}", dest.display())))
}

/// Extracts a streamed cache layout: only `oci-layout`, the index entry and
/// `blobs/sha256/<hex>` files whose content matches their name, each written under a
/// temporary name and renamed, so a directory never holds a partial or wrong blob.
fn extract_cache(tarball: &Path, dest: &Path) -> Result<(), EngineError> {
    let failed = |e: String| destination(format!("writing the cache to {}: {e}", dest.display()));
    fs::create_dir_all(dest.join("blobs").join("sha256")).map_err(|e| failed(e.to_string()))?;
    let file = fs::File::open(tarball).map_err(|e| failed(e.to_string()))?;
    let mut archive = tar::Archive::new(io::BufReader::new(file));
    for entry in archive.entries().map_err(|e| failed(e.to_string()))? {
        let mut entry = entry.map_err(|e| failed(e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| failed(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let expected: Option<hearth_core::Digest> = match name.strip_prefix("blobs/sha256/") {
            Some(hex) => Some(
                format!("sha256:{hex}")
                    .parse()
                    .map_err(|_| failed(format!("unexpected entry {name:?} from the daemon")))?,
            ),
            None if name == "oci-layout" || name == crate::cache::CLIENT_ENTRY_NAME => None,
            None => return Err(failed(format!("unexpected entry {name:?} from the daemon"))),
        };
        let target = dest.join(&name);
        let tmp = target.with_extension(format!("partial-{}", std::process::id()));
        let mut out = fs::File::create(&tmp).map_err(|e| failed(e.to_string()))?;
        let mut hashing = HashingWriter {
            inner: &mut out,
            hasher: <sha2::Sha256 as sha2::Digest>::new(),
        };
        io::copy(&mut entry, &mut hashing).map_err(|e| failed(e.to_string()))?;
        let digest =
            hearth_core::Digest::from_sha256_bytes(sha2::Digest::finalize(hashing.hasher).into());
        if expected.is_some_and(|d| d != digest) {
            let _ = fs::remove_file(&tmp);
            return Err(failed(format!("{name} arrived damaged")));
        }
        fs::rename(&tmp, &target).map_err(|e| failed(e.to_string()))?;
    }
    Ok(())
}

/// Hashes what it writes through.
struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Write for ClientOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.target {
            Some(Target::Sink(sink)) => sink.write(buf),
            Some(Target::Extract { spool, .. } | Target::CacheDir { spool, .. }) => {
                spool.write(buf)
            }
            None => Err(io::Error::other("output already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.target {
            Some(Target::Sink(sink)) => sink.flush(),
            Some(Target::Extract { spool, .. } | Target::CacheDir { spool, .. }) => spool.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for ClientOutput {
    fn drop(&mut self) {
        if let Some(Target::Extract { spool_path, .. } | Target::CacheDir { spool_path, .. }) =
            &self.target
        {
            let _ = fs::remove_file(spool_path);
        }
    }
}

/// A client-side output that cannot be written: the user's destination, not their input.
fn destination(message: String) -> EngineError {
    hearth_exporter::ExportError::Destination(message).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(dir: &Path, entries: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join("stream.tar");
        let mut tar = tar::Builder::new(fs::File::create(&path).unwrap());
        for (name, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            // `append_data` refuses `..`; write the raw name as a hostile daemon could.
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            tar.append(&header, *bytes).unwrap();
        }
        tar.finish().unwrap();
        path
    }

    #[test]
    fn a_cache_stream_writes_only_verified_blobs_and_layout_files() {
        let work = tempfile::tempdir().unwrap();
        let blob = b"layer bytes";
        let good = format!("blobs/sha256/{}", hearth_core::Digest::of(blob).hex());
        let dest = work.path().join("cache");
        let ok = tarball(work.path(), &[("oci-layout", b"{}"), (&good, blob)]);
        extract_cache(&ok, &dest).unwrap();
        assert_eq!(fs::read(dest.join(&good)).unwrap(), blob);

        let wrong = format!("blobs/sha256/{}", hearth_core::Digest::of(b"other").hex());
        let damaged = tarball(work.path(), &[(&wrong, blob)]);
        let err = extract_cache(&damaged, &dest).unwrap_err().to_string();
        assert!(err.contains("arrived damaged"), "{err}");
        assert!(!dest.join(&wrong).exists(), "no damaged blob is left");
        assert!(
            fs::read_dir(dest.join("blobs/sha256")).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("partial")),
            "no partial file is left"
        );

        for hostile in ["../escape", "index.json", "blobs/sha256/../../x"] {
            let bad = tarball(work.path(), &[(hostile, b"x")]);
            let err = extract_cache(&bad, &dest).unwrap_err().to_string();
            assert!(err.contains("unexpected entry"), "{hostile}: {err}");
        }
        assert!(!work.path().join("escape").exists());
    }
}
