//! The one error type of this crate.
//!
//! Every variant names what it is about — the tar entry as written in the archive, or the
//! path on disk — because a layer with ten thousand entries is undebuggable otherwise.

use std::io;
use std::path::PathBuf;

/// Why reading, writing or applying a layer failed.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A tar entry would be created, or a hardlink would point, outside the destination,
    /// or through a symlink that is already in the destination.
    #[error("unsafe path in tar entry {entry:?}: {reason}")]
    UnsafePath {
        /// The entry name as written in the archive.
        entry: String,
        /// What makes it unsafe.
        reason: String,
    },
    /// The archive itself cannot be read (bad header, checksum, truncated stream).
    #[error("reading the tar stream{}: {source}", after_entry(.after))]
    ReadArchive {
        /// The last entry read successfully, if any.
        after: Option<String>,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A tar entry is well-formed but could not be applied to the destination.
    #[error("applying tar entry {entry:?}: {source}")]
    Apply {
        /// The entry name as written in the archive.
        entry: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A tar entry has a type or a value this crate does not handle.
    #[error("unsupported tar entry {entry:?}: {reason}")]
    UnsupportedEntry {
        /// The entry name as written in the archive.
        entry: String,
        /// What is not supported.
        reason: String,
    },
    /// The destination directory could not be opened or created.
    #[error("preparing destination {}: {source}", .path.display())]
    Destination {
        /// The destination path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file or directory of a tree being archived or compared could not be read.
    #[error("reading {}: {source}", .path.display())]
    ReadTree {
        /// The path on disk.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A tree holds something the layer format cannot express faithfully.
    #[error("cannot archive {}: {reason}", .path.display())]
    UnsupportedFile {
        /// The path on disk.
        path: PathBuf,
        /// What cannot be expressed.
        reason: String,
    },
    /// Writing the produced stream failed.
    #[error("writing the layer stream: {0}")]
    Write(#[source] io::Error),
    /// A compression level outside what the algorithm accepts.
    #[error("invalid {algorithm} compression level {level}: expected {range}")]
    InvalidLevel {
        /// `gzip` or `zstd`.
        algorithm: &'static str,
        /// The level asked for.
        level: i32,
        /// The accepted range, for the message.
        range: &'static str,
    },
    /// Setting up or running a decompressor failed.
    #[error("decompressing {format} data: {source}")]
    Decompress {
        /// The compression format's name.
        format: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The source of an archive extraction could not be opened or read.
    #[error("reading archive {}: {source}", .path.display())]
    ReadSource {
        /// The archive's path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn after_entry(after: &Option<String>) -> String {
    match after {
        Some(name) => format!(" after entry {name:?}"),
        None => String::new(),
    }
}
