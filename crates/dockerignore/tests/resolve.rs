//! Choice between `<Dockerfile>.dockerignore` and `.dockerignore`, as made by
//! BuildKit's Dockerfile frontend, both from contents and from disk.

// Shared helpers sit outside `#[test]` functions, where clippy's test
// exemption does not reach; a panic in them is still just a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use hearth_dockerignore::fs::read_ignore_for_build;
use hearth_dockerignore::{Error, IgnoreSource, dockerfile_ignore_name, resolve_ignore};

#[test]
fn dockerfile_specific_name() {
    let rows = [
        ("Dockerfile", "Dockerfile.dockerignore"),
        ("app.Dockerfile", "app.Dockerfile.dockerignore"),
        ("sub/Dockerfile", "sub/Dockerfile.dockerignore"),
        ("dockerfile", "dockerfile.dockerignore"),
    ];
    for (dockerfile, expected) in rows {
        assert_eq!(dockerfile_ignore_name(dockerfile), expected);
    }
}

#[test]
fn precedence() {
    // (Dockerfile-specific content, context content, chosen file, patterns)
    type Row<'a> = (
        Option<&'a [u8]>,
        Option<&'a [u8]>,
        IgnoreSource,
        &'a [&'a str],
    );
    let rows: &[Row<'_>] = &[
        (
            Some(b"specific"),
            Some(b"context"),
            IgnoreSource::Dockerfile("Dockerfile.dockerignore".to_owned()),
            &["specific"],
        ),
        (
            None,
            Some(b"context\n!keep"),
            IgnoreSource::Context,
            &["context", "!keep"],
        ),
        (
            Some(b"specific"),
            None,
            IgnoreSource::Dockerfile("Dockerfile.dockerignore".to_owned()),
            &["specific"],
        ),
        (None, None, IgnoreSource::Absent, &[]),
        // An empty Dockerfile-specific file still wins.
        (
            Some(b""),
            Some(b"context"),
            IgnoreSource::Dockerfile("Dockerfile.dockerignore".to_owned()),
            &[],
        ),
        (None, Some(b""), IgnoreSource::Context, &[]),
    ];
    for (specific, context, source, patterns) in rows {
        let resolved = resolve_ignore("Dockerfile", *specific, *context).unwrap();
        assert_eq!(&resolved.source, source, "{specific:?} {context:?}");
        assert_eq!(resolved.patterns, *patterns, "{specific:?} {context:?}");
    }
}

#[test]
fn parse_errors_name_the_file() {
    let long = "x".repeat(70_000);
    let err = resolve_ignore("app.Dockerfile", Some(long.as_bytes()), None).unwrap_err();
    assert!(
        matches!(&err, Error::IgnoreFile { name, .. } if name == "app.Dockerfile.dockerignore")
    );
    assert_eq!(
        err.to_string(),
        "failed parsing app.Dockerfile.dockerignore: line 1 of the ignore file is too long"
    );
    let err = resolve_ignore("Dockerfile", None, Some(long.as_bytes())).unwrap_err();
    assert!(matches!(&err, Error::IgnoreFile { name, .. } if name == ".dockerignore"));
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("hearth-dockerignore-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn reads_from_disk() {
    let dir = Scratch::new("disk");
    let context = dir.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    let dockerfile = dir.write("build/app.Dockerfile", "FROM scratch\n");

    let none = read_ignore_for_build(&context, &dockerfile).unwrap();
    assert_eq!(none.source, IgnoreSource::Absent);

    dir.write("ctx/.dockerignore", "from-context\n");
    let ctx = read_ignore_for_build(&context, &dockerfile).unwrap();
    assert_eq!(ctx.source, IgnoreSource::Context);
    assert_eq!(ctx.patterns, ["from-context"]);

    dir.write("build/app.Dockerfile.dockerignore", "/from-dockerfile/\n");
    let specific = read_ignore_for_build(&context, &dockerfile).unwrap();
    assert_eq!(
        specific.source,
        IgnoreSource::Dockerfile("app.Dockerfile.dockerignore".to_owned())
    );
    assert_eq!(specific.patterns, ["from-dockerfile"]);
}

#[test]
fn a_directory_in_place_of_the_file_counts_as_absent() {
    let dir = Scratch::new("isdir");
    std::fs::create_dir_all(dir.path().join(".dockerignore")).unwrap();
    let dockerfile = dir.write("Dockerfile", "FROM scratch\n");
    let resolved = read_ignore_for_build(dir.path(), &dockerfile).unwrap();
    assert_eq!(resolved.source, IgnoreSource::Absent);
}
