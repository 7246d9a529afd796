//! Recognising git sources in ADD (`https://host/repo.git#ref:subdir`,
//! `git@host:repo.git`, `git://…`, `ssh://…`), as BuildKit's `dfgitutil` does.

/// A git source named in ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct GitRef {
    pub(crate) remote: String,
    pub(crate) reference: String,
    pub(crate) subdir: String,
    pub(crate) checksum: String,
    pub(crate) keep_git_dir: Option<bool>,
}

/// `Ok(None)` when `src` is not a git source; an error when it is one but malformed.
pub(crate) fn parse_git_ref(src: &str) -> Result<Option<GitRef>, String> {
    if src.starts_with("./") || src.starts_with("../") || src.starts_with("github.com/") {
        // `github.com/…` without a scheme is deprecated and treated as a local path.
        return Ok(None);
    }
    let (url, fragment) = match src.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (src, None),
    };
    let (url, query) = match url.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (url, None),
    };
    let is_git = if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
        path.ends_with(".git")
    } else {
        url.starts_with("git://") || url.starts_with("ssh://") || is_scp_like(url)
    };
    if !is_git {
        return Ok(None);
    }
    let mut git = GitRef {
        remote: url.to_owned(),
        ..GitRef::default()
    };
    if let Some(fragment) = fragment {
        let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
        git.reference = reference.to_owned();
        git.subdir = subdir.to_owned();
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "ref" | "tag" | "branch" => git.reference = value.to_owned(),
            "subdir" => git.subdir = value.to_owned(),
            "checksum" | "commit" => git.checksum = value.to_owned(),
            "keep-git-dir" => {
                git.keep_git_dir = Some(match value {
                    "" | "1" | "true" | "t" | "TRUE" | "True" => true,
                    "0" | "false" | "f" | "FALSE" | "False" => false,
                    other => return Err(format!("invalid keep-git-dir value: \"{other}\"")),
                });
            }
            "submodules" => {}
            other if value.is_empty() => return Err(format!("query \"{other}\" has no value")),
            _ => {}
        }
    }
    Ok(Some(git))
}

/// `user@host:path` (scp-like SSH syntax).
fn is_scp_like(url: &str) -> bool {
    let Some((user_host, path)) = url.split_once(':') else {
        return false;
    };
    user_host.contains('@') && !user_host.contains('/') && !path.starts_with("//")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_sources() {
        let got = parse_git_ref("https://github.com/moby/buildkit.git#v0.24.0:docs")
            .unwrap()
            .unwrap();
        assert_eq!(got.remote, "https://github.com/moby/buildkit.git");
        assert_eq!(
            (got.reference.as_str(), got.subdir.as_str()),
            ("v0.24.0", "docs")
        );
        assert!(
            parse_git_ref("git@github.com:moby/buildkit.git")
                .unwrap()
                .is_some()
        );
        assert!(parse_git_ref("git://example.com/x").unwrap().is_some());
        let q = parse_git_ref("https://x.org/r.git?ref=main&keep-git-dir=true")
            .unwrap()
            .unwrap();
        assert_eq!((q.reference.as_str(), q.keep_git_dir), ("main", Some(true)));
    }

    #[test]
    fn not_git() {
        for src in [
            "https://example.com/file.tar.gz",
            "./local",
            "dir/file",
            "github.com/a/b",
            "http://x/y",
        ] {
            assert_eq!(parse_git_ref(src), Ok(None), "{src}");
        }
    }
}
