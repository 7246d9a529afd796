//! The image configuration document (`application/vnd.oci.image.config.v1+json`), with
//! the Docker extensions BuildKit writes (`Healthcheck`, `OnBuild`, `Shell`,
//! `ArgsEscaped`).
//!
//! Field names, order and omission rules follow the JSON that BuildKit's Go types
//! produce (`omitempty` becomes `skip_serializing_if`), so a config hearth writes reads
//! the same to docker, skopeo and registries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Digest;

/// An empty JSON object, the value type of `ExposedPorts` and `Volumes` maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EmptyObject {}

/// The runtime defaults of an image (`config` in the image JSON).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// `user`, `uid`, `user:group` or `uid:gid`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    /// Ports as `port/proto`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: BTreeMap<String, EmptyObject>,
    /// `KEY=value` entries in definition order.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    /// The entrypoint argv.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub entrypoint: Vec<String>,
    /// The default arguments.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cmd: Vec<String>,
    /// Paths declared as volumes.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, EmptyObject>,
    /// Working directory.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    /// Labels.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Signal sent to stop the container.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub stop_signal: String,
    /// Docker's marker that `Cmd` came from a Dockerfile (kept for compatibility).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub args_escaped: bool,
    /// Health check (Docker extension).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<Healthcheck>,
    /// ONBUILD triggers (Docker extension).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub on_build: Vec<String>,
    /// Shell for shell-form commands (Docker extension).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub shell: Vec<String>,
}

/// A health check; durations are nanoseconds, as Go's `time.Duration` marshals.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", argv...]` or `["CMD-SHELL", command]`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub test: Vec<String>,
    /// Time between checks.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub interval: i64,
    /// Time before a check is considered hung.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub timeout: i64,
    /// Grace period after start.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub start_period: i64,
    /// Interval during the start period.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub start_interval: i64,
    /// Failures before unhealthy.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub retries: i64,
}

/// Go writes nil slices, maps and pointers as `null`; read them as empty.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// The layer list of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Digests of the uncompressed layers, base first.
    #[serde(default, deserialize_with = "nullable")]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        Self {
            kind: "layers".to_owned(),
            diff_ids: Vec::new(),
        }
    }
}

/// One history entry; `empty_layer` marks entries that added no layer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 creation time.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<String>,
    /// The instruction that made this entry.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub created_by: String,
    /// Author.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub author: String,
    /// Free-form comment; BuildKit writes `buildkit.dockerfile.v0`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub comment: String,
    /// True when the step did not produce a layer.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub empty_layer: bool,
}

/// A whole image configuration document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImageConfig {
    /// RFC 3339 creation time.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<String>,
    /// Author (`MAINTAINER`).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub author: String,
    /// CPU architecture.
    #[serde(default, deserialize_with = "nullable")]
    pub architecture: String,
    /// Operating system.
    #[serde(default, deserialize_with = "nullable")]
    pub os: String,
    /// Operating system version.
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    /// Operating system features.
    #[serde(
        default,
        deserialize_with = "nullable",
        rename = "os.features",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub os_features: Vec<String>,
    /// CPU variant.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub variant: String,
    /// Runtime defaults.
    #[serde(default, deserialize_with = "nullable")]
    pub config: ContainerConfig,
    /// Layers.
    #[serde(default, deserialize_with = "nullable")]
    pub rootfs: RootFs,
    /// History, oldest first.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub history: Vec<History>,
}

impl ImageConfig {
    /// The platform this config declares.
    pub fn platform(&self) -> crate::Platform {
        crate::Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
        }
    }

    /// Sets os, architecture, variant, os version and features from `platform`.
    pub fn set_platform(&mut self, platform: &crate::Platform) {
        self.os = platform.os.clone();
        self.architecture = platform.architecture.clone();
        self.variant = platform.variant.clone();
        self.os_version = platform.os_version.clone();
        self.os_features = platform.os_features.clone();
    }

    /// Looks up `key` in `config.Env`.
    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.config.env.iter().find_map(|entry| {
            let (k, v) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
            (k == key).then_some(v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_omitted_like_go_omitempty() {
        let mut img = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..ImageConfig::default()
        };
        img.config.env.push("PATH=/bin".into());
        img.config
            .exposed_ports
            .insert("80/tcp".into(), EmptyObject {});
        let json = serde_json::to_string(&img).unwrap();
        assert_eq!(
            json,
            r#"{"architecture":"amd64","os":"linux","config":{"ExposedPorts":{"80/tcp":{}},"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}"#
        );
    }

    #[test]
    fn go_nulls_read_as_empty() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":null,"Cmd":null,"Labels":null,"WorkingDir":"","OnBuild":null,"Healthcheck":null},"rootfs":{"type":"layers","diff_ids":null},"history":null}"#;
        let img: ImageConfig = serde_json::from_str(json).unwrap();
        assert!(
            img.config.env.is_empty() && img.config.labels.is_empty() && img.history.is_empty()
        );
        assert!(img.rootfs.diff_ids.is_empty());
        assert_eq!(img.config.healthcheck, None);
    }

    #[test]
    fn reads_a_docker_config_with_healthcheck_and_history() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1","B"],"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":30000000000,"Retries":3}},"rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},"history":[{"created_by":"x","empty_layer":true}]}"#;
        let img: ImageConfig = serde_json::from_str(json).unwrap();
        let hc = img.config.healthcheck.as_ref().unwrap();
        assert_eq!(hc.interval, 30_000_000_000);
        assert_eq!(hc.retries, 3);
        assert_eq!(img.env_value("A"), Some("1"));
        assert_eq!(img.env_value("B"), Some(""));
        assert_eq!(img.env_value("C"), None);
        assert!(img.history[0].empty_layer);
        assert_eq!(img.rootfs.diff_ids.len(), 1);
    }
}
