//! Clean relative paths: what every in-root operation takes and returns.
//!
//! Names from tar archives, Dockerfiles and clients are bytes, not UTF-8, and may be
//! absolute, carry `./` prefixes, doubled slashes or `..`. They are cleaned lexically, as
//! Go's `filepath.Clean` does before containerd and moby use a name. What a `..` that
//! climbs above the root means depends on the caller: layers reject it, `ADD` archives
//! clamp it at the root as docker's chroot does.

use std::path::{Path, PathBuf};

/// Whether a `..` above the root is an error or stays at the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotDot {
    /// Climbing above the root is an error.
    Reject,
    /// `..` of the root is the root.
    Clamp,
}

/// A cleaned, relative path whose components are never empty, `.` or `..`: `a/b/c`, or
/// empty for the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct RelPath(Vec<u8>);

impl RelPath {
    /// The root.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Cleans `name`; `Err` carries the reason when a `..` climbs out under `Reject`.
    pub fn clean(name: &[u8], dotdot: DotDot) -> Result<Self, &'static str> {
        let mut parts: Vec<&[u8]> = Vec::new();
        for part in name.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    if parts.pop().is_none() && dotdot == DotDot::Reject {
                        return Err("the path climbs above the destination with `..`");
                    }
                }
                _ => parts.push(part),
            }
        }
        Ok(Self(parts.join(&b'/')))
    }

    /// Builds from components that are already clean (no `/`, `.`, `..` or empty ones).
    pub fn from_components<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut out = Vec::new();
        for part in parts {
            if !out.is_empty() {
                out.push(b'/');
            }
            out.extend_from_slice(part);
        }
        Self(out)
    }

    /// Wraps bytes that are already a clean relative path.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The path's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Whether this is the root itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path's bytes, `a/b/c`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The components, outermost first; none for the root.
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/').filter(|c| !c.is_empty())
    }

    /// The last component (empty for the root).
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// Everything but the last component (the root for a top-level name).
    pub fn parent(&self) -> RelPath {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => Self(self.0[..i].to_vec()),
            None => Self::root(),
        }
    }

    /// `self/name`.
    pub fn join(&self, name: &[u8]) -> RelPath {
        let mut out = self.0.clone();
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(name);
        Self(out)
    }

    /// `self/other`.
    pub fn join_rel(&self, other: &RelPath) -> RelPath {
        if other.is_root() {
            self.clone()
        } else {
            self.join(&other.0)
        }
    }

    /// How many components deep the path is.
    pub fn depth(&self) -> usize {
        self.components().count()
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &RelPath) -> bool {
        other.is_root()
            || (self.0.starts_with(&other.0)
                && (self.0.len() == other.0.len() || self.0[other.0.len()] == b'/'))
    }

    /// `root/self` as a host path, for the few calls that have no descriptor form.
    pub fn under(&self, root: &Path) -> PathBuf {
        use std::os::unix::ffi::OsStrExt as _;
        if self.is_root() {
            root.to_path_buf()
        } else {
            root.join(std::ffi::OsStr::from_bytes(&self.0))
        }
    }

    /// The path as text for messages (lossy for non-UTF-8 names).
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn clean(name: &str, dotdot: DotDot) -> Result<String, &'static str> {
        RelPath::clean(name.as_bytes(), dotdot).map(|p| p.display())
    }

    #[test]
    fn names_are_cleaned_like_go_filepath_clean() {
        for (name, want) in [
            ("etc/passwd", "etc/passwd"),
            ("./etc/passwd", "etc/passwd"),
            ("/etc/passwd", "etc/passwd"),
            ("//etc//passwd/", "etc/passwd"),
            ("etc/./x/../passwd", "etc/passwd"),
            ("./", ""),
            ("/", ""),
            ("a/..", ""),
        ] {
            assert_eq!(clean(name, DotDot::Reject).as_deref(), Ok(want), "{name}");
        }
    }

    #[test]
    fn climbing_out_is_rejected_or_clamped() {
        for name in ["..", "../escape", "a/../../escape", "/../escape"] {
            assert!(clean(name, DotDot::Reject).is_err(), "{name}");
        }
        assert_eq!(clean("../escape", DotDot::Clamp).as_deref(), Ok("escape"));
        assert_eq!(clean("a/../../b", DotDot::Clamp).as_deref(), Ok("b"));
    }

    #[test]
    fn path_parts() {
        let p = RelPath::clean(b"a/b/c", DotDot::Reject).unwrap();
        assert_eq!(p.file_name(), b"c");
        assert_eq!(p.parent().display(), "a/b");
        assert_eq!(p.parent().parent().parent(), RelPath::root());
        assert_eq!(p.depth(), 3);
        assert!(p.starts_with(&RelPath::clean(b"a/b", DotDot::Reject).unwrap()));
        assert!(!p.starts_with(&RelPath::clean(b"a/bc", DotDot::Reject).unwrap()));
        assert!(p.starts_with(&RelPath::root()));
        assert_eq!(RelPath::root().join(b"x").display(), "x");
        assert_eq!(RelPath::from_components([&b"x"[..], b"y"]).display(), "x/y");
        assert_eq!(p.under(Path::new("/r")), Path::new("/r/a/b/c"));
        assert_eq!(RelPath::root().under(Path::new("/r")), Path::new("/r"));
    }
}
