//! Cache that travels: two hearthd daemons on separate roots share one cache through a
//! real Distribution registry; the local-directory and inline forms round-trip too.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use hearth_testkit::Hearthd;
use support::{Env, info_value};

const DOCKERFILE: &str = "\
FROM busybox AS build
COPY src/ /src/
RUN cat /src/*.txt > /joined && echo built-in-stage > /stage-only

FROM busybox
RUN echo step > /step
COPY --from=build /joined /joined
COPY app.txt /app.txt
RUN cat /joined /app.txt > /final
CMD [\"cat\", \"/final\"]
";

fn context(env: &Env) -> std::path::PathBuf {
    env.dir(
        "ctx",
        &[
            ("Dockerfile", DOCKERFILE),
            ("src/a.txt", "alpha\n"),
            ("src/b.txt", "beta\n"),
            ("app.txt", "app v1\n"),
        ],
    )
}

/// Digests of blobs fetched with `GET …/blobs/sha256:…` among `requests`.
fn blob_gets(requests: &[(String, String, u16)]) -> Vec<String> {
    requests
        .iter()
        .filter(|(m, p, s)| m == "GET" && *s == 200 && p.contains("/blobs/sha256:"))
        .filter_map(|(_, p, _)| p.rsplit('/').next().map(str::to_owned))
        .collect()
}

/// The layer digests and the config digest of an image in the registry.
fn image_blobs(env: &Env, reference: &str) -> (Vec<String>, String) {
    let out = env.hearth_ok(
        &env.work.path().join("inspect-root"),
        &["imagetools", "inspect", "--raw", reference],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = doc["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    (layers, doc["config"]["digest"].as_str().unwrap().to_owned())
}

/// Step names of a plain progress log that ended `CACHED` (or `DONE`, with `ran`).
fn steps(log: &str, ending: &str) -> Vec<String> {
    let mut names = std::collections::HashMap::new();
    let mut out = Vec::new();
    for line in log.lines() {
        let Some((id, rest)) = line.split_once(' ') else {
            continue;
        };
        if !id.starts_with('#') {
            continue;
        }
        if rest.starts_with('[') {
            names
                .entry(id.to_owned())
                .or_insert_with(|| rest.to_owned());
        } else if rest == ending || rest.starts_with(&format!("{ending} ")) {
            if let Some(name) = names.get(id) {
                out.push(name.clone());
            }
        }
    }
    out
}

fn has_step(list: &[String], prefix: &str) -> bool {
    list.iter().any(|s| s.contains(prefix))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Daemons A and B, each on its own root and socket, sharing the registry.
fn two_daemons(env: &Env) -> (Hearthd, Hearthd) {
    let start = |name: &str| {
        Hearthd::start(
            &env.work.path().join(format!("root-{name}")),
            &env.work.path().join(format!("{name}.sock")),
            Some(&env.config),
        )
        .unwrap_or_else(|e| panic!("the test needs hearthd: {e}"))
    };
    (start("a"), start("b"))
}

fn build(env: &Env, addr: &str, ctx: &Path, extra: &[String]) -> String {
    let mut args = vec![
        "build".to_owned(),
        "--progress=plain".to_owned(),
        format!("--addr={addr}"),
    ];
    args.extend(extra.iter().cloned());
    args.push(ctx.to_str().unwrap().to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    stderr(&env.hearth_ok(&env.work.path().join("unused"), &args))
}

#[test]
fn a_second_daemon_rebuilds_from_the_first_ones_registry_cache() {
    let env = Env::new();
    let reg = env.registry.addr().to_owned();
    let cache_ref = format!("{reg}/cache/app:main");
    let ctx = context(&env);
    let (a, b) = two_daemons(&env);

    // A builds everything and exports every intermediate result.
    let log = build(
        &env,
        &a.address(),
        &ctx,
        &[format!(
            "--cache-to=type=registry,ref={cache_ref},mode=max,image-manifest=true,oci-mediatypes=true"
        )],
    );
    assert!(log.contains("exporting cache to registry"), "{log}");
    assert!(log.contains("wrote cache manifest sha256:"), "{log}");
    assert!(info_value(&env, &a.address(), "Containers run") >= 2);

    // B, empty, imports: every step is cached, no container starts, and the only layer
    // blobs downloaded are the final image's.
    let before = env.registry.requests().len();
    let log = build(
        &env,
        &b.address(),
        &ctx,
        &[
            format!("--cache-from=type=registry,ref={cache_ref}"),
            format!("--output=type=image,name={reg}/app:b,push=true"),
        ],
    );
    let during: Vec<_> = env.registry.requests()[before..].to_vec();
    let cached = steps(&log, "CACHED");
    for step in [
        "[build 2/3] COPY src/ /src/",
        "[build 3/3] RUN cat",
        "[stage-1 2/5] RUN echo step",
        "[stage-1 3/5] COPY --from=build /joined /joined",
        "[stage-1 4/5] COPY app.txt /app.txt",
        "[stage-1 5/5] RUN cat /joined",
    ] {
        assert!(has_step(&cached, step), "{step} is CACHED:\n{log}");
    }
    assert_eq!(
        info_value(&env, &b.address(), "Containers run"),
        0,
        "no container started on B:\n{log}\n{}",
        b.log()
    );
    let (final_layers, _) = image_blobs(&env, &format!("{reg}/app:b"));
    let fetched = blob_gets(&during);
    let layer_gets: Vec<&String> = fetched
        .iter()
        .filter(|d| final_layers.contains(d))
        .collect();
    let final_set: BTreeSet<&String> = final_layers.iter().collect();
    let got_set: BTreeSet<&String> = layer_gets.iter().copied().collect();
    assert_eq!(
        got_set, final_set,
        "each final layer downloaded: {during:?}"
    );
    assert_eq!(
        layer_gets.len(),
        final_layers.len(),
        "once each: {during:?}"
    );
    // Anything else fetched is a config: busybox's (planning) and the cache's.
    let others: Vec<&String> = fetched
        .iter()
        .filter(|d| !final_layers.contains(d))
        .collect();
    assert!(
        others.len() <= 2,
        "besides the final layers only configs are fetched: {others:?}"
    );
    let cache_manifest_layers = {
        let out = env.hearth_ok(
            &env.work.path().join("inspect-root"),
            &["imagetools", "inspect", "--raw", &cache_ref],
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            doc["config"]["mediaType"],
            "application/vnd.hearth.cache.config.v1+json"
        );
        doc["layers"].as_array().unwrap().len()
    };
    assert!(
        cache_manifest_layers > final_layers.len(),
        "mode=max carries the build stage's layers too ({cache_manifest_layers} vs {})",
        final_layers.len()
    );
    for other in &others {
        assert!(
            !final_layers.contains(other),
            "{other} is not a final layer and must not be a layer blob of the cache"
        );
    }

    // du on B lists the imported results it did not need; they take no space.
    let du = env.hearth_ok(
        &env.work.path().join("unused"),
        &["du", "--verbose", &format!("--addr={}", b.address())],
    );
    let du_text = String::from_utf8_lossy(&du.stdout).into_owned();
    assert!(
        du_text.contains("not downloaded"),
        "imported records show in du:\n{du_text}"
    );

    // One file changes: B re-runs only what depends on it and exports again; the
    // export uploads only the new blobs.
    std::fs::write(ctx.join("app.txt"), "app v2\n").unwrap();
    let uploads_before = env.registry.blob_uploads();
    let log = build(
        &env,
        &b.address(),
        &ctx,
        &[
            format!("--cache-from=type=registry,ref={cache_ref}"),
            format!("--cache-to=type=registry,ref={cache_ref},mode=max"),
        ],
    );
    let ran = steps(&log, "DONE");
    assert_eq!(
        info_value(&env, &b.address(), "Containers run"),
        1,
        "only the final RUN runs again:\n{log}"
    );
    assert!(has_step(&ran, "[stage-1 4/5] COPY app.txt"), "{log}");
    assert!(has_step(&ran, "[stage-1 5/5] RUN cat"), "{log}");
    for kept in ["[build 3/3]", "[stage-1 2/5]", "[stage-1 3/5]"] {
        assert!(!has_step(&ran, kept), "{kept} stays cached:\n{log}");
    }
    let uploaded = env.registry.blob_uploads() - uploads_before;
    // New: the COPY app.txt layer, the final RUN's layer and the cache config.
    assert_eq!(uploaded, 3, "only new blobs are uploaded:\n{log}");

    // prune removes imported records like local ones.
    let prune = env.hearth_ok(
        &env.work.path().join("unused"),
        &["prune", "--all", &format!("--addr={}", b.address())],
    );
    let prune_text = String::from_utf8_lossy(&prune.stdout).into_owned();
    let du = env.hearth_ok(
        &env.work.path().join("unused"),
        &["du", "--verbose", &format!("--addr={}", b.address())],
    );
    let du_text = String::from_utf8_lossy(&du.stdout).into_owned();
    assert!(
        !du_text.contains("not downloaded"),
        "prune removed the imports ({prune_text}):\n{du_text}"
    );
}

#[test]
fn a_local_directory_cache_round_trips_with_its_cache_mounts() {
    let env = Env::new();
    let ctx = env.dir(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY app.txt /app.txt\nRUN --mount=type=cache,target=/var/cache/pkg sh -c 'cat /var/cache/pkg/log 2>/dev/null; echo run >> /var/cache/pkg/log; cp /var/cache/pkg/log /seen'\nRUN cat /app.txt > /final\n",
            ),
            ("app.txt", "local cache\n"),
        ],
    );
    let dir = env.work.path().join("cache-dir");
    let first = env.work.path().join("first-root");
    let second = env.work.path().join("second-root");
    let out = env.work.path().join("out-1");
    env.hearth_ok(
        &first,
        &[
            "build",
            "--progress=plain",
            &format!(
                "--cache-to=type=local,dest={},mode=max,cache-mounts=true",
                dir.display()
            ),
            &format!("--output=type=local,dest={}", out.display()),
            ctx.to_str().unwrap(),
        ],
    );
    assert!(dir.join("index.json").is_file());
    assert!(dir.join("oci-layout").is_file());
    let out2 = env.work.path().join("out-2");
    let log = stderr(&env.hearth_ok(
        &second,
        &[
            "build",
            "--progress=plain",
            &format!("--cache-from=type=local,src={}", dir.display()),
            &format!("--output=type=local,dest={}", out2.display()),
            ctx.to_str().unwrap(),
        ],
    ));
    assert!(
        !log.contains("warning: not using cache"),
        "the cache was read:\n{log}"
    );
    let cached = steps(&log, "CACHED");
    for step in [
        "2/4] COPY app.txt",
        "3/4] RUN --mount=type=cache",
        "4/4] RUN cat /app.txt",
    ] {
        assert!(has_step(&cached, step), "{step} cached:\n{log}");
    }
    for file in ["final", "seen", "app.txt"] {
        assert_eq!(
            std::fs::read(out.join(file)).unwrap(),
            std::fs::read(out2.join(file)).unwrap(),
            "{file} is the same"
        );
    }

    // The cache mount came along: a step that misses sees the first root's log.
    std::fs::write(ctx.join("app.txt"), "changed\n").unwrap();
    let out3 = env.work.path().join("out-3");
    env.hearth_ok(
        &second,
        &[
            "build",
            "--progress=plain",
            "--no-cache",
            &format!("--cache-from=type=local,src={}", dir.display()),
            &format!("--output=type=local,dest={}", out3.display()),
            ctx.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(out3.join("seen")).unwrap(),
        "run\nrun\n",
        "the restored cache mount held the first run's line"
    );
}

#[test]
fn an_inline_cache_travels_in_the_pushed_image() {
    let env = Env::new();
    let reg = env.registry.addr().to_owned();
    let ctx = context(&env);
    let image = format!("{reg}/inline/app:1");
    // A cache that does not exist yet (a first CI run) is a warning, not a failure.
    let first = stderr(&env.hearth_ok(
        &env.work.path().join("first-root"),
        &[
            "build",
            "--progress=plain",
            &format!("--cache-from={reg}/inline/app:missing"),
            "--cache-to=type=inline",
            &format!("--output=type=image,name={image},push=true"),
            ctx.to_str().unwrap(),
        ],
    ));
    assert!(
        first.contains(&format!(
            "warning: not using cache {reg}/inline/app:missing"
        )),
        "{first}"
    );
    let log = stderr(&env.hearth_ok(
        &env.work.path().join("second-root"),
        &[
            "build",
            "--progress=plain",
            &format!("--cache-from={image}"),
            ctx.to_str().unwrap(),
        ],
    ));
    assert!(
        has_step(&steps(&log, "CACHED"), "[stage-1 5/5] RUN cat /joined"),
        "the final step came from the inline cache:\n{log}"
    );
    assert!(
        !has_step(&steps(&log, "DONE"), "[build 3/3] RUN"),
        "min mode: the build stage is not needed either:\n{log}"
    );
}

fn blob_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join("blobs").join("sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_local_directory_cache_round_trips_between_two_daemons_through_their_clients() {
    let env = Env::new();
    let ctx = context(&env);
    let dir = env.work.path().join("client-cache");
    let (a, b) = two_daemons(&env);
    let out_a = env.work.path().join("out-a");
    build(
        &env,
        &a.address(),
        &ctx,
        &[
            format!("--cache-to=type=local,dest={},mode=max", dir.display()),
            format!("--output=type=local,dest={}", out_a.display()),
        ],
    );
    // The client wrote the directory: an OCI layout with one tag.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    assert!(!dir.join("hearth-cache-entry.json").exists());
    let blobs_after_a = blob_files(&dir);

    // B, empty, reads the client's directory: everything cached, nothing run, same files.
    let out_b = env.work.path().join("out-b");
    let log = build(
        &env,
        &b.address(),
        &ctx,
        &[
            format!("--cache-from=type=local,src={}", dir.display()),
            format!("--output=type=local,dest={}", out_b.display()),
        ],
    );
    let cached = steps(&log, "CACHED");
    for step in ["[build 3/3] RUN cat", "[stage-1 5/5] RUN cat /joined"] {
        assert!(has_step(&cached, step), "{step} is CACHED:\n{log}");
    }
    assert_eq!(info_value(&env, &b.address(), "Containers run"), 0, "{log}");
    assert_eq!(tree(&out_a), tree(&out_b), "the same result");

    // A change, then B exports to the same directory: only new blobs arrive, the tag moves.
    std::fs::write(ctx.join("app.txt"), "app v3\n").unwrap();
    let log = build(
        &env,
        &b.address(),
        &ctx,
        &[
            format!("--cache-from=type=local,src={}", dir.display()),
            format!("--cache-to=type=local,dest={},mode=max", dir.display()),
        ],
    );
    assert_eq!(info_value(&env, &b.address(), "Containers run"), 1, "{log}");
    let new: Vec<String> = blob_files(&dir)
        .difference(&blobs_after_a)
        .cloned()
        .collect();
    // COPY app.txt and the final RUN's layers, the cache config and manifest.
    assert_eq!(new.len(), 4, "new blobs {new:?}:\n{log}");
    assert!(
        log.contains("sent 2 of"),
        "only the two new layers crossed the wire:\n{log}"
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
}
