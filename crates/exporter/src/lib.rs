//! Exporters: from a build result (a stack of layer directories) and an image
//! configuration to the outputs users ask for.
//!
//! [`assemble`] turns the result into an image: each layer's compressed blob is
//! computed once per compression and recorded, so a rebuild that produces the same
//! layers exports without compressing anything; layers pulled from a registry reuse
//! their original blobs. The config gets its `rootfs.diff_ids`, creation times and a
//! history that matches the layers. The writers then lay the image out as a
//! `docker load` archive, an OCI layout (tarball or directory), or a named image in the
//! store; [`filesystem`] exports the merged files themselves (`type=local`, `type=tar`).

mod assemble;
mod error;
pub mod filesystem;
mod layout;
mod mediatypes;

pub use assemble::{AssembleOptions, Image, LayerDescriptor, assemble, layer_blob};
pub use error::ExportError;
pub use layout::{write_docker_archive, write_oci_archive, write_oci_dir};
pub use mediatypes::MediaTypes;
