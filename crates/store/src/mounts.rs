//! Finding and removing mounts a crashed process left under the store root.
//!
//! A SIGKILLed build can leave overlay mounts (a RUN step's root filesystem) and bind mounts
//! under `tmp/`. They must go before `tmp/` is emptied: removing files through a leftover
//! bind mount would delete the files it shows, wherever they really live.

use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{UnmountFlags, unmount};

/// Mount points listed in `/proc/self/mountinfo`, in mount order (a path mounted over twice
/// appears twice).
pub(crate) fn mount_points() -> std::io::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(parse_mountinfo(&text))
}

fn parse_mountinfo(text: &str) -> Vec<PathBuf> {
    // Format (proc(5)): "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw";
    // the fifth field is the mount point, with space, tab, newline and backslash escaped
    // in octal.
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_octal(field)))
        .collect()
}

fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points strictly below `dir` that are not in `keep`, deepest first, so that
/// each is unmounted before the mount it sits on.
pub(crate) fn mounts_below(all: &[PathBuf], dir: &Path, keep: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = all
        .iter()
        .filter(|m| m.starts_with(dir) && m.as_path() != dir && !keep.contains(m))
        .cloned()
        .collect();
    // Stable sort: among stacked mounts on one path, the last mounted (top) goes first.
    found.reverse();
    found.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    found
}

/// What became of one unmount.
pub(crate) enum Unmounted {
    /// It is gone.
    Done,
    /// It was already gone (a lazy unmount of a parent can take children with it).
    AlreadyGone,
}

/// Detaches the mount at `path`. `MNT_DETACH` because a leftover mount may still be busy
/// (an orphaned container process); it disappears from the tree now and is freed when the
/// last user lets go.
pub(crate) fn detach(path: &Path) -> std::io::Result<Unmounted> {
    match unmount(path, UnmountFlags::DETACH) {
        Ok(()) => Ok(Unmounted::Done),
        Err(Errno::INVAL | Errno::NOENT) => Ok(Unmounted::AlreadyGone),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_mount_points_are_unescaped() {
        let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /s/v1/tmp/with\\040space rw - tmpfs none rw
41 40 0:36 / /s/v1/tmp/with\\040space/in\\134ner rw - tmpfs none rw
";
        assert_eq!(
            parse_mountinfo(text),
            vec![
                PathBuf::from("/"),
                PathBuf::from("/s/v1/tmp/with space"),
                PathBuf::from("/s/v1/tmp/with space/in\\ner"),
            ]
        );
    }

    #[test]
    fn mounts_below_are_deepest_first_and_skip_kept_and_outside_paths() {
        let all: Vec<PathBuf> = [
            "/",
            "/s/v1",
            "/s/v1/layers",
            "/s/v1/tmp/a",
            "/s/v1/tmp/a/b/c",
            "/s/v1/tmp/a/b",
            "/s/v1x/tmp",
            "/s/v1/tmp/a",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let keep = vec![PathBuf::from("/s/v1/layers")];
        assert_eq!(
            mounts_below(&all, Path::new("/s/v1"), &keep),
            [
                "/s/v1/tmp/a/b/c",
                "/s/v1/tmp/a/b",
                "/s/v1/tmp/a",
                "/s/v1/tmp/a"
            ]
            .iter()
            .map(PathBuf::from)
            .collect::<Vec<_>>()
        );
    }
}
