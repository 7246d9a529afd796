//! Reading small files that a tree names, bounded and never anything but a regular file.
//!
//! An image's `/etc/passwd` is whatever the image says it is: a link to a host path, a
//! FIFO that blocks forever, `/dev/zero`, or a gigabyte of text. Reading it goes through
//! the root (links stay inside), refuses anything but a regular file before opening it
//! for reading, and stops at a size limit.

use std::io::{self, Read as _};

use rustix::fs::{FileType, OFlags};

use crate::root::Root;

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The path names a directory, device, FIFO or socket.
    #[error("it is not a regular file")]
    NotRegular,
    /// The file is larger than the reader accepts.
    #[error("it is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Root {
    /// The contents of `path` (resolved inside the root) if it is a regular file of at
    /// most `limit` bytes; `None` when nothing is there.
    pub fn read_regular(&self, path: &[u8], limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
        let probe = match self.open_in_root(path, OFlags::PATH) {
            Ok(fd) => fd,
            Err(e) if crate::at::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let seen = rustix::fs::fstat(&probe).map_err(io::Error::from)?;
        if FileType::from_raw_mode(seen.st_mode) != FileType::RegularFile {
            return Err(ReadError::NotRegular);
        }
        if u64::try_from(seen.st_size).unwrap_or(u64::MAX) > limit {
            return Err(ReadError::TooLarge { limit });
        }
        let fd = self.open_in_root(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)?;
        let opened = rustix::fs::fstat(&fd).map_err(io::Error::from)?;
        // Swapped for something else between the two opens.
        if (opened.st_dev, opened.st_ino) != (seen.st_dev, seen.st_ino) {
            return Err(ReadError::NotRegular);
        }
        let mut out = Vec::new();
        std::fs::File::from(fd)
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)?;
        if out.len() as u64 > limit {
            return Err(ReadError::TooLarge { limit });
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_only_bounded_regular_files_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir(r.join("etc")).unwrap();
        std::fs::write(r.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("etc/link")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            r.join("etc/fifo").as_path(),
            FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        std::fs::write(r.join("etc/big"), vec![b'x'; 100]).unwrap();
        let root = Root::open(r).unwrap();
        assert_eq!(
            root.read_regular(b"/etc/link", 1024).unwrap().unwrap(),
            b"root:x:0:0::/root:/bin/sh\n",
            "a link is followed inside the root, never to the host's file"
        );
        assert!(root.read_regular(b"/etc/missing", 1024).unwrap().is_none());
        assert!(matches!(
            root.read_regular(b"/etc/fifo", 1024),
            Err(ReadError::NotRegular)
        ));
        assert!(matches!(
            root.read_regular(b"/etc", 1024),
            Err(ReadError::NotRegular)
        ));
        assert!(matches!(
            root.read_regular(b"/etc/big", 99),
            Err(ReadError::TooLarge { limit: 99 })
        ));
        assert_eq!(
            root.read_regular(b"/etc/big", 100).unwrap().unwrap().len(),
            100
        );
    }
}
