//! Paths inside a root: Go's lexical path rules, and symlink resolution that can
//! never leave the root.
//!
//! BuildKit resolves every user-supplied path with continuity's `fs.RootPath`: each
//! component is looked up under the root, a symlink is replaced by its target, an
//! absolute target restarts at the root and `..` stops at the root. The result is a
//! host path that names something inside the root no matter what links the image
//! contains (a link to `/etc` means the image's `/etc`). [`resolve`] does the same
//! through `hearth_fsroot`, the one implementation every crate uses. File operations
//! run on a step's private tree that nothing else changes meanwhile, so they may use
//! the resolved path; everything after resolution refuses to follow a final link.
//!
//! Paths are handled as bytes: file names in images need not be UTF-8.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use hearth_fsroot::Root;

/// Go's `path.Clean` applied to `"/" + p`, i.e. `filepath.Join("/", p)`: an absolute
/// path without `.`, `..`, repeated or trailing slashes.
pub(crate) fn clean_abs(p: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in p.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let mut out = Vec::with_capacity(p.len() + 1);
    for part in &parts {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// BuildKit's `cleanPath`: like [`clean_abs`] but a trailing `/` or `/.` survives,
/// because it changes what a copy means ("into this directory", "its contents").
pub(crate) fn clean_keep_slash(s: &str) -> String {
    let mut cleaned = String::from_utf8_lossy(&clean_abs(s.as_bytes())).into_owned();
    if s.ends_with("/.") {
        if cleaned != "/" {
            cleaned.push('/');
        }
        cleaned.push('.');
    } else if s.ends_with('/') && cleaned != "/" {
        cleaned.push('/');
    }
    cleaned
}

/// Go's `filepath.Base`: the last element after trailing slashes are removed; `/` for
/// an all-slash path, `.` for an empty one. Note `Base("/a/.")` is `.`.
pub(crate) fn base(p: &[u8]) -> &[u8] {
    if p.is_empty() {
        return b".";
    }
    let mut end = p.len();
    while end > 0 && p[end - 1] == b'/' {
        end -= 1;
    }
    if end == 0 {
        return b"/";
    }
    let trimmed = &p[..end];
    match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// Go's `filepath.Split`: everything up to and including the last slash, and the rest.
pub(crate) fn split(p: &[u8]) -> (&[u8], &[u8]) {
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => (&p[..=i], &p[i + 1..]),
        None => (b"", p),
    }
}

/// continuity's `fs.RootPath` of `p` taken as absolute inside `root`, after Go's
/// `filepath.Join("/", p)` as BuildKit calls it: every symlink, including a trailing one,
/// evaluated inside `root` (`hearth_fsroot` does the walk). Components that do not exist
/// are kept as they are, so the result may not exist.
///
/// # Errors
///
/// `ELOOP` after too many links, and any lookup error other than `ENOENT` (`ENOTDIR`
/// when a component is a file).
pub(crate) fn resolve(root: &Path, p: &[u8]) -> io::Result<PathBuf> {
    let tree = Root::open(root)?;
    Ok(tree.resolve(&clean_abs(p))?.under(root))
}

/// fsutil's `rootPath(root, p, followLinks)`: like [`resolve`] when `follow`, else
/// only the parent is resolved and the last component is taken as it is (so a
/// symlink there is itself the result).
pub(crate) fn resolve_parent_or_all(root: &Path, p: &[u8], follow: bool) -> io::Result<PathBuf> {
    let cleaned = clean_abs(p);
    if cleaned == b"/" {
        return Ok(root.to_path_buf());
    }
    if follow {
        return resolve(root, &cleaned);
    }
    let (dir, file) = split(&cleaned);
    let mut parent = resolve(root, dir)?;
    parent.push(OsStr::from_bytes(file));
    Ok(parent)
}

/// How a host path below `root` is shown to users: as the in-root absolute path.
pub(crate) fn shown(root: &Path, host: &Path) -> String {
    match host.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => "/".to_owned(),
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => host.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        let cases: &[(&str, &str)] = &[
            ("", "/"),
            ("/", "/"),
            ("a/b", "/a/b"),
            ("/a/b/", "/a/b"),
            ("/a/./b/../c//d", "/a/c/d"),
            ("../../x", "/x"),
            ("/a/..", "/"),
        ];
        for (input, want) in cases {
            assert_eq!(clean_abs(input.as_bytes()), want.as_bytes(), "{input}");
        }
    }

    #[test]
    fn clean_keep_slash_matches_buildkit() {
        let cases: &[(&str, &str)] = &[
            ("dir", "/dir"),
            ("dir/", "/dir/"),
            ("dir/.", "/dir/."),
            ("/", "/"),
            ("/.", "/."),
            ("./", "/"),
            ("a/../b/", "/b/"),
        ];
        for (input, want) in cases {
            assert_eq!(clean_keep_slash(input), *want, "{input}");
        }
    }

    #[test]
    fn base_and_split_match_go() {
        assert_eq!(base(b"/a/b"), b"b");
        assert_eq!(base(b"/a/b/"), b"b");
        assert_eq!(base(b"/a/."), b".");
        assert_eq!(base(b"/"), b"/");
        assert_eq!(base(b""), b".");
        assert_eq!(split(b"/a/b"), (&b"/a/"[..], &b"b"[..]));
        assert_eq!(split(b"/a/b/"), (&b"/a/b/"[..], &b""[..]));
        assert_eq!(split(b"b"), (&b""[..], &b"b"[..]));
    }
}
