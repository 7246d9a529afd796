//! `hearth imagetools create` and `inspect` against real Distribution registries: images
//! of two platforms, built by hearth into two registries, become one index in a third
//! repository, read back with skopeo (and copied whole with `skopeo copy --all`, which
//! needs every child manifest and blob in the target repository); `--append`, a missing
//! source and `--dry-run` are checked against the registry's request log.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use hearth_testkit::Registry;
use serde_json::Value;
use support::Env;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn skopeo(args: &[&str]) -> std::process::Output {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn raw(reference: &str) -> (Vec<u8>, Value) {
    let bytes = hearth_testkit::inspect_raw(reference).unwrap();
    let doc = serde_json::from_slice(&bytes).unwrap();
    (bytes, doc)
}

/// `(platform, mediaType, digest)` of each entry of an index document.
fn entries(index: &Value) -> Vec<(String, String, String)> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            (
                format!(
                    "{}/{}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                ),
                m["mediaType"].as_str().unwrap().to_owned(),
                m["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Requests that change a registry (anything but GET and HEAD).
fn writes(registry: &Registry) -> Vec<(String, String, u16)> {
    registry
        .requests()
        .into_iter()
        .filter(|(m, _, _)| m != "GET" && m != "HEAD")
        .collect()
}

/// Two single-platform images built by hearth (`FROM scratch` + `COPY`, nothing to run):
/// linux/arm64 with OCI media types in the environment's registry as `team/a:1`, and
/// linux/amd64 with Docker media types in a second registry as `team/b:1`.
struct Images {
    env: Env,
    other: Registry,
    root: PathBuf,
    arm64: String,
    amd64: String,
}

impl Images {
    fn build() -> Self {
        let env = Env::new();
        let other =
            Registry::start().unwrap_or_else(|e| panic!("the test needs a second registry: {e}"));
        let ctx = env.dir(
            "ctx",
            &[
                (
                    "Dockerfile",
                    "FROM scratch\nARG TARGETARCH\nCOPY note.txt /note-$TARGETARCH.txt\n",
                ),
                ("note.txt", "combined by imagetools\n"),
            ],
        );
        let root = env.work.path().join("root");
        let arm64 = format!("{}/team/a:1", env.registry.addr());
        let amd64 = format!("{}/team/b:1", other.addr());
        for (platform, output) in [
            (
                "linux/arm64",
                format!("type=image,name={arm64},push=true,oci-mediatypes=true"),
            ),
            ("linux/amd64", format!("type=image,name={amd64},push=true")),
        ] {
            env.hearth_ok(
                &root,
                &[
                    "build",
                    "--progress",
                    "plain",
                    "--platform",
                    platform,
                    "-o",
                    &output,
                    ctx.to_str().unwrap(),
                ],
            );
        }
        Self {
            env,
            other,
            root,
            arm64,
            amd64,
        }
    }

    fn hearth(&self, args: &[&str]) -> std::process::Output {
        self.env.hearth(&self.root, args).output().unwrap()
    }

    fn hearth_ok(&self, args: &[&str]) -> std::process::Output {
        self.env.hearth_ok(&self.root, args)
    }

    /// The manifest digest `reference` has now.
    fn digest(&self, reference: &str) -> String {
        let (bytes, _) = raw(reference);
        hearth_core::Digest::of(&bytes).to_string()
    }
}

#[test]
fn create_copies_images_from_two_registries_into_one_index_that_skopeo_copies_whole() {
    let images = Images::build();
    let reg = images.env.registry.addr().to_owned();
    let target = format!("{reg}/team/c:1");
    let arm64_digest = images.digest(&images.arm64);
    let amd64_digest = images.digest(&images.amd64);
    let uploads_before = images.env.registry.blob_uploads();

    let out = images.hearth_ok(&[
        "imagetools",
        "create",
        "--progress",
        "plain",
        "-t",
        &target,
        "-t",
        &format!("{reg}/team/c:latest"),
        &images.arm64,
        &images.amd64,
    ]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(&format!("[internal] pushing {reg}/team/c")),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "copying {amd64_digest} from {} to {reg}/team/c",
            images.amd64
        )),
        "{log}"
    );

    // What skopeo reads: an OCI index (one entry is OCI) listing both images by the
    // digests their builds pushed, with the platforms their configurations declare.
    let (bytes, index) = raw(&target);
    let digest = hearth_core::Digest::of(&bytes).to_string();
    assert_eq!(index["mediaType"], OCI_INDEX);
    assert_eq!(
        entries(&index),
        [
            (
                "linux/arm64".to_owned(),
                OCI_MANIFEST.to_owned(),
                arm64_digest
            ),
            (
                "linux/amd64".to_owned(),
                DOCKER_MANIFEST.to_owned(),
                amd64_digest.clone()
            ),
        ]
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{target}: digest: {digest}\n{reg}/team/c:latest: digest: {digest}\n")
    );
    assert_eq!(images.digest(&format!("{reg}/team/c:latest")), digest);
    // buildx's layout: indented by two spaces.
    assert!(
        String::from_utf8_lossy(&bytes).starts_with("{\n  \"schemaVersion\": 2,\n"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );

    // The same-registry image's blobs were mounted; the other registry's were uploaded
    // (streamed through hearth), and nothing else was.
    let mounted = images
        .env
        .registry
        .requests()
        .into_iter()
        .filter(|(m, p, s)| {
            m == "POST" && p.starts_with("/v2/team/c/") && p.contains("from=team") && *s == 201
        })
        .count();
    assert_eq!(mounted, 2, "config and layer of team/a");
    assert_eq!(
        images.env.registry.blob_uploads(),
        uploads_before + 2,
        "config and layer of the other registry's image"
    );

    // Every child and blob is in team/c: skopeo copies the whole index from there.
    let oci_dir = images.env.work.path().join("copied");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{target}"),
        &format!("oci:{}:c", oci_dir.display()),
    ]);
    let config = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--config",
        &format!("docker://{reg}/team/c@{amd64_digest}"),
    ]);
    let config: Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(config["architecture"], "amd64");

    // hearth's own view: every platform, each entry named by digest; --raw is the bytes.
    let shown = images.hearth_ok(&["imagetools", "inspect", &target]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains(&format!("Digest:    {digest}\n")), "{shown}");
    assert!(shown.contains("\nManifests: \n"), "{shown}");
    assert!(
        shown.contains(&format!("  Name:      {target}@{amd64_digest}\n")),
        "{shown}"
    );
    assert!(shown.contains("  Platform:  linux/arm64\n"), "{shown}");
    assert!(shown.contains("  Platform:  linux/amd64\n"), "{shown}");
    let shown_raw = images.hearth_ok(&["imagetools", "inspect", "--raw", &target]);
    assert_eq!(
        shown_raw.stdout, bytes,
        "--raw prints the stored bytes exactly"
    );
}

#[test]
fn append_adds_the_first_tags_manifests_and_lists_a_repeated_digest_once() {
    let images = Images::build();
    let reg = images.env.registry.addr().to_owned();
    let target = format!("{reg}/team/c:1");
    let amd64_digest = images.digest(&images.amd64);
    let arm64_digest = images.digest(&images.arm64);

    // One Docker manifest alone: wrapped in a Docker manifest list (--prefer-index).
    images.hearth_ok(&["imagetools", "create", "-t", &target, &images.amd64]);
    let (_, index) = raw(&target);
    assert_eq!(index["mediaType"], DOCKER_LIST);
    assert_eq!(entries(&index).len(), 1);

    images.hearth_ok(&[
        "imagetools",
        "create",
        "--append",
        "-t",
        &target,
        &images.arm64,
    ]);
    let (_, index) = raw(&target);
    assert_eq!(index["mediaType"], OCI_INDEX, "an OCI entry joined");
    let platforms = |index: &Value| {
        entries(index)
            .into_iter()
            .map(|(p, _, d)| (p, d))
            .collect::<Vec<_>>()
    };
    let both = vec![
        ("linux/amd64".to_owned(), amd64_digest.clone()),
        ("linux/arm64".to_owned(), arm64_digest),
    ];
    assert_eq!(platforms(&index), both);

    // Appending an image the index already lists changes nothing.
    let before = images.digest(&target);
    images.hearth_ok(&[
        "imagetools",
        "create",
        "--append",
        "-t",
        &target,
        &images.amd64,
    ]);
    let (bytes, index) = raw(&target);
    assert_eq!(platforms(&index), both);
    assert_eq!(hearth_core::Digest::of(&bytes).to_string(), before);
}

#[test]
fn a_missing_source_is_named_and_nothing_is_written() {
    let images = Images::build();
    let reg = images.env.registry.addr().to_owned();
    let missing = format!("{reg}/team/nope:1");
    let before = writes(&images.env.registry);
    let out = images.hearth(&[
        "imagetools",
        "create",
        "-t",
        &format!("{reg}/team/c:1"),
        &images.arm64,
        &missing,
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{missing}: not found")),
        "the error names the source: {stderr}"
    );
    assert_eq!(writes(&images.env.registry), before);

    // An unreachable registry is named too.
    let out = images.hearth(&[
        "imagetools",
        "create",
        "-t",
        &format!("{reg}/team/c:1"),
        "127.0.0.1:1/team/gone:1",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reading source 127.0.0.1:1/team/gone:1"),
        "{stderr}"
    );
}

#[test]
fn dry_run_prints_the_index_a_push_would_store_and_pushes_nothing() {
    let images = Images::build();
    let reg = images.env.registry.addr().to_owned();
    let target = format!("{reg}/team/c:1");
    let (before, other_before) = (writes(&images.env.registry), writes(&images.other));
    let args = [
        "imagetools",
        "create",
        "-t",
        &target,
        &images.amd64,
        &images.arm64,
    ];
    let mut dry = args.to_vec();
    dry.insert(2, "--dry-run");
    let out = images.hearth_ok(&dry);
    assert_eq!(writes(&images.env.registry), before, "nothing pushed");
    assert_eq!(writes(&images.other), other_before);
    let shown = out.stdout.strip_suffix(b"\n").unwrap().to_vec();
    let doc: Value = serde_json::from_slice(&shown).unwrap();
    assert_eq!(entries(&doc).len(), 2);
    assert!(
        hearth_testkit::inspect_raw(&target).is_err(),
        "no tag was written"
    );

    // The real run stores exactly the document the dry run showed.
    images.hearth_ok(&args);
    let (stored, _) = raw(&target);
    assert_eq!(stored, shown);
}

#[test]
fn a_bare_digest_and_a_descriptor_file_are_sources_of_the_one_repository_involved() {
    let images = Images::build();
    let reg = images.env.registry.addr().to_owned();
    let arm64_digest = images.digest(&images.arm64);
    let target = format!("{reg}/team/a:multi");

    let out = images.hearth_ok(&[
        "imagetools",
        "create",
        "--dry-run",
        "-t",
        &target,
        &arm64_digest,
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        entries(&doc),
        [(
            "linux/arm64".to_owned(),
            OCI_MANIFEST.to_owned(),
            arm64_digest.clone()
        )]
    );

    // A descriptor's platform and annotations replace what the image says.
    let file = images.env.work.path().join("source.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"digest": "{arm64_digest}", "platform": {{"os": "linux", "architecture": "arm64", "variant": "v8"}}, "annotations": {{"note": "from a file"}}}}"#
        ),
    )
    .unwrap();
    images.hearth_ok(&[
        "imagetools",
        "create",
        "-t",
        &target,
        "-f",
        file.to_str().unwrap(),
    ]);
    let (_, index) = raw(&target);
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], arm64_digest.as_str());
    assert_eq!(entry["platform"]["variant"], "v8");
    assert_eq!(entry["annotations"]["note"], "from a file");

    // With two repositories involved, a bare digest has no home.
    let out = images.hearth(&[
        "imagetools",
        "create",
        "-t",
        &format!("{reg}/team/c:1"),
        &arm64_digest,
        &images.amd64,
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "multiple repositories specified, cannot infer repository for \"{arm64_digest}\""
        )),
        "{stderr}"
    );
}
