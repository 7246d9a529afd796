//! Layer compressions, their media types, level checking, and the streaming compressor
//! `export` writes zstd through (gzip has its own parallel writer, `pgzip`).
//!
//! Defaults follow BuildKit: gzip at Go's default level (6, the same as zlib's), zstd at
//! level 3 with a content checksum (klauspost/compress writes one by default).

use std::io::{self, Write};

use crate::error::LayerError;

/// OCI media type of an uncompressed layer.
pub const MEDIA_TYPE_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI media type of a gzip layer.
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI media type of a zstd layer.
pub const MEDIA_TYPE_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker schema 2 media type of an uncompressed layer.
pub const MEDIA_TYPE_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker schema 2 media type of a gzip layer.
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// A plain tar.
    Uncompressed,
    /// gzip, BuildKit's default.
    #[default]
    Gzip,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The level used when none is given: 6 for gzip, 3 for zstd.
    pub fn default_level(self) -> Option<i32> {
        match self {
            Self::Uncompressed => None,
            Self::Gzip => Some(6),
            Self::Zstd => Some(3),
        }
    }

    /// The layer media type; see [`media_type`].
    pub fn media_type(self, oci: bool) -> &'static str {
        media_type(self, oci)
    }

    /// The compression a layer media type names, if it is a layer type this crate writes.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            MEDIA_TYPE_OCI_LAYER | MEDIA_TYPE_DOCKER_LAYER => Some(Self::Uncompressed),
            MEDIA_TYPE_OCI_LAYER_GZIP | MEDIA_TYPE_DOCKER_LAYER_GZIP => Some(Self::Gzip),
            MEDIA_TYPE_OCI_LAYER_ZSTD => Some(Self::Zstd),
            _ => None,
        }
    }
}

/// The layer media type for `compression`, in the OCI or the Docker schema 2 vocabulary.
///
/// Docker has no zstd layer type; BuildKit switches such images to OCI media types, so the
/// OCI type is returned for zstd whatever `oci` says.
pub fn media_type(compression: Compression, oci: bool) -> &'static str {
    match (compression, oci) {
        (Compression::Uncompressed, true) => MEDIA_TYPE_OCI_LAYER,
        (Compression::Uncompressed, false) => MEDIA_TYPE_DOCKER_LAYER,
        (Compression::Gzip, true) => MEDIA_TYPE_OCI_LAYER_GZIP,
        (Compression::Gzip, false) => MEDIA_TYPE_DOCKER_LAYER_GZIP,
        (Compression::Zstd, _) => MEDIA_TYPE_OCI_LAYER_ZSTD,
    }
}

/// A compression with its level checked against what the algorithm accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Plain,
    Gzip(u32),
    Zstd(i32),
}

impl Codec {
    pub(crate) fn new(compression: Compression, level: Option<i32>) -> Result<Self, LayerError> {
        let level = level.or(compression.default_level());
        Ok(match (compression, level) {
            (Compression::Uncompressed, _) | (_, None) => Self::Plain,
            (Compression::Gzip, Some(level)) => match u32::try_from(level) {
                Ok(l) if l <= 9 => Self::Gzip(l),
                _ => {
                    return Err(LayerError::InvalidLevel {
                        algorithm: "gzip",
                        level,
                        range: "0 to 9",
                    });
                }
            },
            (Compression::Zstd, Some(level)) => {
                if !zstd::compression_level_range().contains(&level) {
                    return Err(LayerError::InvalidLevel {
                        algorithm: "zstd",
                        level,
                        range: "-131072 to 22",
                    });
                }
                Self::Zstd(level)
            }
        })
    }
}

/// A streaming compressor into `W` for the codecs compressed on one thread (gzip goes
/// through `pgzip`); `finish` writes the trailer and returns `W`.
pub(crate) enum Compressor<W: Write> {
    Plain(W),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    /// Starts a stream. A gzip codec is written uncompressed: callers route it to `pgzip`.
    pub(crate) fn new(out: W, codec: Codec) -> Result<Self, LayerError> {
        Ok(match codec {
            Codec::Plain | Codec::Gzip(_) => Self::Plain(out),
            Codec::Zstd(level) => {
                let mut encoder =
                    zstd::stream::write::Encoder::new(out, level).map_err(LayerError::Write)?;
                encoder.include_checksum(true).map_err(LayerError::Write)?;
                Self::Zstd(encoder)
            }
        })
    }

    /// Ends the compressed stream and hands back the inner writer.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Self::Plain(w) => Ok(w),
            Self::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(w) => w.write(buf),
            Self::Zstd(e) => e.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(w) => w.write_all(buf),
            Self::Zstd(e) => e.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(w) => w.flush(),
            Self::Zstd(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_follow_buildkit() {
        assert_eq!(
            media_type(Compression::Gzip, false),
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
        assert_eq!(
            media_type(Compression::Gzip, true),
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(
            media_type(Compression::Zstd, false),
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        assert_eq!(
            media_type(Compression::Uncompressed, false),
            "application/vnd.docker.image.rootfs.diff.tar"
        );
        for c in [
            Compression::Uncompressed,
            Compression::Gzip,
            Compression::Zstd,
        ] {
            for oci in [true, false] {
                assert_eq!(Compression::from_media_type(media_type(c, oci)), Some(c));
            }
        }
    }

    #[test]
    fn levels_are_checked() {
        assert!(matches!(
            Codec::new(Compression::Gzip, Some(10)),
            Err(LayerError::InvalidLevel { level: 10, .. })
        ));
        assert!(matches!(
            Codec::new(Compression::Gzip, Some(-1)),
            Err(LayerError::InvalidLevel { level: -1, .. })
        ));
        assert!(matches!(
            Codec::new(Compression::Zstd, Some(23)),
            Err(LayerError::InvalidLevel { level: 23, .. })
        ));
        assert_eq!(
            Codec::new(Compression::Zstd, Some(19)).unwrap(),
            Codec::Zstd(19)
        );
        assert_eq!(Codec::new(Compression::Gzip, None).unwrap(), Codec::Gzip(6));
        assert_eq!(Codec::new(Compression::Zstd, None).unwrap(), Codec::Zstd(3));
        assert_eq!(
            Codec::new(Compression::Uncompressed, Some(99)).unwrap(),
            Codec::Plain
        );
    }
}
