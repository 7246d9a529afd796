//! A busybox base image made from Debian's `busybox-static`, laid out like the official
//! image: one layer with `/bin/busybox`, every applet as a hard link beside it, and the
//! user database of the official image.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use flate2::Compression;
use flate2::write::GzEncoder;
use hearth_core::Digest;

use crate::process::require;

/// The repository tests push the image to (`FROM busybox` through a docker.io mirror).
pub const BUSYBOX_REPOSITORY: &str = "library/busybox";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nbin:x:2:2:bin:/bin:/bin/false\nsys:x:3:3:sys:/dev:/bin/false\nsync:x:4:100:sync:/bin:/bin/sync\nmail:x:8:8:mail:/var/spool/mail:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\noperator:x:37:37:Operator:/var:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n";
const GROUP: &str = "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\nlp:x:7:\nmail:x:8:\nkmem:x:9:\nwheel:x:10:root\ncdrom:x:11:\ndialout:x:18:\nfloppy:x:19:\nvideo:x:28:\naudio:x:29:\ntape:x:32:\nwww-data:x:33:\noperator:x:37:\nutmp:x:43:\nplugdev:x:46:\nstaff:x:50:\nlock:x:54:\nnetdev:x:82:\nusers:x:100:\nnogroup:x:65534:\n";
/// A fixed time for every entry, so the image is the same on every machine.
const MTIME: u64 = 1_700_000_000;

fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(size);
    let _ = h.set_path(path);
    h
}

/// Writes an OCI image layout for linux/amd64 busybox into `dir` (created if needed),
/// tagged `latest`. Returns the manifest digest.
pub fn write_busybox_layout(dir: &Path) -> Result<Digest, String> {
    let busybox_path = Path::new("/bin/busybox");
    if !busybox_path.is_file() {
        return Err(
            "/bin/busybox is missing: install it with `apt-get install busybox-static`".into(),
        );
    }
    let busybox = std::fs::read(busybox_path).map_err(|e| format!("reading /bin/busybox: {e}"))?;
    let list = Command::new(require("busybox", "busybox-static").map_err(|e| e.to_string())?)
        .arg("--list")
        .output()
        .map_err(|e| format!("running busybox --list: {e}"))?;
    let applets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(str::to_owned)
        .collect();

    let mut tar_bytes = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar_bytes);
        let mut add = |mut h: tar::Header, data: &[u8]| {
            h.set_cksum();
            builder
                .append(&h, data)
                .map_err(|e| format!("building the layer: {e}"))
        };
        for (d, mode) in [
            ("bin/", 0o755),
            ("dev/", 0o755),
            ("etc/", 0o755),
            ("home/", 0o755),
            ("root/", 0o700),
            ("tmp/", 0o1777),
            ("usr/", 0o755),
            ("usr/sbin/", 0o755),
            ("var/", 0o755),
            ("var/spool/", 0o755),
            ("var/spool/mail/", 0o755),
            ("var/www/", 0o755),
        ] {
            add(header(d, tar::EntryType::Directory, mode, 0), &[])?;
        }
        add(
            header(
                "bin/busybox",
                tar::EntryType::Regular,
                0o755,
                busybox.len() as u64,
            ),
            &busybox,
        )?;
        for applet in &applets {
            let mut h = header(&format!("bin/{applet}"), tar::EntryType::Link, 0o755, 0);
            h.set_link_name("bin/busybox")
                .map_err(|e| format!("link {applet}: {e}"))?;
            add(h, &[])?;
        }
        add(
            header(
                "etc/passwd",
                tar::EntryType::Regular,
                0o644,
                PASSWD.len() as u64,
            ),
            PASSWD.as_bytes(),
        )?;
        add(
            header(
                "etc/group",
                tar::EntryType::Regular,
                0o644,
                GROUP.len() as u64,
            ),
            GROUP.as_bytes(),
        )?;
        builder
            .finish()
            .map_err(|e| format!("building the layer: {e}"))?;
    }
    let diff_id = Digest::of(&tar_bytes);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&tar_bytes).map_err(|e| e.to_string())?;
    let layer = gz.finish().map_err(|e| e.to_string())?;

    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"]
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [
            {"created": "2023-11-14T22:13:20Z", "created_by": "busybox-static from Debian, laid out by hearth-testkit"},
            {"created": "2023-11-14T22:13:20Z", "created_by": "CMD [\"sh\"]", "empty_layer": true}
        ]
    });
    let config = serde_json::to_vec(&config).map_err(|e| e.to_string())?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(&config).to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::of(&layer).to_string(), "size": layer.len()}]
    });
    let manifest = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    let manifest_digest = Digest::of(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest.to_string(),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
            "platform": {"architecture": "amd64", "os": "linux"}
        }]
    });

    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| format!("creating {}: {e}", blobs.display()))?;
    for data in [&layer, &config, &manifest] {
        let path = blobs.join(Digest::of(data).hex());
        std::fs::write(&path, data).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let write = |name: &str, data: &[u8]| {
        std::fs::write(dir.join(name), data).map_err(|e| format!("writing {name}: {e}"))
    };
    write("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    write(
        "index.json",
        &serde_json::to_vec(&index).map_err(|e| e.to_string())?,
    )?;
    Ok(manifest_digest)
}
