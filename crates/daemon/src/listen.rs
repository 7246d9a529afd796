//! Where hearthd listens: unix sockets (mode 0660, group `hearth` when it exists, as
//! buildkitd's socket is handed to a group) and TCP, which is only ever served with
//! mutual TLS — a build daemon runs containers as root, so an unauthenticated TCP port
//! would hand the machine to anyone who can reach it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

/// A listening address from `[grpc] address` or `--addr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `unix:///run/hearth/hearthd.sock`.
    Unix(PathBuf),
    /// `tcp://host:port`.
    Tcp(String),
}

/// The default socket, as in the systemd unit.
pub const DEFAULT_SOCKET: &str = "/run/hearth/hearthd.sock";

/// Why a listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Another daemon answers on the socket.
    #[error("another hearthd is already listening on unix://{}; stop it or choose another address with --addr", .0.display())]
    InUse(PathBuf),
    /// An I/O failure.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// An address that is not unix:// or tcp://.
    #[error("invalid address {0:?}: use unix:///path/to.sock or tcp://host:port")]
    Invalid(String),
    /// TCP without the TLS files.
    #[error(
        "refusing to listen on tcp://{0} without mutual TLS: set cert, key and ca in [grpc.tls] (clients must present a certificate signed by ca)"
    )]
    TcpWithoutTls(String),
}

impl Address {
    /// Parses `unix://…` or `tcp://…`.
    pub fn parse(raw: &str) -> Result<Self, ListenError> {
        if let Some(path) = raw.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(ListenError::Invalid(raw.to_owned()));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(host) = raw.strip_prefix("tcp://") {
            if host.is_empty() {
                return Err(ListenError::Invalid(raw.to_owned()));
            }
            return Ok(Self::Tcp(host.to_owned()));
        }
        Err(ListenError::Invalid(raw.to_owned()))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
            Self::Tcp(host) => write!(f, "tcp://{host}"),
        }
    }
}

/// Binds the unix socket at `path`: removes a stale socket a dead daemon left, refuses
/// one a live daemon answers on, and gives the new one mode 0660 and `gid` (or the
/// `hearth` group when it exists).
pub async fn bind_unix(path: &Path, gid: Option<u32>) -> Result<UnixListener, ListenError> {
    let io = |what, source| ListenError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io("creating the directory of", e))?;
    }
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(ListenError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(|e| io("removing the stale socket", e))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| io("listening on", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| io("setting the mode of", e))?;
    if let Some(gid) = gid.or_else(hearth_group) {
        rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))
            .map_err(|e| io("changing the group of", e.into()))?;
    }
    Ok(listener)
}

/// The gid of the `hearth` group, if the machine has one.
fn hearth_group() -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == "hearth")
            .then(|| fields.nth(1)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unix_or_tcp() {
        assert_eq!(
            Address::parse("unix:///run/hearth/hearthd.sock").unwrap(),
            Address::Unix(PathBuf::from("/run/hearth/hearthd.sock"))
        );
        assert_eq!(
            Address::parse("tcp://0.0.0.0:1234").unwrap(),
            Address::Tcp("0.0.0.0:1234".into())
        );
        for bad in ["http://x", "unix://", "/run/x.sock", "tcp://"] {
            let err = Address::parse(bad).unwrap_err().to_string();
            assert!(err.contains("unix:///path/to.sock"), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced_and_a_live_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let first = bind_unix(&path, None).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        let err = bind_unix(&path, None).await.unwrap_err();
        assert!(matches!(err, ListenError::InUse(_)), "{err}");
        drop(first);
        // The file stays after the listener is gone, as after a crash.
        assert!(path.exists());
        bind_unix(&path, None).await.unwrap();
    }
}
