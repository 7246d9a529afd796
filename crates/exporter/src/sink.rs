//! Where a tarball output is written: a file that appears only when complete, standard
//! output, or the Docker daemon's image store.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::ExportError;
use crate::docker_api::{DockerHost, Loader};
use crate::stream::{OutputStream, OutputStreams};

/// A tarball destination; call [`Sink::finish`] to complete it. Dropped unfinished, a file
/// sink removes its partial file, so a failed or killed build never leaves a truncated
/// image where the user expects one.
pub enum Sink {
    /// A file, written under a temporary name beside it.
    File {
        /// `None` once finished.
        writer: Option<BufWriter<fs::File>>,
        /// The temporary name.
        partial: PathBuf,
        /// The name it gets when complete.
        dest: PathBuf,
    },
    /// Standard output.
    Stdout(BufWriter<io::Stdout>),
    /// Aborts its upload when dropped unfinished.
    DockerLoad(Box<Loader>),
    /// To a daemon's client, which completes the output on its side.
    Stream(Option<Box<dyn OutputStream>>),
}

impl Sink {
    /// `dest`, or standard output for `-`.
    pub fn open(dest: &Path) -> Result<Self, ExportError> {
        if dest.as_os_str() == "-" {
            return Ok(Self::Stdout(BufWriter::new(io::stdout())));
        }
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent)
            .map_err(|e| ExportError::Destination(format!("creating {}: {e}", parent.display())))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        remove_stale_partials(parent, &name);
        let partial = parent.join(format!(".{name}.hearth-partial-{}", std::process::id()));
        let file = fs::File::create(&partial).map_err(|e| {
            ExportError::Destination(format!("creating {}: {e}", partial.display()))
        })?;
        Ok(Self::File {
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
            partial,
            dest: dest.to_path_buf(),
        })
    }

    /// An upload into the Docker daemon that `DOCKER_HOST` names (its default socket
    /// without it), through its API as buildx's docker exporter does: no docker CLI
    /// needed. Fails at once if the daemon does not answer. Blocks on the async runtime,
    /// so call it, and use the sink, from a blocking thread.
    pub fn docker_load() -> Result<Self, ExportError> {
        let loader = Loader::open(DockerHost::from_env()?)?;
        Ok(Self::DockerLoad(Box::new(loader)))
    }

    /// Export `index`'s stream to the client.
    pub fn stream(streams: &Arc<dyn OutputStreams>, index: usize) -> Result<Self, ExportError> {
        let stream = streams.open(index).map_err(|e| {
            ExportError::Destination(format!("sending output {index} to the client: {e}"))
        })?;
        Ok(Self::Stream(Some(stream)))
    }

    /// What the destination is called in messages.
    pub fn describe(&self) -> String {
        match self {
            Self::File { dest, .. } => dest.display().to_string(),
            Self::Stdout(_) => "standard output".to_owned(),
            // Its errors name the daemon's address already.
            Self::DockerLoad(_) => "the Docker daemon".to_owned(),
            Self::Stream(_) => "the client".to_owned(),
        }
    }

    /// Completes the output: renames the file into place, flushes standard output, or
    /// waits for the Docker daemon to load the image and checks that it succeeded.
    pub fn finish(self) -> Result<(), ExportError> {
        self.finish_with_report().map(drop)
    }

    /// [`Sink::finish`], returning what the destination said: the Docker daemon's
    /// `Loaded image: …` lines; nothing for files and standard output.
    pub fn finish_with_report(mut self) -> Result<Vec<String>, ExportError> {
        let described = self.describe();
        let failed = |e: io::Error| ExportError::Destination(format!("writing {described}: {e}"));
        match &mut self {
            Self::File {
                writer,
                partial,
                dest,
            } => {
                let file = writer
                    .take()
                    .ok_or_else(|| ExportError::Internal("output finished twice".into()))?
                    .into_inner()
                    .map_err(|e| failed(e.into_error()))?;
                file.sync_all().map_err(failed)?;
                fs::rename(&*partial, &*dest).map_err(failed)?;
                Ok(Vec::new())
            }
            Self::Stdout(out) => out.flush().map_err(failed).map(|()| Vec::new()),
            Self::DockerLoad(loader) => Ok(loader.finish()?),
            Self::Stream(stream) => {
                let stream = stream
                    .take()
                    .ok_or_else(|| ExportError::Internal("output finished twice".into()))?;
                stream.finish().map_err(failed)?;
                Ok(Vec::new())
            }
        }
    }
}

/// Removes what killed builds left while writing `name` in `dir`: partial files whose
/// writing process is gone.
fn remove_stale_partials(dir: &Path, name: &str) {
    let prefix = format!(".{name}.hearth-partial-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::File {
                writer: Some(w), ..
            } => w.write(buf),
            Self::DockerLoad(loader) => loader.write(buf),
            Self::Stdout(w) => w.write(buf),
            Self::Stream(Some(stream)) => stream.write(buf),
            _ => Err(io::Error::other("output already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::File {
                writer: Some(w), ..
            } => w.flush(),
            Self::DockerLoad(loader) => loader.flush(),
            Self::Stdout(w) => w.flush(),
            Self::Stream(Some(stream)) => stream.flush(),
            _ => Ok(()),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        match self {
            Self::File {
                writer, partial, ..
            } => {
                if writer.take().is_some() {
                    let _ = fs::remove_file(partial);
                }
            }
            // An unfinished stream is dropped without its end: the client discards it.
            Self::DockerLoad(_) | Self::Stdout(_) | Self::Stream(_) => {}
        }
    }
}
