//! Recognising archives and compressed streams by their first bytes, and opening a
//! decompressor for them.
//!
//! The rules are moby/go-archive's `compression.Detect` (which BuildKit v0.24 uses for `ADD`
//! and which containerd uses for pulled blobs): magic numbers for bzip2, gzip, xz and zstd
//! (including zstd skippable frames), tried in that order. A plain tar is recognised the way
//! Go's `archive/tar` reader accepts a first header: a non-zero block whose checksum is right.

use std::fmt;
use std::io::Read;

use crate::error::LayerError;

/// How many leading bytes [`detect_archive`] needs to tell every format apart (a tar header
/// block; compressed formats need fewer).
pub const DETECT_LEN: usize = 512;

/// The container formats `ADD` unpacks and registries serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveFormat {
    /// An uncompressed tar stream.
    Tar,
    /// gzip (RFC 1952), possibly multi-member.
    Gzip,
    /// bzip2.
    Bzip2,
    /// xz (LZMA2 in the xz container).
    Xz,
    /// Zstandard, possibly several frames.
    Zstd,
}

impl ArchiveFormat {
    /// The lowercase name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tar => "tar",
            Self::Gzip => "gzip",
            Self::Bzip2 => "bzip2",
            Self::Xz => "xz",
            Self::Zstd => "zstd",
        }
    }

    /// Whether the format is a compression wrapped around something else.
    pub fn is_compressed(self) -> bool {
        self != Self::Tar
    }
}

impl fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const BZIP2_MAGIC: &[u8] = &[0x42, 0x5a, 0x68];
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b, 0x08];
const XZ_MAGIC: &[u8] = &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const ZSTD_SKIPPABLE_START: u32 = 0x184d_2a50;
const ZSTD_SKIPPABLE_MASK: u32 = 0xffff_fff0;

/// Detects the format from the first bytes of a stream (pass at least [`DETECT_LEN`] bytes
/// when available). `None` means not an archive this crate knows.
pub fn detect_archive(header: &[u8]) -> Option<ArchiveFormat> {
    detect_compression(header).or_else(|| is_tar_header(header).then_some(ArchiveFormat::Tar))
}

/// Only the compression magic numbers, without the tar check.
pub(crate) fn detect_compression(header: &[u8]) -> Option<ArchiveFormat> {
    if header.starts_with(BZIP2_MAGIC) {
        Some(ArchiveFormat::Bzip2)
    } else if header.starts_with(GZIP_MAGIC) {
        Some(ArchiveFormat::Gzip)
    } else if header.starts_with(XZ_MAGIC) {
        Some(ArchiveFormat::Xz)
    } else if is_zstd(header) {
        Some(ArchiveFormat::Zstd)
    } else {
        None
    }
}

fn is_zstd(header: &[u8]) -> bool {
    if header.starts_with(ZSTD_MAGIC) {
        return true;
    }
    // Skippable frames (0x184D2A50..=0x184D2A5F) carry a 4-byte size after the magic;
    // go-archive insists on both being present.
    match header.get(..8) {
        Some(frame) => {
            let magic = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
            magic & ZSTD_SKIPPABLE_MASK == ZSTD_SKIPPABLE_START
        }
        None => false,
    }
}

/// Whether `block` starts with a tar header Go's reader would accept: not all zeros (that
/// is an end-of-archive marker) and a checksum matching either the unsigned or the signed
/// byte sum, as historic tars used both.
pub(crate) fn is_tar_header(block: &[u8]) -> bool {
    let Some(block) = block.get(..512) else {
        return false;
    };
    if block.iter().all(|&b| b == 0) {
        return false;
    }
    let Some(stored) = parse_octal(&block[148..156]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || stored == signed
}

/// Parses an octal tar field the way Go does: surrounding spaces and NULs are ignored.
fn parse_octal(field: &[u8]) -> Option<i64> {
    let text = field
        .iter()
        .position(|&b| b != b' ' && b != 0)
        .map(|start| &field[start..])?;
    let end = text
        .iter()
        .position(|&b| b == b' ' || b == 0)
        .unwrap_or(text.len());
    let digits = &text[..end];
    if digits.is_empty() || !digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    digits.iter().try_fold(0i64, |acc, &d| {
        acc.checked_mul(8)?.checked_add(i64::from(d - b'0'))
    })
}

/// Wraps `reader` in the decompressor for `format` (`Tar` passes it through). Gzip and bzip2
/// accept several concatenated members and zstd several frames, as Go's readers do.
pub fn decompressed<'a>(
    reader: impl Read + 'a,
    format: ArchiveFormat,
) -> Result<Box<dyn Read + 'a>, LayerError> {
    Ok(match format {
        ArchiveFormat::Tar => Box::new(reader),
        ArchiveFormat::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        ArchiveFormat::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(reader)),
        ArchiveFormat::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(reader)),
        ArchiveFormat::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(reader).map_err(|source| {
                LayerError::Decompress {
                    format: "zstd",
                    source,
                }
            })?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_block(name: &str) -> Vec<u8> {
        let mut header = tar::Header::new_ustar();
        header.set_path(name).unwrap();
        header.set_size(0);
        header.set_cksum();
        header.as_bytes().to_vec()
    }

    #[test]
    fn magic_numbers_are_recognised_in_go_archive_order() {
        let cases: &[(&[u8], Option<ArchiveFormat>)] = &[
            (b"BZh91AY&SY", Some(ArchiveFormat::Bzip2)),
            (&[0x1f, 0x8b, 0x08, 0x00], Some(ArchiveFormat::Gzip)),
            // gzip with a method other than deflate is not gzip to go-archive.
            (&[0x1f, 0x8b, 0x07, 0x00], None),
            (
                &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00],
                Some(ArchiveFormat::Xz),
            ),
            (&[0xfd, 0x37, 0x7a, 0x58, 0x5a], None),
            (&[0x28, 0xb5, 0x2f, 0xfd, 0x04], Some(ArchiveFormat::Zstd)),
            (
                &[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0],
                Some(ArchiveFormat::Zstd),
            ),
            (
                &[0x5f, 0x2a, 0x4d, 0x18, 4, 0, 0, 0],
                Some(ArchiveFormat::Zstd),
            ),
            // A skippable magic without its size field is too short to trust.
            (&[0x50, 0x2a, 0x4d, 0x18], None),
            (&[0x60, 0x2a, 0x4d, 0x18, 4, 0, 0, 0], None),
            (b"hello world", None),
            (b"", None),
            (&[0u8; 512], None),
        ];
        for (bytes, want) in cases {
            assert_eq!(detect_archive(bytes), *want, "{bytes:x?}");
        }
    }

    #[test]
    fn tar_needs_a_valid_checksum() {
        let block = tar_block("etc/passwd");
        assert_eq!(detect_archive(&block), Some(ArchiveFormat::Tar));
        assert_eq!(
            detect_archive(&block[..511]),
            None,
            "a short block is not a tar"
        );
        let mut broken = block.clone();
        broken[0] ^= 1;
        assert_eq!(detect_archive(&broken), None);
        // A V7 header (no ustar magic) with a right checksum is still a tar to Go.
        let mut v7 = block;
        v7[257..265].fill(0);
        let sum: u32 = v7
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        v7[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        assert_eq!(detect_archive(&v7), Some(ArchiveFormat::Tar));
    }

    #[test]
    fn decompressed_round_trips_each_format() {
        use std::io::Write;
        let data = b"some data to squeeze".repeat(100);
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        let bz = {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        let xz = {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        for (blob, format) in [
            (gz, ArchiveFormat::Gzip),
            (zst, ArchiveFormat::Zstd),
            (bz, ArchiveFormat::Bzip2),
            (xz, ArchiveFormat::Xz),
            (data.clone(), ArchiveFormat::Tar),
        ] {
            if format.is_compressed() {
                assert_eq!(detect_compression(&blob), Some(format));
            }
            let mut out = Vec::new();
            decompressed(&blob[..], format)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{format}");
        }
    }
}
