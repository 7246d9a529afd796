//! `RUN --mount=type=…,target=…` specifications.
//!
//! BuildKit parses each spec twice: once when the Dockerfile is read (only checking that
//! `from` holds no variable) and once when the step is lowered, with every value
//! expanded against the stage's variables. [`parse_mount`] does both, depending on
//! whether an expander is passed.

use crate::diagnostic::{suggest, with_suggestion};

/// Mount kinds `RUN --mount` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// A read-only (by default) view of the context or a stage.
    Bind,
    /// A persistent cache directory.
    Cache,
    /// An in-memory filesystem.
    Tmpfs,
    /// A secret file or variable.
    Secret,
    /// An SSH agent socket.
    Ssh,
}

impl MountType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "bind" => Self::Bind,
            "cache" => Self::Cache,
            "tmpfs" => Self::Tmpfs,
            "secret" => Self::Secret,
            "ssh" => Self::Ssh,
            _ => return None,
        })
    }

    /// The spelling used in Dockerfiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bind => "bind",
            Self::Cache => "cache",
            Self::Tmpfs => "tmpfs",
            Self::Secret => "secret",
            Self::Ssh => "ssh",
        }
    }
}

/// Cache mount sharing modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Concurrent users share the directory.
    Shared,
    /// Each concurrent user gets a fresh directory.
    Private,
    /// Users take turns.
    Locked,
}

/// One parsed mount specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Kind.
    pub kind: MountType,
    /// Stage or image to mount from (`from=`); empty for the context.
    pub from: String,
    /// Path inside the source (`source=`, `src=`).
    pub source: String,
    /// Path inside the container (`target=`, `dst=`, `destination=`).
    pub target: String,
    /// Read-only. Defaults to true except for cache and tmpfs.
    pub readonly: bool,
    /// tmpfs size in bytes (`size=`); 0 when not given.
    pub size_limit: u64,
    /// Cache or secret id (`id=`).
    pub id: String,
    /// Cache sharing (`sharing=`), when given.
    pub sharing: Option<Sharing>,
    /// Fail when the secret or agent is missing (`required`).
    pub required: bool,
    /// Expose the secret as this environment variable (`env=`).
    pub env: Option<String>,
    /// Mode bits (`mode=`, octal).
    pub mode: Option<u32>,
    /// Owner uid (`uid=`).
    pub uid: Option<u32>,
    /// Owner gid (`gid=`).
    pub gid: Option<u32>,
}

const ALL_KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// Parses one spec. With `expand` set, values are expanded and every option is
/// validated; without it only `from=` is checked, as at Dockerfile read time.
/// Expands one option value against the variables in scope.
pub(crate) type Expander<'a> = &'a mut dyn FnMut(&str) -> Result<String, String>;

pub(crate) fn parse_mount(spec: &str, expand: Option<Expander<'_>>) -> Result<MountSpec, String> {
    let fields = csv_fields(spec).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = MountSpec {
        kind: MountType::Bind,
        from: String::new(),
        source: String::new(),
        target: String::new(),
        readonly: false,
        size_limit: 0,
        id: String::new(),
        sharing: None,
        required: false,
        env: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut ro_auto = true;
    let mut expand = expand;
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            if expand.is_none() {
                continue;
            }
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                }
                "required" => {
                    if matches!(m.kind, MountType::Secret | MountType::Ssh) {
                        m.required = true;
                    } else {
                        return Err(format!(
                            "unexpected key '{key}' for mount type '{}'",
                            m.kind.as_str()
                        ));
                    }
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let value = match expand.as_mut() {
            Some(expand) => expand(value)?,
            None => {
                if key == "from" {
                    if let Some(idx) = value.find('$')
                        && idx != value.len() - 1
                    {
                        return Err(format!(
                            "'{key}' doesn't support variable expansion, define alias stage instead"
                        ));
                    }
                    // `from` is the one value known before expansion: it decides which
                    // stages the step depends on.
                    m.from = value.to_owned();
                }
                continue;
            }
        };
        let bool_value =
            |v: &str| parse_go_bool(v).ok_or_else(|| format!("invalid value for {key}: {v}"));
        match key.as_str() {
            "type" => {
                let lower = value.to_ascii_lowercase();
                m.kind = MountType::parse(&lower).ok_or_else(|| {
                    with_suggestion(
                        format!("unsupported mount type {}", crate::shell::go_quote(&value)),
                        suggest(&value, ["bind", "cache", "tmpfs", "secret", "ssh"], true),
                    )
                })?;
            }
            "from" => m.from = value,
            "source" | "src" => m.source = value,
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.readonly = bool_value(&value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !bool_value(&value)?;
                ro_auto = false;
            }
            "required" => {
                if matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    m.required = bool_value(&value)?;
                } else {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.kind.as_str()
                    ));
                }
            }
            "size" => {
                if m.kind == MountType::Tmpfs {
                    m.size_limit = ram_in_bytes(&value)
                        .ok_or_else(|| format!("invalid value for {key}: {value}"))?;
                } else {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.kind.as_str()
                    ));
                }
            }
            "id" => m.id = value,
            "sharing" => {
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        return Err(with_suggestion(
                            format!(
                                "unsupported sharing value {}",
                                crate::shell::go_quote(&value)
                            ),
                            suggest(&value, ["shared", "private", "locked"], true),
                        ));
                    }
                });
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                );
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                );
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                );
            }
            "env" => m.env = Some(value),
            _ => {
                return Err(with_suggestion(
                    format!("unexpected key '{key}' in '{field}'"),
                    suggest(&key, ALL_KEYS.iter().copied(), true),
                ));
            }
        }
    }
    if expand.is_none() {
        return Ok(m);
    }
    let file_info_allowed = matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        let kind = crate::shell::go_quote(m.kind.as_str());
        if m.mode.is_some() {
            return Err(format!("mode not allowed for {kind} type mounts"));
        }
        if m.uid.is_some() {
            return Err(format!("uid not allowed for {kind} type mounts"));
        }
        if m.gid.is_some() {
            return Err(format!("gid not allowed for {kind} type mounts"));
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if !m.from.is_empty() {
            return Err("secret mount should not have a from".to_owned());
        }
        if m.sharing.is_some() {
            return Err("secret mount should not define sharing".to_owned());
        }
        if m.source.is_empty() && m.target.is_empty() && m.id.is_empty() {
            return Err("invalid secret mount. one of source, target required".to_owned());
        }
        if !m.source.is_empty() && !m.id.is_empty() {
            return Err("both source and id can't be set".to_owned());
        }
    }
    if m.sharing.is_some() && m.kind != MountType::Cache {
        return Err(format!(
            "invalid cache sharing set for {} mount",
            m.kind.as_str()
        ));
    }
    Ok(m)
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// docker/go-units `RAMInBytes`: `64m`, `1.5GiB`, `1024` (binary multiples).
pub(crate) fn ram_in_bytes(s: &str) -> Option<u64> {
    let number_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, rest) = s.split_at(number_len);
    if number.is_empty()
        || number.starts_with('.')
        || number.ends_with('.')
        || number.contains("..")
    {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars();
    let (multiplier, tail) = match chars.next() {
        None => (1u64, ""),
        Some(c) => {
            let multiplier = match c.to_ascii_lowercase() {
                'k' => 1u64 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                't' => 1 << 40,
                'p' => 1 << 50,
                'b' => 1,
                _ => return None,
            };
            if c.eq_ignore_ascii_case(&'b') {
                (1, chars.as_str())
            } else {
                let tail = chars.as_str();
                let tail = tail.strip_prefix(['i', 'I']).unwrap_or(tail);
                let tail = tail.strip_prefix(['b', 'B']).unwrap_or(tail);
                (multiplier, tail)
            }
        }
    };
    if !tail.is_empty() {
        return None;
    }
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return None;
    }
    Some(bytes as u64)
}

/// Splits one CSV record as Go's encoding/csv does: fields separated by commas, a
/// field may be double-quoted with `""` for a quote, a quote inside an unquoted field
/// is an error.
pub(crate) fn csv_fields(record: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let chars: Vec<char> = record.chars().collect();
    let mut i = 0;
    let mut column = 1;
    loop {
        let mut field = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            column += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "parse error on line 1, column {column}: extraneous or missing \" in quoted-field"
                        ));
                    }
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        field.push('"');
                        i += 2;
                        column += 2;
                    }
                    Some('"') => {
                        i += 1;
                        column += 1;
                        match chars.get(i) {
                            None | Some(',') => break,
                            Some(_) => {
                                return Err(format!(
                                    "parse error on line 1, column {column}: extraneous or missing \" in quoted-field"
                                ));
                            }
                        }
                    }
                    Some(c) => {
                        field.push(*c);
                        i += 1;
                        column += 1;
                    }
                }
            }
        } else {
            while let Some(&c) = chars.get(i) {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err(format!(
                        "parse error on line 1, column {column}: bare \" in non-quoted-field"
                    ));
                }
                field.push(c);
                i += 1;
                column += 1;
            }
        }
        fields.push(field);
        if chars.get(i) == Some(&',') {
            i += 1;
            column += 1;
            continue;
        }
        return Ok(fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(spec: &str) -> Result<MountSpec, String> {
        let mut identity = |v: &str| Ok::<_, String>(v.to_owned());
        parse_mount(spec, Some(&mut identity))
    }

    #[test]
    fn defaults_per_type() {
        let bind = full("target=/src").unwrap();
        assert_eq!((bind.kind, bind.readonly), (MountType::Bind, true));
        let cache = full("type=cache,target=/root/.cache").unwrap();
        assert_eq!((cache.kind, cache.readonly), (MountType::Cache, false));
        let tmpfs = full("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!((tmpfs.readonly, tmpfs.size_limit), (false, 64 << 20));
        let rw = full("type=bind,source=a,target=/a,rw").unwrap();
        assert!(!rw.readonly);
        let ro_false = full("type=bind,target=/a,readonly=false").unwrap();
        assert!(!ro_false.readonly);
    }

    #[test]
    fn every_option_is_read() {
        let m = full("type=cache,id=go,target=/go,sharing=LOCKED,from=builder,source=/x,mode=0750,uid=1000,gid=100")
            .unwrap();
        assert_eq!(m.id, "go");
        assert_eq!(m.sharing, Some(Sharing::Locked));
        assert_eq!((m.from.as_str(), m.source.as_str()), ("builder", "/x"));
        assert_eq!((m.mode, m.uid, m.gid), (Some(0o750), Some(1000), Some(100)));
        let s = full("type=secret,id=tok,env=TOKEN,required,uid=1,mode=0444").unwrap();
        assert_eq!((s.env.as_deref(), s.required), (Some("TOKEN"), true));
        let ssh = full("type=ssh,id=git,target=/agent,required=true").unwrap();
        assert!(ssh.required && ssh.readonly);
        let alias = full("type=bind,src=a,dst=/b,ro=true").unwrap();
        assert_eq!((alias.source.as_str(), alias.target.as_str()), ("a", "/b"));
    }

    #[test]
    fn errors_match_buildkit() {
        let cases = [
            ("type=volume,target=/x", "unsupported mount type \"volume\""),
            (
                "type=cahce,target=/x",
                "unsupported mount type \"cahce\" (did you mean cache?)",
            ),
            (
                "type=cache,target=/x,sharing=everyone",
                "unsupported sharing value \"everyone\"",
            ),
            (
                "type=cache,taget=/x",
                "unexpected key 'taget' in 'taget=/x' (did you mean target?)",
            ),
            (
                "type=bind,target=/x,mode=0755",
                "mode not allowed for \"bind\" type mounts",
            ),
            (
                "type=tmpfs,target=/x,uid=1",
                "uid not allowed for \"tmpfs\" type mounts",
            ),
            (
                "type=bind,target=/x,required",
                "unexpected key 'required' for mount type 'bind'",
            ),
            (
                "type=cache,target=/x,size=1g",
                "unexpected key 'size' for mount type 'cache'",
            ),
            (
                "type=tmpfs,target=/x,size=lots",
                "invalid value for size: lots",
            ),
            ("type=cache,target=/x,mode=9", "invalid value 9 for mode"),
            ("type=cache,target=/x,uid=-1", "invalid value -1 for uid"),
            (
                "type=bind,target=/x,ro=maybe",
                "invalid value for ro: maybe",
            ),
            (
                "type=bind,target=/x,bogus",
                "invalid field 'bogus' must be a key=value pair",
            ),
            (
                "type=secret",
                "invalid secret mount. one of source, target required",
            ),
            (
                "type=secret,id=a,source=b",
                "both source and id can't be set",
            ),
            (
                "type=secret,id=a,from=x",
                "secret mount should not have a from",
            ),
            (
                "type=secret,id=a,sharing=shared",
                "secret mount should not define sharing",
            ),
            (
                "type=bind,target=/x,sharing=shared",
                "invalid cache sharing set for bind mount",
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(full(spec).unwrap_err(), want, "{spec}");
        }
    }

    #[test]
    fn malformed_csv_is_reported() {
        let err = full("type=bind,\"target=/x").unwrap_err();
        assert!(
            err.starts_with("failed to parse csv mounts: parse error on line 1"),
            "{err}"
        );
        assert!(
            err.ends_with("extraneous or missing \" in quoted-field"),
            "{err}"
        );
    }

    #[test]
    fn read_time_check_only_rejects_variables_in_from() {
        assert_eq!(
            parse_mount("type=bind,from=$STAGE,target=/x", None).unwrap_err(),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
        // Everything else waits until the values are expanded.
        assert!(parse_mount("type=nonsense,from=stage$,bogus", None).is_ok());
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_fields("a,\"b,c\",d").unwrap(), vec!["a", "b,c", "d"]);
        assert_eq!(csv_fields("\"x\"\"y\"").unwrap(), vec!["x\"y"]);
        assert_eq!(csv_fields("").unwrap(), vec![""]);
        assert!(csv_fields("a\"b").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("1024"), Some(1024));
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("1.5GiB"), Some(3 << 29));
        assert_eq!(ram_in_bytes("2 kb"), Some(2048));
        assert_eq!(ram_in_bytes("10x"), None);
        assert_eq!(ram_in_bytes(""), None);
    }
}
