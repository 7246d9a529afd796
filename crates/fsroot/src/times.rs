//! Setting file times without following a final symlink.

use std::fs::Metadata;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps};

/// The access and modification times `meta` carries.
fn timestamps_of(meta: &Metadata) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec(),
        },
        last_modification: Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    }
}

/// Both times set to `secs`/`nsecs`.
pub fn same_times(secs: i64, nsecs: i64) -> Timestamps {
    let ts = Timespec {
        tv_sec: secs,
        tv_nsec: nsecs,
    };
    Timestamps {
        last_access: ts,
        last_modification: ts,
    }
}

/// Sets `path`'s times; a symlink's own times when `path` is one.
pub fn set_times(path: &Path, times: &Timestamps) -> io::Result<()> {
    set_times_at(CWD, path, times)
}

/// Sets the times of `name` below `dir`; a symlink's own times when it is one.
fn set_times_at(
    dir: impl AsFd,
    name: impl rustix::path::Arg,
    times: &Timestamps,
) -> io::Result<()> {
    rustix::fs::utimensat(dir, name, times, AtFlags::SYMLINK_NOFOLLOW).map_err(io::Error::from)
}

/// Copies access and modification times from `meta` to `path`, not following a link.
pub fn copy_times(path: &Path, meta: &Metadata) -> io::Result<()> {
    set_times(path, &timestamps_of(meta))
}
