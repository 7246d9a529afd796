//! Outputs whose bytes go to a client elsewhere (hearthd's): the exporter writes a
//! tarball into the stream, the client completes the output on its side.

use std::io::{self, Write};

/// One output's bytes on their way to the client.
pub trait OutputStream: Write + Send {
    /// Ends the output; the client then completes it (renames its file into place,
    /// finishes extracting, or loads the image into its Docker daemon).
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// Opens the stream for output number `index` of the request.
pub trait OutputStreams: Send + Sync {
    /// A stream for output `index`.
    fn open(&self, index: usize) -> io::Result<Box<dyn OutputStream>>;
}
