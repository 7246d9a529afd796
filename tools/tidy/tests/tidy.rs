//! Rules that keep the code base in the shape ARCHITECTURE.md describes. They run with
//! the rest of the tests so a rule is never a matter of memory.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_sources() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = Vec::new();
    for dir in ["crates", "tools", "fuzz/fuzz_targets"] {
        if root.join(dir).is_dir() {
            rust_files(&root.join(dir), &mut files);
        }
    }
    files.sort();
    files
}

#[test]
fn every_file_starts_with_a_module_doc() {
    let missing: Vec<String> = all_sources()
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).expect("read");
            !text.trim_start().starts_with("//!")
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` module doc:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_should_panic_or_ignored_tests() {
    // A test that expects a panic hides which panic; an ignored test is a test that
    // does not run. Assert the behaviour instead, or delete the test.
    let banned = ["#[should_panic", "#[ignore"];
    let mut found = Vec::new();
    for path in all_sources() {
        let text = std::fs::read_to_string(&path).expect("read");
        for (i, line) in text.lines().enumerate() {
            if banned.iter().any(|b| line.trim_start().starts_with(b)) {
                found.push(format!("{}:{}", path.display(), i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "banned test attributes:\n{}",
        found.join("\n")
    );
}

#[test]
fn architecture_map_names_every_crate() {
    let root = repo_root();
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).expect("crates dir") {
        let dir = entry.expect("entry").path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
        let name = manifest
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("package name")
            .to_owned();
        if !map.contains(&format!("`{name}`")) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "crates missing from ARCHITECTURE.md's code map: {missing:?}"
    );
}

#[test]
fn library_crates_do_not_use_anyhow() {
    // Libraries return typed errors; only the binaries add context with anyhow.
    let root = repo_root();
    let mut offenders = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).expect("crates dir") {
        let dir = entry.expect("entry").path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
        let is_binary = manifest.contains("[[bin]]");
        let deps = manifest
            .split("[dev-dependencies]")
            .next()
            .unwrap_or_default();
        if !is_binary && deps.lines().any(|l| l.trim_start().starts_with("anyhow")) {
            offenders.push(dir.display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "library crates depending on anyhow: {offenders:?}"
    );
}

#[test]
fn trees_are_removed_only_through_fsroot() {
    // `std::fs::remove_dir_all` descends into mount points (a leftover bind mount of a
    // cache or a host directory would be emptied); hearth_fsroot::remove_tree refuses to
    // and is the one removal every crate uses (ARCHITECTURE.md, "Trust boundaries").
    // Test code may use it on its own temporary directories.
    let root = repo_root();
    let mut found = Vec::new();
    for path in all_sources() {
        if !path.starts_with(root.join("crates"))
            || !path.components().any(|c| c.as_os_str() == "src")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (i, line) in code.lines().enumerate() {
            if line.contains("remove_dir_all(") && !line.trim_start().starts_with("//") {
                found.push(format!("{}:{}", path.display(), i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "remove_dir_all outside tests (use hearth_fsroot::remove_tree):\n{}",
        found.join("\n")
    );
}
