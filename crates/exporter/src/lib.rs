//! Exporters: everything a build writes, from solved results (a stack of layer
//! directories per platform) and image configurations.
//!
//! [`output`] describes an output (`-o` in buildx's spelling, parsed once at the edge);
//! [`write_outputs`] is the one place that writes them. [`assemble`] turns one platform's
//! result into an image: each layer's compressed blob is computed once per compression and
//! recorded, so a rebuild that produces the same layers exports without compressing
//! anything; layers pulled from a registry reuse their original blobs. An [`ImageIndex`]
//! holds a build's images, with the index (OCI) or manifest list (Docker) that names
//! several platforms; every image output writes it: OCI layouts (tarball or directory),
//! the `docker load` archive and `--load` (one platform), hearth's store, and pushes
//! ([`push`]). [`filesystem`] exports the merged files themselves (`type=local`,
//! `type=tar`, one directory per platform when there are several). Tarballs go to a
//! [`Sink`]: a file that appears only complete, standard output, the Docker daemon's API,
//! or a daemon's client ([`OutputStreams`]).

mod assemble;
pub mod cache_layout;
mod check;
mod docker_api;
mod error;
pub mod filesystem;
mod index;
mod layout;
mod mediatypes;
pub mod output;
pub mod push;
mod sink;
mod stream;
mod write;

pub use assemble::{AssembleOptions, Image, LayerDescriptor, assemble, layer_blob};
pub use check::check_outputs;
pub use docker_api::DockerError;
pub use error::ExportError;
pub use index::{ImageIndex, IndexBlob, PlatformImage, Top, platform_dir};
pub use layout::{write_docker_archive, write_oci_archive, write_oci_dir};
pub use mediatypes::MediaTypes;
pub use output::{Export, ExportKind, ImageFormat, parse_output};
pub use sink::Sink;
pub use stream::{OutputStream, OutputStreams};
pub use write::{OutputContext, PlatformResult, write_outputs};
