//! A secret reaches the step that mounts it and nothing else: no blob, layer, cache
//! record, history entry, output or log line holds its bytes.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use hearth_engine::{Export, ExportKind, ImageFormat};
use hearth_worker::SecretSource;
use rand::Rng;
use rand::distr::Alphanumeric;
use support::{Env, build, request};

fn random_secret() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

/// Whether any needle occurs in `data`, or in `data` decompressed when it is gzip.
fn holds(data: &[u8], needles: &[&[u8]]) -> bool {
    let found = |d: &[u8]| needles.iter().any(|n| memchr::memmem::find(d, n).is_some());
    if found(data) {
        return true;
    }
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        if flate2::read::MultiGzDecoder::new(data)
            .read_to_end(&mut plain)
            .is_ok()
        {
            return found(&plain);
        }
    }
    false
}

/// Every file under `dir` (names included) that holds a needle; hard links are read once.
fn files_holding(dir: &Path, needles: &[&[u8]]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.unwrap();
        let path = entry.path();
        if holds(path.as_os_str().as_encoded_bytes(), needles) {
            found.push(path.to_path_buf());
        }
        let meta = entry.metadata().unwrap();
        if entry.file_type().is_file()
            && seen.insert((meta.dev(), meta.ino()))
            && holds(&std::fs::read(path).unwrap(), needles)
        {
            found.push(path.to_path_buf());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_appears_in_no_blob_layer_record_history_output_or_log() {
    let env = Env::new();
    let file_secret = random_secret();
    let env_secret = random_secret();
    let sha = |s: &str| hearth_core::Digest::of(s.as_bytes()).hex();
    let dockerfile = format!(
        "FROM busybox
RUN --mount=type=secret,id=token test \"$(sha256sum < /run/secrets/token | cut -d' ' -f1)\" = {file_sha} && echo file-ok > /file-ok
RUN --mount=type=secret,id=token,env=TOKEN,target=/etc/app/token test \"$(printf %s \"$TOKEN\" | sha256sum | cut -d' ' -f1)\" = {file_sha} && cp /etc/app/token /dev/null && echo env-ok > /env-ok
RUN --mount=type=secret,id=fromenv,required=true test \"$(sha256sum < /run/secrets/fromenv | cut -d' ' -f1)\" = {env_sha} && echo envsource-ok > /envsource-ok
RUN --mount=type=cache,target=/cache --mount=type=secret,id=token sh -c 'ls /cache > /dev/null'
",
        file_sha = sha(&file_secret),
        env_sha = sha(&env_secret),
    );
    let ctx = env.context("ctx", &[("Dockerfile", &dockerfile)]);
    let secret_file = env.work.path().join("token.txt");
    std::fs::write(&secret_file, &file_secret).unwrap();
    let var = "HEARTH_TEST_SECRET_FROM_ENV";
    // SAFETY: this test binary has this single test, so no other thread reads the
    // environment while it is changed; an `env=` secret can only come from there.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var(var, &env_secret)
    };

    let out = env.work.path().join("out");
    let exports = vec![
        Export {
            kind: ExportKind::DockerArchive {
                dest: out.join("docker.tar"),
            },
            names: vec!["docker.io/library/secret-test:latest".into()],
            format: ImageFormat::default(),
            push: false,
        },
        Export {
            kind: ExportKind::OciDir {
                dest: out.join("oci"),
            },
            names: Vec::new(),
            format: ImageFormat::default(),
            push: false,
        },
        Export {
            kind: ExportKind::Local {
                dest: out.join("files"),
            },
            names: Vec::new(),
            format: ImageFormat::default(),
            push: false,
        },
        Export {
            kind: ExportKind::Store,
            names: vec!["docker.io/library/secret-test:latest".into()],
            format: ImageFormat::default(),
            push: false,
        },
    ];
    let mut req = request(&ctx, exports);
    req.secrets = BTreeMap::from([
        ("token".to_owned(), SecretSource::File(secret_file.clone())),
        ("fromenv".to_owned(), SecretSource::Env(var.to_owned())),
    ]);
    let engine = env.engine().await;
    let report = build(&engine, req.clone()).await;
    report.expect_ok();
    // The steps really read the secrets: each wrote its marker only if the hash matched.
    for marker in ["file-ok", "env-ok", "envsource-ok"] {
        assert!(
            out.join("files").join(marker).is_file(),
            "{marker} missing: the step did not see the secret"
        );
    }
    // Run again from the cache, then once more without it, so cache paths are covered too.
    build(&engine, req.clone()).await.expect_ok();
    let mut no_cache = req;
    no_cache.options.no_cache = hearth_dockerfile::NoCache::All;
    build(&engine, no_cache).await.expect_ok();
    drop(engine);

    let needles = [file_secret.as_bytes(), env_secret.as_bytes()];
    let in_root = files_holding(env.root.path(), &needles);
    assert!(
        in_root.is_empty(),
        "a secret is in the state root: {in_root:?}"
    );
    let in_outputs = files_holding(&out, &needles);
    assert!(
        in_outputs.is_empty(),
        "a secret is in the outputs: {in_outputs:?}"
    );
    let events = format!("{:?}", report.events);
    assert!(
        !holds(events.as_bytes(), &needles),
        "a secret is in the progress events"
    );
    assert!(
        !holds(&report.logs(), &needles),
        "a secret is in a log line"
    );
    // The scan itself finds what it looks for: the secret file holds the secret.
    assert_eq!(files_holding(env.work.path(), &needles), vec![secret_file]);
}
