//! Replays the file operations of the public conformance cases about COPY, ADD and
//! file metadata on the suite's real busybox base, and compares the resulting file
//! tree with what BuildKit v0.24 produced (`expected.json`): type, mode, owner,
//! size, sha256 and link target of every added or changed path.
//!
//! The actions are written out the way the Dockerfile frontend lowers each
//! instruction; the few `RUN` steps the cases need are done directly, and paths only
//! a `RUN` produces in a container (`/dev`, `/proc`, `/sys`) are left out.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use common::{dockerfile_copy, plain_copy};
use hearth_fileops::{copy, mkdir, mkfile, resolve_owner};
use hearth_graph::op::{Chmod, Chown, MkdirAction, MkfileAction, UserRef};
use serde_json::{Value, json};
use sha2::Digest as _;

fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    dir.is_dir().then_some(dir)
}

/// One Dockerfile instruction, as the file operations it lowers to.
enum Step {
    /// `COPY`/`ADD [--chown] [--chmod] src... dest` from the context; `dest` already
    /// made absolute against the working directory.
    Copy {
        srcs: &'static [&'static str],
        dest: &'static str,
        chown: Option<&'static str>,
        chmod: Option<&'static str>,
        add: bool,
    },
    /// `COPY [--chmod] <<NAME ... dest`: each document is a file in a scratch
    /// filesystem, copied without following links or expanding wildcards.
    Heredoc {
        docs: &'static [(&'static str, &'static str)],
        dest: &'static str,
        chmod: Option<&'static str>,
    },
    /// `WORKDIR`: a mkdir with parents, mode 0755.
    Workdir(&'static str),
    /// What a `RUN` left in the filesystem.
    Run(fn(&Path)),
}

fn cp(srcs: &'static [&'static str], dest: &'static str) -> Step {
    Step::Copy {
        srcs,
        dest,
        chown: None,
        chmod: None,
        add: false,
    }
}

fn chmod(value: &str) -> Chmod {
    match u32::from_str_radix(value, 8) {
        Ok(bits) => Chmod::Octal(bits),
        Err(_) => Chmod::Symbolic(value.to_owned()),
    }
}

/// The frontend's `--chown` parsing (`root` and non-negative numbers are ids).
fn chown(spec: &str) -> Chown {
    let to_ref = |s: &str| match s.parse::<u32>() {
        _ if s == "root" => UserRef::Id(0),
        Ok(id) => UserRef::Id(id),
        Err(_) => UserRef::Name(s.to_owned()),
    };
    match spec.split_once(':') {
        Some((user, group)) => Chown {
            user: Some(to_ref(user)),
            group: Some(to_ref(group)),
        },
        None => Chown {
            user: Some(to_ref(spec)),
            group: None,
        },
    }
}

fn apply(step: &Step, context: &Path, root: &Path) -> Result<(), hearth_fileops::FileOpError> {
    match step {
        Step::Copy {
            srcs,
            dest,
            chown: owner,
            chmod: mode,
            add,
        } => {
            let owner = owner.map(|spec| resolve_owner(&chown(spec), Some(root)).unwrap());
            for src in *srcs {
                let mut action = dockerfile_copy(&format!("/{src}"), dest);
                action.attempt_unpack = *add;
                action.mode = mode.map(chmod);
                copy(context, root, &action, owner)?;
            }
        }
        Step::Heredoc {
            docs,
            dest,
            chmod: mode,
        } => {
            for (name, data) in *docs {
                let scratch = tempfile::tempdir().unwrap();
                let file = format!("/{name}");
                mkfile(
                    scratch.path(),
                    &MkfileAction {
                        path: file.clone(),
                        mode: 0o644,
                        data: (*data).to_owned(),
                        owner: None,
                    },
                    None,
                )?;
                let mut action = plain_copy(&file, dest);
                action.mode = mode.map(chmod);
                copy(scratch.path(), root, &action, None)?;
            }
        }
        Step::Workdir(path) => mkdir(
            root,
            &MkdirAction {
                path: (*path).to_owned(),
                mode: 0o755,
                make_parents: true,
                owner: None,
            },
            None,
        )?,
        Step::Run(run) => run(root),
    }
    Ok(())
}

fn append(root: &Path, path: &str, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join(path))
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn write_file(root: &Path, path: &str, text: &str) {
    std::fs::write(root.join(path), text).unwrap();
    std::fs::set_permissions(root.join(path), std::fs::Permissions::from_mode(0o644)).unwrap();
}

fn mkdir_p(root: &Path, path: &str) {
    std::fs::create_dir_all(root.join(path)).unwrap();
    std::fs::set_permissions(root.join(path), std::fs::Permissions::from_mode(0o755)).unwrap();
}

struct Case {
    name: &'static str,
    steps: Vec<Step>,
    /// Context entries the case's `case.toml` adds.
    mkdirs: &'static [&'static str],
    symlinks: &'static [(&'static str, &'static str)],
    /// Paths (and everything below) left out of the comparison.
    ignore: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    const RUN_ONLY: &[&str] = &["dev", "proc", "sys"];
    vec![
        Case {
            name: "copy-chmod",
            steps: vec![
                Step::Copy {
                    srcs: &["f.txt"],
                    dest: "/exec.txt",
                    chown: None,
                    chmod: Some("0755"),
                    add: false,
                },
                Step::Copy {
                    srcs: &["f.txt"],
                    dest: "/private.txt",
                    chown: None,
                    chmod: Some("600"),
                    add: false,
                },
                Step::Copy {
                    srcs: &["dir"],
                    dest: "/dir640/",
                    chown: None,
                    chmod: Some("640"),
                    add: false,
                },
                Step::Copy {
                    srcs: &["f.txt"],
                    dest: "/setuid.txt",
                    chown: None,
                    chmod: Some("4755"),
                    add: false,
                },
            ],
            mkdirs: &[],
            symlinks: &[],
            ignore: &[],
        },
        Case {
            name: "copy-chown-names",
            steps: vec![
                Step::Run(|root| {
                    append(
                        root,
                        "etc/passwd",
                        "app:x:1001:2002:app user:/home/app:/bin/sh\n",
                    );
                    append(root, "etc/group", "appgrp:x:2002:\n");
                    append(root, "etc/group", "other:x:3003:\n");
                }),
                Step::Copy {
                    srcs: &["f.txt"],
                    dest: "/nobody-nogroup.txt",
                    chown: Some("nobody:nogroup"),
                    chmod: None,
                    add: false,
                },
                Step::Copy {
                    srcs: &["f.txt"],
                    dest: "/app-only.txt",
                    chown: Some("app"),
                    chmod: None,
                    add: false,
                },
                Step::Copy {
                    srcs: &["f.txt"],
                    dest: "/app-other.txt",
                    chown: Some("app:other"),
                    chmod: None,
                    add: false,
                },
                Step::Copy {
                    srcs: &["dir"],
                    dest: "/app-dir/",
                    chown: Some("app"),
                    chmod: None,
                    add: false,
                },
            ],
            mkdirs: &[],
            symlinks: &[],
            ignore: RUN_ONLY,
        },
        Case {
            name: "copy-chown-numeric",
            steps: vec![
                Step::Copy {
                    srcs: &["f.txt"],
                    dest: "/both.txt",
                    chown: Some("1234:5678"),
                    chmod: None,
                    add: false,
                },
                Step::Copy {
                    srcs: &["f.txt"],
                    dest: "/uid-only.txt",
                    chown: Some("4321"),
                    chmod: None,
                    add: false,
                },
                Step::Copy {
                    srcs: &["dir"],
                    dest: "/numeric-dir",
                    chown: Some("0:65534"),
                    chmod: None,
                    add: false,
                },
                Step::Copy {
                    srcs: &["f.txt"],
                    dest: "/from-arg.txt",
                    chown: Some("777:888"),
                    chmod: None,
                    add: false,
                },
            ],
            mkdirs: &[],
            symlinks: &[],
            ignore: &[],
        },
        Case {
            name: "copy-dest-rules",
            steps: vec![
                cp(&["a.txt"], "/renamed.txt"),
                cp(&["a.txt"], "/into-dir/"),
                cp(&["a.txt", "b.txt"], "/multi/"),
                Step::Workdir("/work"),
                cp(&["a.txt"], "/work/relative.txt"),
                cp(&["a.txt"], "/work/dot/"),
                cp(&["b.txt"], "/work/."),
            ],
            mkdirs: &[],
            symlinks: &[],
            ignore: &[],
        },
        Case {
            name: "copy-dir-contents",
            steps: vec![
                cp(&["dir"], "/contents/"),
                cp(&["dir/"], "/contents-slash"),
                cp(&["dir/sub"], "/sub-only"),
                cp(&["."], "/everything/"),
            ],
            mkdirs: &[],
            symlinks: &[],
            ignore: &[],
        },
        Case {
            name: "copy-link",
            steps: vec![
                cp(&["f.txt"], "/linked/f.txt"),
                cp(&["dir"], "/linked-dir/"),
                cp(&["f.txt"], "/etc/"),
                Step::Run(|root| write_file(root, "linked/after.txt", "after\n")),
            ],
            mkdirs: &[],
            symlinks: &[],
            ignore: RUN_ONLY,
        },
        Case {
            name: "copy-merge-existing",
            steps: vec![
                Step::Run(|root| {
                    mkdir_p(root, "existing");
                    write_file(root, "existing/keep.txt", "old\n");
                    write_file(root, "existing/replace.txt", "old\n");
                }),
                cp(&["src/"], "/existing/"),
                cp(&["src/."], "/dot-contents"),
                cp(&["single.txt"], "/existing/replace.txt"),
            ],
            mkdirs: &[],
            symlinks: &[],
            ignore: RUN_ONLY,
        },
        Case {
            name: "copy-spaces-unicode",
            steps: vec![
                cp(&["my file.txt"], "/dest dir/"),
                cp(&["dir with space"], "/spaced/"),
                cp(&["café.txt"], "/unicode/"),
                cp(&["my*file.txt"], "/glob-space/"),
            ],
            mkdirs: &[],
            symlinks: &[],
            ignore: &[],
        },
        Case {
            name: "copy-wildcards",
            steps: vec![
                cp(&["*.txt"], "/txt/"),
                cp(&["f?.md"], "/q/"),
                cp(&["sub/*/leaf"], "/leaves/"),
                cp(&["[ab].*"], "/class/"),
            ],
            mkdirs: &[],
            symlinks: &[],
            ignore: &[],
        },
        Case {
            name: "fs-permissions",
            steps: vec![
                cp(&["script.sh"], "/script.sh"),
                cp(&["emptydir"], "/emptydir/"),
                cp(&["tree"], "/tree"),
            ],
            mkdirs: &["emptydir", "tree/empty"],
            symlinks: &[],
            ignore: &["dev", "proc", "sys", "perm"],
        },
        Case {
            name: "fs-symlinks",
            steps: vec![
                Step::Run(|root| {
                    std::os::unix::fs::symlink("/etc/passwd", root.join("passwd-link")).unwrap();
                    std::os::unix::fs::symlink("../relative/target", root.join("rel-dangling"))
                        .unwrap();
                }),
                cp(&["dir"], "/copied-dir/"),
                cp(&["link-to-real"], "/followed.txt"),
                cp(&["link-dir"], "/through-link-dir/"),
                Step::Run(|root| {
                    mkdir_p(root, "real-target");
                    std::os::unix::fs::symlink("/real-target", root.join("linked-dest")).unwrap();
                }),
                cp(&["real.txt"], "/linked-dest/"),
            ],
            mkdirs: &[],
            symlinks: &[
                ("link-to-real", "real.txt"),
                ("dir/link-rel", "inner.txt"),
                ("dir/abs-link", "/etc/passwd"),
                ("link-dir", "dir"),
            ],
            ignore: RUN_ONLY,
        },
        Case {
            name: "add-local-tar",
            steps: vec![
                Step::Copy {
                    srcs: &["files.tar"],
                    dest: "/srv/",
                    chown: None,
                    chmod: None,
                    add: true,
                },
                Step::Copy {
                    srcs: &["bundle.tar.gz"],
                    dest: "/opt/",
                    chown: None,
                    chmod: None,
                    add: true,
                },
                cp(&["bundle.tar.gz"], "/copied/"),
                Step::Copy {
                    srcs: &["plain.txt"],
                    dest: "/added-plain.txt",
                    chown: None,
                    chmod: None,
                    add: true,
                },
            ],
            mkdirs: &[],
            symlinks: &[],
            ignore: &[],
        },
        Case {
            name: "heredoc-copy",
            steps: vec![
                Step::Heredoc {
                    docs: &[("EOF", "hello world\n")],
                    dest: "/greeting.txt",
                    chmod: None,
                },
                Step::Heredoc {
                    docs: &[("EOF1", "first\n"), ("EOF2", "second\n")],
                    dest: "/multi/",
                    chmod: None,
                },
                Step::Heredoc {
                    docs: &[("EOF", "#!/bin/sh\necho \"$1 ${NAME}\"\n")],
                    dest: "/usr/local/bin/tool",
                    chmod: Some("0755"),
                },
            ],
            mkdirs: &[],
            symlinks: &[],
            ignore: &[],
        },
    ]
}

/// Unpacks the suite's busybox image into `root`.
fn unpack_base(shared: &Path, root: &Path) {
    let mut outer =
        tar::Archive::new(std::fs::File::open(shared.join("base/busybox-oci.tar")).unwrap());
    let mut blobs: HashMap<String, Vec<u8>> = HashMap::new();
    for entry in outer.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        blobs.insert(name, data);
    }
    let blob = |digest: &str| {
        blobs
            .get(&format!(
                "blobs/sha256/{}",
                digest.trim_start_matches("sha256:")
            ))
            .unwrap()
    };
    let index: Value = serde_json::from_slice(&blobs["index.json"]).unwrap();
    let manifest: Value =
        serde_json::from_slice(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        let data = blob(layer["digest"].as_str().unwrap());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&data[..]));
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_unpack_xattrs(false);
        archive.unpack(root).unwrap();
    }
}

/// normalize.py's view of a tree: one JSON object per path, hard links
/// canonicalised to the lexicographically smallest path of each inode.
fn snapshot(root: &Path) -> BTreeMap<String, Value> {
    let mut paths = Vec::new();
    collect(root, root, &mut paths);
    let mut groups: HashMap<u64, Vec<String>> = HashMap::new();
    for (rel, meta) in &paths {
        if meta.is_file() && meta.nlink() > 1 {
            groups.entry(meta.ino()).or_default().push(rel.clone());
        }
    }
    let mut hashes: HashMap<u64, String> = HashMap::new();
    let mut out = BTreeMap::new();
    for (rel, meta) in &paths {
        let mode = format!("{:04o}", meta.mode() & 0o7777);
        let mut value = json!({"uid": meta.uid(), "gid": meta.gid(), "mode": mode});
        let ft = meta.file_type();
        if ft.is_dir() {
            value["type"] = json!("dir");
        } else if ft.is_symlink() {
            value["type"] = json!("symlink");
            let target = std::fs::read_link(root.join(rel)).unwrap();
            value["linkname"] = json!(target.to_string_lossy());
        } else if ft.is_file() {
            let sha = hashes
                .entry(meta.ino())
                .or_insert_with(|| {
                    hex::encode(sha2::Sha256::digest(std::fs::read(root.join(rel)).unwrap()))
                })
                .clone();
            value["sha256"] = json!(sha);
            value["size"] = json!(meta.len());
            value["type"] = json!("file");
            if let Some(group) = groups.get(&meta.ino()) {
                let first = group.iter().min().unwrap();
                if first != rel {
                    value["type"] = json!("hardlink");
                    value["linkname"] = json!(first);
                }
            }
        } else {
            value["type"] = json!("other");
        }
        out.insert(rel.clone(), value);
    }
    out
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, std::fs::Metadata)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let is_dir = meta.is_dir();
        out.push((rel, meta));
        if is_dir {
            collect(root, &path, out);
        }
    }
}

/// Stages the case's context like the suite's harness: a copy without the case's
/// metadata files, modes normalised to 0755/0644, then `case.toml`'s additions.
fn stage(case_dir: &Path, case: &Case, context: &Path) {
    copy_tree(case_dir, context, true);
    for d in case.mkdirs {
        mkdir_p(context, d);
    }
    for (link, target) in case.symlinks {
        let p = context.join(link);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    }
}

fn copy_tree(from: &Path, to: &Path, top: bool) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if top && (name == "case.toml" || (name.starts_with("expected") && name.ends_with(".json")))
        {
            continue;
        }
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        let dest = to.join(&name);
        if meta.is_dir() {
            copy_tree(&entry.path(), &dest, false);
        } else if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
            let mode = if meta.mode() & 0o100 != 0 {
                0o755
            } else {
                0o644
            };
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

fn ignored(path: &str, ignore: &[&str]) -> bool {
    ignore
        .iter()
        .any(|i| path == *i || path.starts_with(&format!("{i}/")))
}

#[test]
fn public_copy_cases_produce_buildkits_trees() {
    let Some(shared) = shared_dir() else {
        eprintln!("SKIPPED: ../shared/conformance is not present beside the repository");
        return;
    };
    let base_dir = tempfile::tempdir().unwrap();
    unpack_base(&shared, base_dir.path());
    let base = snapshot(base_dir.path());
    assert!(base.contains_key("bin/busybox"), "busybox base unpacked");

    let mut failures = Vec::new();
    for case in cases() {
        let case_dir = shared.join("cases/public").join(case.name);
        let expected: Value =
            serde_json::from_slice(&std::fs::read(case_dir.join("expected.json")).unwrap())
                .unwrap();
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("root");
        let context = work.path().join("context");
        unpack_base(&shared, &root);
        stage(&case_dir, &case, &context);
        for step in &case.steps {
            apply(step, &context, &root).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        }
        let after = snapshot(&root);
        for kind in ["added", "changed"] {
            let mut got = BTreeMap::new();
            for (path, value) in &after {
                let is_kind = match base.get(path) {
                    None => kind == "added",
                    Some(old) => kind == "changed" && old != value,
                };
                if is_kind && !ignored(path, case.ignore) {
                    got.insert(path.clone(), value.clone());
                }
            }
            let want: BTreeMap<String, Value> = expected["diff"][kind]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(path, _)| !ignored(path, case.ignore))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if got != want {
                let keys: std::collections::BTreeSet<&String> =
                    got.keys().chain(want.keys()).collect();
                for key in keys {
                    if got.get(key) != want.get(key) {
                        failures.push(format!(
                            "{} {kind} {key}: got {:?}, want {:?}",
                            case.name,
                            got.get(key),
                            want.get(key)
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn missing_source_case_fails_with_not_found() {
    let Some(shared) = shared_dir() else {
        eprintln!("SKIPPED: ../shared/conformance is not present beside the repository");
        return;
    };
    let case_dir = shared.join("cases/public/err-copy-missing-source");
    let work = tempfile::tempdir().unwrap();
    let context = work.path().join("context");
    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    copy_tree(&case_dir, &context, true);
    apply(&cp(&["present.txt"], "/"), &context, &root).unwrap();
    let err = apply(&cp(&["does-not-exist.txt"], "/"), &context, &root).unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    assert!(err.to_string().contains("/does-not-exist.txt"), "{err}");
}
