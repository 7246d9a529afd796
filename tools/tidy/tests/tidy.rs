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

/// One `### `hearth-xyz`` heading of ARCHITECTURE.md's code map, where the document has it.
struct MapEntry {
    line: usize,
    text: String,
}

/// The crates of the code map in the document's order, each with its heading line.
fn code_map(text: &str) -> Vec<(String, MapEntry)> {
    let mut in_map = false;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("## ") {
            in_map = line == "## Code map";
            continue;
        }
        let Some(rest) = line.strip_prefix("### `").filter(|_| in_map) else {
            continue;
        };
        let name = rest.split('`').next().unwrap_or_default().to_owned();
        let entry = MapEntry {
            line: i + 1,
            text: line.to_owned(),
        };
        entries.push((name, entry));
    }
    entries
}

/// A workspace member and its dependencies on other members.
struct Member {
    name: String,
    /// `(dependency, kind)` with cargo's kind: `None` (normal), `"build"` or `"dev"`.
    deps: Vec<(String, Option<String>)>,
}

/// Workspace members as cargo reads the manifests (renamed, target-specific and
/// inherited dependencies included).
fn workspace_members() -> Vec<Member> {
    let root = repo_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let members: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().expect("package name"))
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter_map(|d| {
                    let name = d["name"].as_str().expect("dependency name");
                    let kind = d["kind"].as_str().map(str::to_owned);
                    members.contains(&name).then(|| (name.to_owned(), kind))
                })
                .collect();
            Member {
                name: p["name"].as_str().expect("name").to_owned(),
                deps,
            }
        })
        .collect()
}

#[test]
fn architecture_map_names_every_crate() {
    // The code map is the newcomer's index: every workspace member has its heading,
    // and a heading names a crate that exists.
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let map = code_map(&text);
    let crates = workspace_members();
    let missing: Vec<&str> = crates
        .iter()
        .map(|member| member.name.as_str())
        .filter(|name| !map.iter().any(|(m, _)| m == name))
        .collect();
    let stale: Vec<String> = map
        .iter()
        .filter(|(m, _)| !crates.iter().any(|member| &member.name == m))
        .map(|(_, e)| format!("ARCHITECTURE.md:{}: {}", e.line, e.text))
        .collect();
    assert!(
        missing.is_empty(),
        "workspace crates without a `### `name` (path)` heading in ARCHITECTURE.md's \
         \"Code map\": {missing:?}; add one where its dependencies allow (after every \
         crate it uses, before every crate that uses it)"
    );
    assert!(
        stale.is_empty(),
        "code map headings naming no workspace crate:\n{}",
        stale.join("\n")
    );
}

#[test]
fn dependencies_point_up_the_code_map() {
    // ARCHITECTURE.md's code map is a topological order: a crate uses only crates listed
    // above it, so the list can be read top-down without forward references. Normal and
    // build dependencies count. Dev-dependencies do not: they link only into the crate's
    // test targets, which are separate crates at the top of the graph, so a test may drive
    // its crate through a higher layer (the registry's tests use hearth-testkit) without a
    // cycle in anything that ships.
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let map = code_map(&text);
    let position = |name: &str| map.iter().position(|(m, _)| m == name);
    let mut violations = Vec::new();
    for Member { name, deps } in workspace_members() {
        // A crate without a heading is reported by architecture_map_names_every_crate.
        let Some(at) = position(&name) else { continue };
        for (dep, kind) in deps {
            if kind.as_deref() == Some("dev") {
                continue;
            }
            let Some(dep_at) = position(&dep) else {
                continue;
            };
            if dep_at > at {
                let (user, used) = (&map[at].1, &map[dep_at].1);
                violations.push(format!(
                    "{name} depends on {dep}{}, which is listed after it:\n  \
                     ARCHITECTURE.md:{}: {}\n  ARCHITECTURE.md:{}: {}",
                    kind.map(|k| format!(" ({k})")).unwrap_or_default(),
                    user.line,
                    user.text,
                    used.line,
                    used.text,
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "ARCHITECTURE.md's code map must list a crate after every crate it depends on \
         (move the heading, or drop the dependency):\n{}",
        violations.join("\n")
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
