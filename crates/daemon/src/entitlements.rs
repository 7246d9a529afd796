//! Entitlements are the daemon's to grant: a client's `--allow network.host` or
//! `--allow security.insecure` is only a request, refused at build start (before any
//! work, as buildkitd's controller does) unless the operator's configuration lists it in
//! `insecure-entitlements`. A step that needs an entitlement the build did not ask for
//! is refused by the worker, as in embedded mode.

use std::path::PathBuf;

use hearth_api::v1::BuildSpec;

/// The entitlements this daemon grants, and where they are configured.
#[derive(Debug, Clone)]
pub struct Entitlements {
    allowed: Vec<String>,
    /// The configuration file, named in the refusal.
    config_file: PathBuf,
}

impl Entitlements {
    /// Grants `allowed` (`insecure-entitlements` read from `config_file`).
    pub fn new(allowed: Vec<String>, config_file: PathBuf) -> Self {
        Self {
            allowed,
            config_file,
        }
    }

    /// Refuses `spec` if it asks for an entitlement the configuration does not grant,
    /// with BuildKit's words and the configuration line that would grant it.
    pub(crate) fn check(&self, spec: &BuildSpec) -> Result<(), String> {
        let asked = [
            ("network.host", spec.allow_network_host),
            ("security.insecure", spec.allow_insecure),
        ];
        for (name, _) in asked.iter().filter(|(_, asked)| *asked) {
            if self.allowed.iter().any(|a| a == name) {
                continue;
            }
            let mut granted = self.allowed.clone();
            granted.push((*name).to_owned());
            let list = granted
                .iter()
                .map(|g| format!("{g:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!(
                "granting entitlement {name} is not allowed by build daemon configuration; \
                 to allow it, set `insecure-entitlements = [{list}]` in {} and restart hearthd",
                self.config_file.display()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(network_host: bool, insecure: bool) -> BuildSpec {
        BuildSpec {
            allow_network_host: network_host,
            allow_insecure: insecure,
            ..BuildSpec::default()
        }
    }

    #[test]
    fn only_configured_entitlements_are_granted() {
        let none = Entitlements::new(Vec::new(), "/etc/hearth/hearthd.toml".into());
        assert_eq!(none.check(&spec(false, false)), Ok(()));
        assert_eq!(
            none.check(&spec(true, false)),
            Err(
                "granting entitlement network.host is not allowed by build daemon configuration; \
                 to allow it, set `insecure-entitlements = [\"network.host\"]` in \
                 /etc/hearth/hearthd.toml and restart hearthd"
                    .to_owned()
            )
        );
        let some = Entitlements::new(vec!["network.host".into()], "/srv/hearthd.toml".into());
        assert_eq!(some.check(&spec(true, false)), Ok(()));
        let refused = some.check(&spec(true, true)).unwrap_err();
        assert!(
            refused.starts_with("granting entitlement security.insecure is not allowed"),
            "{refused}"
        );
        assert!(
            refused.contains(
                "`insecure-entitlements = [\"network.host\", \"security.insecure\"]` in /srv/hearthd.toml"
            ),
            "{refused}"
        );
    }
}
