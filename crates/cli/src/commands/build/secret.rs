//! `--secret` values as buildx spells them.

use std::path::PathBuf;

use anyhow::{Context, bail};
use hearth_engine::SecretSource;

/// Parses `id=X,src=FILE`, `id=X,env=VAR`, `id=X,type=env[,env=VAR]` or `id=X` (an
/// environment variable or file named like the id, as buildx does).
pub(crate) fn parse_secret(raw: &str) -> anyhow::Result<(String, SecretSource)> {
    let mut id = None;
    let mut kind = None;
    let mut src = None;
    let mut env = None;
    for field in raw.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = field
            .split_once('=')
            .with_context(|| format!("invalid --secret {raw:?}: {field:?} is not KEY=VALUE"))?;
        match key.trim().to_ascii_lowercase().as_str() {
            "id" => id = Some(value.to_owned()),
            "type" => kind = Some(value.to_owned()),
            "src" | "source" => src = Some(value.to_owned()),
            "env" => env = Some(value.to_owned()),
            other => {
                bail!("invalid --secret {raw:?}: unknown key {other:?} (use id, src, env or type)")
            }
        }
    }
    let id = match id {
        Some(id) if !id.is_empty() => id,
        _ => bail!("invalid --secret {raw:?}: id= is required"),
    };
    let source = match (kind.as_deref(), src, env) {
        (Some("env"), Some(var), None) | (_, None, Some(var)) => SecretSource::Env(var),
        (Some("env"), None, None) => SecretSource::Env(id.clone()),
        (Some("file") | None, Some(path), None) => SecretSource::File(PathBuf::from(path)),
        (None, None, None) => {
            if std::env::var_os(&id).is_some() {
                SecretSource::Env(id.clone())
            } else {
                SecretSource::File(PathBuf::from(&id))
            }
        }
        (Some("file"), None, None) => SecretSource::File(PathBuf::from(&id)),
        (_, Some(_), Some(_)) => {
            bail!("invalid --secret {raw:?}: give either src= or env=, not both")
        }
        (Some(other), _, _) => {
            bail!("invalid --secret {raw:?}: unknown type {other:?} (use file or env)")
        }
    };
    Ok((id, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn buildx_forms() {
        assert!(
            matches!(parse_secret("id=a,src=/tmp/s").unwrap(), (id, SecretSource::File(p)) if id == "a" && p == Path::new("/tmp/s"))
        );
        assert!(matches!(
            parse_secret("id=a,source=/tmp/s").unwrap(),
            (_, SecretSource::File(_))
        ));
        assert!(
            matches!(parse_secret("id=a,env=TOKEN").unwrap(), (_, SecretSource::Env(v)) if v == "TOKEN")
        );
        assert!(
            matches!(parse_secret("id=TOKEN,type=env").unwrap(), (_, SecretSource::Env(v)) if v == "TOKEN")
        );
        assert!(parse_secret("src=/tmp/s").is_err());
        assert!(parse_secret("id=a,src=x,env=Y").is_err());
        assert!(parse_secret("id=a,kind=x").is_err());
    }
}
