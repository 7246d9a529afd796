//! Small filesystem helpers the store's durability and cleanup rest on: directory fsync,
//! atomic small-file writes, random names, and a tree removal that never crosses a mount.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Makes a rename or unlink inside `dir` durable: on Linux a rename is only on disk once the
/// directory holding the new entry has been synced.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .ctx("sync directory", dir)
}

/// Writes `contents` to `path` so that readers see either the old file or the whole new one.
///
/// The temporary name is fixed (`.<name>.tmp`), so one left by a crash is simply overwritten
/// by the next attempt instead of piling up. Callers hold the root lock, so no two writers
/// race for it.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).ctx("write", path);
    }
    fsync_dir(dir)
}

/// 26 lowercase base32 characters (130 bits, 128 of them random): enough that names made by
/// concurrent writers and processes never collide, and safe in any path.
pub(crate) fn random_name() -> String {
    base32(&rand::random::<[u8; 16]>())
}

const BASE32_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// RFC 4648 base32 without padding, lowercase.
pub(crate) fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(
                BASE32_ALPHABET[((buffer >> bits) & 31) as usize],
            ));
        }
    }
    if bits > 0 {
        out.push(char::from(
            BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize],
        ));
    }
    out
}

/// Whether `c` may appear in [`base32`] output.
pub(crate) fn is_base32_char(c: u8) -> bool {
    c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)
}

/// Removes `path` and everything below it, without following symlinks and without entering
/// another mount (a bind mount left behind under `tmp/` must not be emptied: it is reported
/// instead). The walk is `hearth_fsroot`'s, the one every crate uses.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    hearth_fsroot::remove_tree(path).ctx("remove", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        // RFC 4648 §10, lowercased and without padding.
        for (input, expected) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32(input.as_bytes()), expected, "{input:?}");
        }
        let name = random_name();
        assert_eq!(name.len(), 26);
        assert!(name.bytes().all(is_base32_char), "{name}");
    }

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("VERSION");
        write_atomic(&path, b"1\n").unwrap();
        write_atomic(&path, b"2\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"2\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
