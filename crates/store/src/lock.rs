//! Exclusive ownership of a store root by one process.
//!
//! `flock` is used rather than a pid file because the kernel drops the lock when the
//! process dies, however it dies: a SIGKILLed build never leaves a stale lock behind. The
//! file's contents (pid and command line of the holder) only serve error messages; they are
//! read when the lock is found taken and never trusted for anything else.
//!
//! flock locks belong to the open file description, so a second `Store::open` in the same
//! process conflicts with the first just as another process would. std opens files with
//! `O_CLOEXEC`, so children (runc, helpers) never inherit the descriptor and cannot keep the
//! lock alive after the store is dropped.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::error::{IoContext, Result, StoreError};

/// A held lock on `<root>/lock`; released when dropped.
#[derive(Debug)]
pub(crate) struct RootLock {
    // Never read: holding the descriptor open is what holds the lock.
    _file: File,
}

impl RootLock {
    /// Takes the lock on `lock_path`.
    ///
    /// If another process holds it, `on_wait` decides: `None` fails with
    /// [`StoreError::Locked`]; `Some(f)` calls `f` once with the holder's description and
    /// blocks until the lock is free.
    pub(crate) fn acquire(
        root: &Path,
        lock_path: &Path,
        on_wait: Option<&mut dyn FnMut(&str)>,
    ) -> Result<Self> {
        // No truncate here: the current holder's description must survive until we own it.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(lock_path)
            .ctx("open lock file", lock_path)?;

        match retry_eintr(|| flock(&file, FlockOperation::NonBlockingLockExclusive)) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                let holder = read_holder(&file);
                let Some(on_wait) = on_wait else {
                    return Err(StoreError::Locked {
                        path: root.to_path_buf(),
                        holder,
                    });
                };
                on_wait(&holder);
                retry_eintr(|| flock(&file, FlockOperation::LockExclusive))
                    .map_err(std::io::Error::from)
                    .ctx("lock", lock_path)?;
            }
            Err(e) => return Err(std::io::Error::from(e)).ctx("lock", lock_path),
        }

        write_holder(&file).ctx("write lock file", lock_path)?;
        Ok(Self { _file: file })
    }
}

fn retry_eintr(mut f: impl FnMut() -> rustix::io::Result<()>) -> rustix::io::Result<()> {
    loop {
        match f() {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// Who we are, for the next process that finds the lock taken.
fn write_holder(file: &File) -> std::io::Result<()> {
    let description = format!("pid {}: {}\n", std::process::id(), command_line());
    file.set_len(0)?;
    file.write_all_at(description.as_bytes(), 0)
}

fn read_holder(file: &File) -> String {
    let mut buf = vec![0u8; 4096];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    buf.truncate(n);
    let text = String::from_utf8_lossy(&buf);
    let text = text.trim();
    // The holder may not have written its description yet (it writes right after locking).
    if text.is_empty() {
        "another process".to_owned()
    } else {
        text.to_owned()
    }
}

fn command_line() -> String {
    // /proc keeps the arguments as the process received them, even non-UTF-8 ones.
    match std::fs::read("/proc/self/cmdline") {
        Ok(raw) if !raw.is_empty() => raw
            .split(|&b| b == 0)
            .filter(|arg| !arg.is_empty())
            .map(String::from_utf8_lossy)
            .collect::<Vec<_>>()
            .join(" "),
        _ => std::env::args().collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_description_names_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let lock_path = dir.path().join("lock");
        let _lock = RootLock::acquire(dir.path(), &lock_path, None).unwrap();
        let text = std::fs::read_to_string(&lock_path).unwrap();
        let expected_prefix = format!("pid {}: ", std::process::id());
        assert!(text.starts_with(&expected_prefix), "{text:?}");
        assert!(text.ends_with('\n'), "{text:?}");
    }

    #[test]
    fn second_lock_in_the_same_process_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock_path = dir.path().join("lock");
        let first = RootLock::acquire(dir.path(), &lock_path, None).unwrap();
        let err = RootLock::acquire(dir.path(), &lock_path, None).unwrap_err();
        let StoreError::Locked { path, holder } = err else {
            panic!("expected Locked, got {err:?}");
        };
        assert_eq!(path, dir.path());
        assert!(
            holder.starts_with(&format!("pid {}: ", std::process::id())),
            "{holder}"
        );
        drop(first);
        RootLock::acquire(dir.path(), &lock_path, None).unwrap();
    }
}
