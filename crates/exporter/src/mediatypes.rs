//! Docker and OCI media types.

/// Which family of media types to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaTypes {
    /// Docker schema 2 (what `docker load` and most registries expect; BuildKit's default
    /// for images and docker archives).
    #[default]
    Docker,
    /// OCI image spec (BuildKit's default for `type=oci`).
    Oci,
}

impl MediaTypes {
    /// The manifest media type.
    pub fn manifest(self) -> &'static str {
        match self {
            Self::Docker => "application/vnd.docker.distribution.manifest.v2+json",
            Self::Oci => "application/vnd.oci.image.manifest.v1+json",
        }
    }

    /// The config media type.
    pub fn config(self) -> &'static str {
        match self {
            Self::Docker => "application/vnd.docker.container.image.v1+json",
            Self::Oci => "application/vnd.oci.image.config.v1+json",
        }
    }

    /// The index media type: an OCI index, or Docker's manifest list.
    pub fn index(self) -> &'static str {
        match self {
            Self::Docker => "application/vnd.docker.distribution.manifest.list.v2+json",
            Self::Oci => "application/vnd.oci.image.index.v1+json",
        }
    }

    /// The layer media type for a stored blob's compression (`gzip`, `zstd`,
    /// `uncompressed`). Docker has no zstd type, so zstd layers always use OCI's, as
    /// BuildKit does.
    pub fn layer(self, compression: &str) -> &'static str {
        match (self, compression) {
            (Self::Docker, "gzip") => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            (Self::Docker, "uncompressed") => "application/vnd.docker.image.rootfs.diff.tar",
            (_, "zstd") => "application/vnd.oci.image.layer.v1.tar+zstd",
            (Self::Oci, "gzip") => "application/vnd.oci.image.layer.v1.tar+gzip",
            _ => "application/vnd.oci.image.layer.v1.tar",
        }
    }
}
