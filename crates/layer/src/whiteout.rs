//! The two spellings of a deletion: OCI layer entries (`.wh.<name>`, `.wh..wh..opq`) and
//! overlayfs upper directories (0:0 character devices, the `opaque` xattr).

use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::error::LayerError;
use hearth_fsroot as fsutil;

/// The OCI whiteout prefix.
pub(crate) const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The OCI opaque-directory marker.
pub(crate) const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
/// AUFS bookkeeping names (`.wh..wh.plnk`, `.wh..wh.aufs`) that describe no file.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
/// The xattr overlayfs reads to hide a lower directory's contents.
pub(crate) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The same under the `userxattr` mount option.
const OPAQUE_USER_XATTR: &str = "user.overlay.opaque";

/// What a tar entry name means in a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker<'a> {
    /// An ordinary entry.
    None,
    /// `.wh.<name>`: `name` in the same directory is deleted.
    Whiteout(&'a [u8]),
    /// `.wh..wh..opq`: the containing directory hides the lower layers' contents.
    Opaque,
    /// AUFS metadata, skipped.
    AufsMeta,
    /// `.wh.`, `.wh..` or `.wh...`: names no deletion.
    Invalid,
}

/// Classifies an entry from its parent's components and its own name.
pub(crate) fn classify<'a, 'p>(
    mut parent: impl Iterator<Item = &'p [u8]>,
    name: &'a [u8],
) -> Marker<'a> {
    if parent.any(|c| c.starts_with(AUFS_META_PREFIX)) {
        return Marker::AufsMeta;
    }
    if name == WHITEOUT_OPAQUE {
        return Marker::Opaque;
    }
    if name.starts_with(AUFS_META_PREFIX) {
        return Marker::AufsMeta;
    }
    match name.strip_prefix(WHITEOUT_PREFIX) {
        Some(b"" | b"." | b"..") => Marker::Invalid,
        Some(original) => Marker::Whiteout(original),
        None => Marker::None,
    }
}

/// Whether an upper-directory entry is an overlayfs whiteout: a 0:0 character device.
pub(crate) fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether an upper directory is opaque (either xattr namespace, value `y`).
pub(crate) fn is_opaque(path: &Path) -> Result<bool, LayerError> {
    for key in [OPAQUE_XATTR, OPAQUE_USER_XATTR] {
        let value = fsutil::get_xattr(path, key).map_err(|source| LayerError::ReadTree {
            path: path.to_path_buf(),
            source,
        })?;
        if value.is_some_and(|v| v == b"y") {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(parent: &[&str], name: &str) -> String {
        let parent = parent.iter().map(|p| p.as_bytes());
        format!("{:?}", classify(parent, name.as_bytes()))
    }

    #[test]
    fn names_are_classified() {
        assert_eq!(kind(&[], "file"), "None");
        assert_eq!(
            kind(&["etc"], ".wh.passwd"),
            format!("Whiteout({:?})", b"passwd")
        );
        assert_eq!(kind(&["etc"], ".wh..wh..opq"), "Opaque");
        assert_eq!(kind(&[], ".wh..wh.plnk"), "AufsMeta");
        assert_eq!(kind(&[".wh..wh.plnk"], "123"), "AufsMeta");
        assert_eq!(kind(&[], ".wh."), "Invalid");
        assert_eq!(kind(&[], ".wh.."), "Invalid");
        assert_eq!(kind(&[], ".wh..."), "Invalid");
        assert_eq!(kind(&[], ".wh....x"), format!("Whiteout({:?})", b"...x"));
        assert_eq!(kind(&[], "x.wh.y"), "None");
    }
}
