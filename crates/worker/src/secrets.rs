//! Secrets for a step, kept in memory: a small tmpfs holds the secret files while the
//! step runs and is unmounted right after, so no secret is ever written to disk.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use rustix::mount::{MountFlags, UnmountFlags};

use crate::{Error, SecretSource, Session};

/// The value of secret `id` from the session, `None` when not provided. A daemon's
/// client is asked at this moment, so the value never waits on the daemon's disk.
pub(crate) async fn value(session: &Session, id: &str) -> Result<Option<Vec<u8>>, Error> {
    match session.secrets.get(id) {
        None => match &session.remote_secrets {
            Some(remote) => remote
                .0
                .secret(id)
                .await
                .map_err(|message| Error::SecretUnreadable {
                    id: id.to_owned(),
                    message,
                }),
            None => Ok(None),
        },
        Some(SecretSource::File(path)) => {
            fs::read(path)
                .map(Some)
                .map_err(|e| Error::SecretUnreadable {
                    id: id.to_owned(),
                    message: format!("{}: {e}", path.display()),
                })
        }
        Some(SecretSource::Env(var)) => std::env::var_os(var)
            .map(|v| Some(std::os::unix::ffi::OsStringExt::into_vec(v)))
            .ok_or_else(|| Error::SecretUnreadable {
                id: id.to_owned(),
                message: format!("environment variable {var} is not set"),
            }),
    }
}

/// A tmpfs for one step's secret files.
#[derive(Debug)]
pub(crate) struct SecretDir {
    path: PathBuf,
    mounted: bool,
}

impl SecretDir {
    /// Mounts a tmpfs at `path` (created if needed).
    pub(crate) fn new(path: PathBuf) -> Result<Self, Error> {
        fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        rustix::mount::mount(
            "tmpfs",
            &path,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            c"mode=0700,size=16m",
        )
        .map_err(|e| Error::io(&path, e.into()))?;
        Ok(Self {
            path,
            mounted: true,
        })
    }

    /// Writes secret `id` as a file with the given owner and mode; returns its path.
    pub(crate) fn write(
        &self,
        name: &str,
        data: &[u8],
        uid: u32,
        gid: u32,
        mode: u32,
    ) -> Result<PathBuf, Error> {
        let file = self.path.join(name);
        fs::write(&file, data).map_err(|e| Error::io(&file, e))?;
        rustix::fs::chown(
            &file,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .map_err(|e| Error::io(&file, e.into()))?;
        fs::set_permissions(&file, fs::Permissions::from_mode(mode & 0o7777))
            .map_err(|e| Error::io(&file, e))?;
        Ok(file)
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        if self.mounted {
            let _ = rustix::mount::unmount(&self.path, UnmountFlags::DETACH);
            let _ = fs::remove_dir(&self.path);
        }
    }
}
