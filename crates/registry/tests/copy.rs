//! Copying manifests between repositories of real Distribution registries: a whole index
//! to another registry (children first, blobs streamed, in chunks too), into a repository
//! of the same registry (blobs mounted), and again (nothing written). skopeo reads the
//! copies back.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::process::Command;
use std::sync::Arc;

use hearth_registry::{
    BlobOutcome, Client, Copied, Descriptor, NoCredentials, PushOptions, RegistryConfig,
    SourceContent, media_type,
};
use support::{Layout, Registry};

/// Requests that change a registry (anything but GET and HEAD).
fn writes(registry: &Registry) -> usize {
    registry
        .requests()
        .iter()
        .filter(|(m, _, _)| m != "GET" && m != "HEAD")
        .count()
}

fn skopeo_copies_all(reference: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--all", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:copy", dir.path().display()))
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    assert!(
        out.status.success(),
        "skopeo copy --all {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn outcomes(copied: &Copied) -> Vec<BlobOutcome> {
    match copied {
        Copied::Copied { blobs } => blobs.iter().map(|(_, o)| o.clone()).collect(),
        other => panic!("expected a copy, got {other:?}"),
    }
}

#[tokio::test]
async fn an_index_is_copied_whole_across_registries_mounted_within_one_and_only_once() {
    let (source, target) = (Registry::start(), Registry::start());
    let layout = Layout::new();
    let amd64 = layout.image("linux/amd64", "amd64 copy\n");
    let arm64 = layout.image("linux/arm64", "arm64 copy, a little longer\n");
    let index = layout.index(&[amd64.clone(), arm64.clone()]);
    layout.tag("v1", &index);
    layout.push("v1", &format!("{}/src/app:v1", source.host()));
    let client = Client::new(RegistryConfig::default(), Arc::new(NoCredentials)).unwrap();
    let ignore = |_| {};

    let fetched = client
        .fetch_source(&format!("{}/src/app:v1", source.host()))
        .await
        .unwrap();
    assert_eq!(fetched.descriptor.digest, index.digest);
    assert_eq!(fetched.descriptor.media_type, media_type::OCI_INDEX);
    assert_eq!(fetched.bytes, index.bytes);
    let SourceContent::Index { entries, .. } = &fetched.content else {
        panic!("an index: {fetched:?}");
    };
    assert_eq!(entries.len(), 2);

    // To another registry: both images' configs and layers travel, then each child and
    // the index are stored by digest.
    let from = format!("{}/src/app", source.host());
    let to = format!("{}/dst/app", target.host());
    let copied = client
        .copy_manifest(
            &from,
            &fetched.descriptor,
            &to,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(outcomes(&copied), vec![BlobOutcome::Uploaded; 4]);
    skopeo_copies_all(&format!("{to}@{}", index.digest));

    // Again: the target has it, nothing is written.
    let before = writes(&target);
    let again = client
        .copy_manifest(
            &from,
            &fetched.descriptor,
            &to,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(again, Copied::Present);
    assert_eq!(writes(&target), before);

    // In chunks, read back from the staged file at each offset. A new client: this one
    // knows dst/app holds the blobs and would mount them from there.
    let client = Client::new(RegistryConfig::default(), Arc::new(NoCredentials)).unwrap();
    let chunked = format!("{}/chunked/app", target.host());
    let options = PushOptions {
        chunk_size: Some(100),
        ..PushOptions::default()
    };
    let arm64_entry: &Descriptor = entries
        .iter()
        .find(|e| e.digest == arm64.manifest.digest)
        .unwrap();
    let copied = client
        .copy_manifest(&from, arm64_entry, &chunked, &options, &ignore)
        .await
        .unwrap();
    assert_eq!(outcomes(&copied), vec![BlobOutcome::Uploaded; 2]);
    let patches = target
        .requests()
        .iter()
        .filter(|(m, p, s)| m == "PATCH" && p.starts_with("/v2/chunked/app/") && *s == 202)
        .count();
    assert!(patches > 2, "{:?}", target.requests());
    skopeo_copies_all(&format!("{chunked}@{}", arm64.manifest.digest));

    // Within one registry: mounted, nothing uploaded.
    let sibling = format!("{}/sibling/app", source.host());
    let copied = client
        .copy_manifest(
            &from,
            &fetched.descriptor,
            &sibling,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    for outcome in outcomes(&copied) {
        assert_eq!(
            outcome,
            BlobOutcome::Mounted {
                from: "src/app".to_owned()
            }
        );
    }
    skopeo_copies_all(&format!("{sibling}@{}", index.digest));

    // Into its own repository: nothing to do.
    let same = client
        .copy_manifest(
            &from,
            &fetched.descriptor,
            &from,
            &PushOptions::default(),
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(same, Copied::SameRepository);
}
