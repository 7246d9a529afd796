//! Go's `path` package semantics (`Clean`, `Join`, `Base`) and BuildKit's
//! destination-path rules, which decide where COPY puts files and what WORKDIR means.

/// Go's `path.Clean`: the shortest equivalent path, lexically.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Go's `path.Join`: joins non-empty elements and cleans; all empty gives `""`.
pub(crate) fn join(parts: &[&str]) -> String {
    let non_empty: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    if non_empty.is_empty() {
        return String::new();
    }
    clean(&non_empty.join("/"))
}

/// Go's `path.Base`.
pub(crate) fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_owned();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

/// BuildKit's `system.NormalizePath` for Linux: `new_path` made absolute against
/// `parent` and cleaned; with `keep_slash`, a trailing `/` or `/.` survives, because
/// it decides whether a COPY destination is a directory.
pub(crate) fn normalize_path(parent: &str, new_path: &str, keep_slash: bool) -> String {
    let parent = if parent.is_empty() { "/" } else { parent };
    let parent = if parent.starts_with('/') {
        parent.to_owned()
    } else {
        join(&["/", parent])
    };
    let mut path = if new_path.is_empty() {
        parent.clone()
    } else {
        new_path.to_owned()
    };
    if !path.starts_with('/') {
        path = join(&[&parent, &path]);
    }
    if keep_slash {
        if new_path.ends_with('/') && !path.ends_with('/') {
            path.push('/');
        } else if new_path.ends_with("/.") {
            if path != "/" {
                path.push('/');
            }
            path.push('.');
        }
    }
    path
}

/// Where COPY/ADD put files: relative destinations are taken from the working
/// directory, `.` and `""` mean the working directory itself as a directory.
pub(crate) fn dest_relative_to_workdir(workdir: &str, dest: &str) -> String {
    if dest.starts_with('/') {
        return normalize_path("/", dest, true);
    }
    let dest = if dest.is_empty() || dest == "." {
        "./"
    } else {
        dest
    };
    normalize_path(workdir, dest, true)
}

/// How LLB's file operations canonicalise a path: cleaned, made absolute against
/// `parent`, and (with `keep_slash`) keeping a trailing `/` or `/.`.
pub(crate) fn llb_normalize(parent: &str, path: &str, keep_slash: bool) -> String {
    let mut out = clean(path);
    if !out.starts_with('/') {
        out = join(&["/", parent, &out]);
    }
    if keep_slash {
        if path.ends_with('/') && !out.ends_with('/') {
            out.push('/');
        } else if path.ends_with("/.") {
            if out != "/" {
                out.push('/');
            }
            out.push('.');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        let cases = [
            ("", "."),
            ("abc", "abc"),
            ("abc/", "abc"),
            ("a//b", "a/b"),
            ("/../a", "/a"),
            ("../../a", "../../a"),
            ("a/../..", ".."),
            ("/", "/"),
            ("./a/./b/", "a/b"),
            ("a/b/../../c", "c"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn join_and_base() {
        assert_eq!(join(&["/", "a", "", "b/"]), "/a/b");
        assert_eq!(join(&["", ""]), "");
        assert_eq!(join(&["a", "../.."]), "..");
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(base("/"), "/");
        assert_eq!(base(""), ".");
        assert_eq!(base("file"), "file");
    }

    #[test]
    fn destinations_follow_buildkit() {
        let cases = [
            ("/app", "x", "/app/x"),
            ("/app", "x/", "/app/x/"),
            ("/app", ".", "/app/"),
            ("/app", "", "/app/"),
            ("/", ".", "/"),
            // Absolute destinations are not cleaned here (BuildKit leaves that to the
            // file operation, see `llb_normalize`).
            ("/app", "/abs/../y", "/abs/../y"),
            ("/app", "/dir/", "/dir/"),
            ("/app", "sub/.", "/app/sub/."),
            ("/", "/.", "/./."),
            ("", "rel", "/rel"),
        ];
        for (workdir, dest, want) in cases {
            assert_eq!(
                dest_relative_to_workdir(workdir, dest),
                want,
                "{workdir} {dest}"
            );
        }
    }

    #[test]
    fn llb_paths_are_canonical() {
        assert_eq!(llb_normalize("/", "/abs/../y", true), "/y");
        assert_eq!(llb_normalize("/app", "x/", true), "/app/x/");
        assert_eq!(llb_normalize("/", "/d/.", true), "/d/.");
        assert_eq!(llb_normalize("/w", "../f", false), "/f");
        assert_eq!(llb_normalize("", "rel", false), "/rel");
    }

    #[test]
    fn workdir_normalisation() {
        assert_eq!(normalize_path("/a", "b", false), "/a/b");
        assert_eq!(normalize_path("/a", "../b/", false), "/b");
        // An absolute WORKDIR is kept as written, as BuildKit records it.
        assert_eq!(normalize_path("/a", "/c/./d", false), "/c/./d");
        assert_eq!(normalize_path("", "", false), "/");
    }
}
