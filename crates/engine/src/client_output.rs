//! A daemon's client completing an output the daemon streamed: tarballs become files
//! (appearing only complete) or standard output, a docker archive goes into the client's
//! own Docker daemon, and directory outputs (`type=local`, `type=oci,tar=false`) are
//! extracted from their tarball once it has fully arrived.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::sink::Sink;
use crate::{EngineError, ExportKind};

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
                let parent = dest
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                fs::create_dir_all(parent).map_err(|e| {
                    EngineError::Input(format!("creating {}: {e}", parent.display()))
                })?;
                let spool_path = parent.join(format!(
                    ".{}.hearth-partial-{}.tar",
                    dest.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    std::process::id()
                ));
                let spool = fs::File::create(&spool_path).map_err(|e| {
                    EngineError::Input(format!("creating {}: {e}", spool_path.display()))
                })?;
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

    /// Completes the output; returns what the destination said (Docker's `Loaded image`).
    pub fn finish(mut self) -> Result<Vec<String>, EngineError> {
        let target = self
            .target
            .take()
            .ok_or_else(|| EngineError::Internal("output finished twice".into()))?;
        match target {
            Target::Sink(sink) => sink.finish_with_report(),
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
        }
    }
}

fn extract(tarball: &Path, dest: &Path) -> Result<(), EngineError> {
    let failed =
        |e: io::Error| EngineError::Input(format!("extracting into {}: {e}", dest.display()));
    fs::create_dir_all(dest).map_err(failed)?;
    let file = fs::File::open(tarball).map_err(failed)?;
    let mut archive = tar::Archive::new(io::BufReader::new(file));
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    // `unpack` refuses entries that would land outside `dest`.
    archive.unpack(dest).map_err(failed)
}

impl Write for ClientOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.target {
            Some(Target::Sink(sink)) => sink.write(buf),
            Some(Target::Extract { spool, .. }) => spool.write(buf),
            None => Err(io::Error::other("output already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.target {
            Some(Target::Sink(sink)) => sink.flush(),
            Some(Target::Extract { spool, .. }) => spool.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for ClientOutput {
    fn drop(&mut self) {
        if let Some(Target::Extract { spool_path, .. }) = &self.target {
            let _ = fs::remove_file(spool_path);
        }
    }
}
