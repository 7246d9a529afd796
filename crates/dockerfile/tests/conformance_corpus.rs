//! Every public conformance case must parse and lower; error cases must fail at the
//! line that causes the error; and for the others the image configuration the
//! frontend computes must equal the one BuildKit v0.24 produced.
//!
//! The base image configuration comes from the suite's real busybox image tarball,
//! so ENV, CMD and friends are checked against BuildKit exactly. Filesystem results
//! need the engine and are checked by the engine's tests.

// Test helpers may panic: a panic here is a test failure with its message.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use hearth_core::image::ImageConfig;
use hearth_core::{Digest, Platform};
use hearth_dockerfile::{BuildOptions, ImageResolver, ResolvedImage};
use serde_json::Value;

/// Cases whose error only shows when the build runs (a missing file, a failing
/// command); the frontend must accept them.
const RUNTIME_ERROR_CASES: &[(&str, &str)] = &[
    (
        "err-copy-missing-source",
        "the context is only read when the COPY runs",
    ),
    (
        "err-run-exit-code",
        "the command's exit code is only known after running it",
    ),
];

fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    dir.is_dir().then_some(dir)
}

/// Serves the suite's busybox image (from `base/busybox-oci.tar`) for every FROM.
struct TarballResolver {
    config: ImageConfig,
    digest: Digest,
}

impl TarballResolver {
    fn load(tarball: &Path) -> Self {
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut archive =
            tar::Archive::new(std::fs::File::open(tarball).expect("base image tarball"));
        for entry in archive.entries().expect("tar entries") {
            let mut entry = entry.expect("tar entry");
            let name = entry
                .path()
                .expect("entry path")
                .to_string_lossy()
                .into_owned();
            if entry.size() < 1 << 20 {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("read entry");
                files.insert(name, data);
            }
        }
        let blob = |digest: &str| {
            files[&format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))].clone()
        };
        let index: Value = serde_json::from_slice(&files["index.json"]).expect("index.json");
        let manifest_digest = index["manifests"][0]["digest"]
            .as_str()
            .expect("manifest digest")
            .to_owned();
        let manifest: Value = serde_json::from_slice(&blob(&manifest_digest)).expect("manifest");
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .expect("config digest");
        let config: ImageConfig =
            serde_json::from_slice(&blob(config_digest)).expect("image config");
        Self {
            config,
            digest: manifest_digest.parse().expect("digest"),
        }
    }
}

impl ImageResolver for TarballResolver {
    fn resolve(&self, reference: &str, _platform: &Platform) -> Result<ResolvedImage, String> {
        if !reference.contains("busybox") {
            return Err(format!(
                "{reference}: not found (only busybox is available in this test)"
            ));
        }
        Ok(ResolvedImage {
            digest: Some(self.digest),
            config: self.config.clone(),
        })
    }
}

struct Case {
    name: String,
    dir: PathBuf,
    dockerfile: String,
    target: Option<String>,
    /// `platform =`: the case builds for this platform (`--platform`), not the host's.
    platform: Option<Platform>,
    build_args: BTreeMap<String, String>,
    expect_error: bool,
    error_contains: String,
}

fn load_cases(root: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("cases/public"))
        .expect("cases dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let meta: toml::Table = std::fs::read_to_string(dir.join("case.toml"))
            .expect("case.toml")
            .parse()
            .expect("valid case.toml");
        let string = |key: &str| meta.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let build_args = meta
            .get("build_args")
            .and_then(|v| v.as_table())
            .map(|t| {
                t.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        cases.push(Case {
            name: dir
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned(),
            dockerfile: string("dockerfile").unwrap_or_else(|| "Dockerfile".to_owned()),
            target: string("target").filter(|t| !t.is_empty()),
            platform: string("platform")
                .filter(|p| !p.is_empty())
                .map(|p| Platform::parse(&p).expect("a valid platform in case.toml")),
            build_args,
            expect_error: meta
                .get("expect_error")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            error_contains: string("error_contains").unwrap_or_default(),
            dir,
        });
    }
    cases
}

fn options_for(case: &Case) -> BuildOptions {
    let dockerfile_path = case.dir.join(&case.dockerfile);
    let ignore = hearth_dockerignore::fs::read_ignore_for_build(&case.dir, &dockerfile_path)
        .expect("dockerignore");
    let mut options = BuildOptions::for_host();
    options.build_platform = Platform::new("linux", "amd64", "");
    options.target = case.target.clone();
    if let Some(platform) = &case.platform {
        options.target_platform = Some(platform.clone());
    }
    options.build_args = case.build_args.clone();
    options.dockerignore = ignore.patterns;
    options
}

/// The fields of the image config the suite compares, as `normalize.py` selects them.
fn config_subset(image: &ImageConfig) -> Value {
    let json = serde_json::to_value(image).expect("config to json");
    let config = json.get("config").cloned().unwrap_or(Value::Null);
    let mut out = serde_json::Map::new();
    for key in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "Labels",
        "StopSignal",
        "Shell",
        "Healthcheck",
        "OnBuild",
    ] {
        if let Some(v) = config.get(key).filter(|v| !is_empty(v)) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    for key in ["architecture", "os"] {
        if let Some(v) = json.get(key).filter(|v| !is_empty(v)) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[test]
fn public_conformance_cases_parse_lower_and_configure_like_buildkit() {
    let Some(root) = shared_dir() else {
        eprintln!("SKIPPED: ../shared/conformance is not present beside the repository");
        return;
    };
    let resolver = TarballResolver::load(&root.join("base/busybox-oci.tar"));
    let cases = load_cases(&root);
    assert!(
        cases.len() >= 60,
        "expected the public suite, found {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut checked_configs = 0;
    for case in &cases {
        let text = std::fs::read_to_string(case.dir.join(&case.dockerfile)).expect("Dockerfile");
        let options = options_for(case);
        let result = hearth_dockerfile::plan(&text, &options, &resolver);
        match (case.expect_error, result) {
            (false, Ok(plan)) => {
                let expected: Value = serde_json::from_str(
                    &std::fs::read_to_string(case.dir.join("expected.json"))
                        .expect("expected.json"),
                )
                .expect("expected json");
                let got = config_subset(&plan.image);
                if got != expected["config"] {
                    failures.push(format!(
                        "{}: config differs\n  got:  {}\n  want: {}",
                        case.name, got, expected["config"]
                    ));
                }
                checked_configs += 1;
            }
            (false, Err(diags)) => {
                failures.push(format!("{}: unexpected errors: {diags}", case.name))
            }
            (true, Ok(_)) => {
                if !RUNTIME_ERROR_CASES.iter().any(|(n, _)| *n == case.name) {
                    failures.push(format!(
                        "{}: expected a frontend error, but the Dockerfile lowered",
                        case.name
                    ));
                }
            }
            (true, Err(diags)) => {
                let Some(first) = diags.errors().next() else {
                    failures.push(format!("{}: failed without an error diagnostic", case.name));
                    continue;
                };
                if !first
                    .message
                    .to_lowercase()
                    .contains(&case.error_contains.to_lowercase())
                {
                    failures.push(format!(
                        "{}: error {:?} lacks {:?}",
                        case.name, first.message, case.error_contains
                    ));
                    continue;
                }
                // The line is right if blanking it makes this error go away.
                let blanked: String = text
                    .lines()
                    .enumerate()
                    .map(|(i, line)| {
                        if (first.lines.start..=first.lines.end).contains(&(i + 1)) {
                            "# blanked"
                        } else {
                            line
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                if let Err(again) = hearth_dockerfile::plan(&blanked, &options, &resolver)
                    && again.errors().any(|d| d.message == first.message)
                {
                    failures.push(format!(
                        "{}: error at line {} persists without that line: {}",
                        case.name, first.lines.start, first.message
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        checked_configs >= 55,
        "only {checked_configs} configs compared"
    );
}
