//! A busybox base image made from Debian's `busybox-static`, laid out like the official
//! image: one layer with `/bin/busybox`, every applet as a hard link beside it, and the
//! user database of the official image. amd64 uses the host's `/bin/busybox`; arm64 the
//! binary of Debian's `busybox-static:arm64` (`deb`), and both together make the
//! two-platform index Docker Hub serves for `busybox`.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use flate2::Compression;
use flate2::write::GzEncoder;
use hearth_core::Digest;

use crate::deb;
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

/// A platform the busybox image can be made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusyboxPlatform {
    /// linux/amd64, from the host's `/bin/busybox`.
    Amd64,
    /// linux/arm64/v8, from Debian's `busybox-static:arm64`.
    Arm64,
}

impl BusyboxPlatform {
    /// Every platform, in the order Docker Hub's index lists them.
    pub const ALL: [Self; 2] = [Self::Amd64, Self::Arm64];

    /// Reads `linux/amd64`, `linux/arm64` or `linux/arm64/v8`.
    pub fn parse(platform: &str) -> Result<Self, String> {
        match platform {
            "linux/amd64" => Ok(Self::Amd64),
            "linux/arm64" | "linux/arm64/v8" => Ok(Self::Arm64),
            other => Err(format!(
                "no busybox image for platform `{other}`: use linux/amd64 or linux/arm64"
            )),
        }
    }

    /// The architecture as Debian and OCI both name it.
    pub fn architecture(self) -> &'static str {
        match self {
            Self::Amd64 => "amd64",
            Self::Arm64 => "arm64",
        }
    }

    /// The OCI variant Docker Hub's busybox carries.
    pub fn variant(self) -> Option<&'static str> {
        match self {
            Self::Amd64 => None,
            Self::Arm64 => Some("v8"),
        }
    }

    /// `e_machine` of the ELF binary for this platform, checked so a layer never holds the
    /// wrong architecture's busybox.
    fn elf_machine(self) -> u16 {
        match self {
            Self::Amd64 => 62,
            Self::Arm64 => 183,
        }
    }

    fn binary(self) -> Result<Vec<u8>, String> {
        let binary = match self {
            Self::Amd64 => host_binary()?,
            Self::Arm64 => deb::busybox_binary(self.architecture())?,
        };
        let machine = binary
            .get(18..20)
            .filter(|_| binary.starts_with(b"\x7fELF"))
            .map(|m| u16::from_le_bytes([m[0], m[1]]));
        if machine != Some(self.elf_machine()) {
            return Err(format!(
                "the busybox binary for {} is not an ELF executable for that architecture",
                self.architecture()
            ));
        }
        Ok(binary)
    }

    /// The `platform` object of an index entry and the matching config fields.
    fn platform_json(self) -> serde_json::Value {
        let mut platform = serde_json::json!({"architecture": self.architecture(), "os": "linux"});
        if let (Some(variant), Some(map)) = (self.variant(), platform.as_object_mut()) {
            map.insert("variant".into(), variant.into());
        }
        platform
    }
}

fn host_binary() -> Result<Vec<u8>, String> {
    let busybox_path = Path::new("/bin/busybox");
    if !busybox_path.is_file() {
        return Err(
            "/bin/busybox is missing: install it with `apt-get install busybox-static`".into(),
        );
    }
    std::fs::read(busybox_path).map_err(|e| format!("reading /bin/busybox: {e}"))
}

/// The applets of the host's busybox. Foreign packages are fetched at the host's version,
/// so they have the same list, and no emulator is needed to ask them.
fn applets() -> Result<Vec<String>, String> {
    let list = Command::new(require("busybox", "busybox-static").map_err(|e| e.to_string())?)
        .arg("--list")
        .output()
        .map_err(|e| format!("running busybox --list: {e}"))?;
    Ok(String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(str::to_owned)
        .collect())
}

/// One platform's image: its blobs and the manifest naming them.
struct Image {
    layer: Vec<u8>,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

impl Image {
    fn make(platform: BusyboxPlatform, applets: &[String]) -> Result<Self, String> {
        let tar_bytes = layer_tar(&platform.binary()?, applets)?;
        let diff_id = Digest::of(&tar_bytes);
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&tar_bytes).map_err(|e| e.to_string())?;
        let layer = gz.finish().map_err(|e| e.to_string())?;

        let mut config = serde_json::json!({
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
        if let (Some(map), serde_json::Value::Object(platform)) =
            (config.as_object_mut(), platform.platform_json())
        {
            map.extend(platform);
        }
        let config = serde_json::to_vec(&config).map_err(|e| e.to_string())?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(&config).to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::of(&layer).to_string(), "size": layer.len()}]
        });
        let manifest = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
        Ok(Self {
            layer,
            config,
            manifest,
        })
    }
}

fn layer_tar(busybox: &[u8], applets: &[String]) -> Result<Vec<u8>, String> {
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
            busybox,
        )?;
        for applet in applets {
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
    Ok(tar_bytes)
}

/// Writes an OCI image layout for linux/amd64 busybox into `dir` (created if needed),
/// tagged `latest`. Returns the manifest digest.
pub fn write_busybox_layout(dir: &Path) -> Result<Digest, String> {
    write_busybox_platform_layout(dir, BusyboxPlatform::Amd64)
}

/// Writes an OCI image layout holding busybox for one `platform` into `dir`, tagged
/// `latest`: the layout's index names the image manifest directly. Returns the manifest
/// digest.
pub fn write_busybox_platform_layout(
    dir: &Path,
    platform: BusyboxPlatform,
) -> Result<Digest, String> {
    let image = Image::make(platform, &applets()?)?;
    let manifest_digest = Digest::of(&image.manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest.to_string(),
            "size": image.manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
            "platform": platform.platform_json()
        }]
    });
    write_layout(dir, &[&image.layer, &image.config, &image.manifest], &index)?;
    Ok(manifest_digest)
}

/// Writes an OCI image layout whose tag `latest` is an image index with one busybox image
/// per platform (as Docker Hub's `busybox` is), into `dir`. Push it with
/// [`crate::push_index_layout`]. Returns the index digest.
pub fn write_busybox_index_layout(
    dir: &Path,
    platforms: &[BusyboxPlatform],
) -> Result<Digest, String> {
    if platforms.is_empty() {
        return Err("an image index needs at least one platform".into());
    }
    let applets = applets()?;
    let images = platforms
        .iter()
        .map(|p| Image::make(*p, &applets))
        .collect::<Result<Vec<_>, _>>()?;
    let entries: Vec<serde_json::Value> = platforms
        .iter()
        .zip(&images)
        .map(|(platform, image)| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": Digest::of(&image.manifest).to_string(),
                "size": image.manifest.len(),
                "platform": platform.platform_json()
            })
        })
        .collect();
    let image_index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries
    }))
    .map_err(|e| e.to_string())?;
    let index_digest = Digest::of(&image_index);
    let layout_index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": index_digest.to_string(),
            "size": image_index.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"}
        }]
    });
    let mut blobs: Vec<&[u8]> = images
        .iter()
        .flat_map(|i| [&i.layer[..], &i.config[..], &i.manifest[..]])
        .collect();
    blobs.push(&image_index);
    write_layout(dir, &blobs, &layout_index)?;
    Ok(index_digest)
}

fn write_layout(dir: &Path, blobs: &[&[u8]], index: &serde_json::Value) -> Result<(), String> {
    let blob_dir = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blob_dir)
        .map_err(|e| format!("creating {}: {e}", blob_dir.display()))?;
    for data in blobs {
        let path = blob_dir.join(Digest::of(data).hex());
        std::fs::write(&path, data).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let write = |name: &str, data: &[u8]| {
        std::fs::write(dir.join(name), data).map_err(|e| format!("writing {name}: {e}"))
    };
    write("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    write(
        "index.json",
        &serde_json::to_vec(index).map_err(|e| e.to_string())?,
    )
}
