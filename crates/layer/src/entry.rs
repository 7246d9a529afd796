//! One tar entry's metadata as Go's `archive/tar` reader would report it, with PAX and
//! GNU extensions folded in: long names and link names (handled by the `tar` crate), PAX
//! `uid`/`gid`/`size` (likewise), PAX `mtime`/`atime` with sub-second precision, GNU atime,
//! and `SCHILY.xattr.*` records.

use std::io::{self, Read};

use rustix::fs::{Timespec, Timestamps};

use crate::header::PaxRecords;

/// What an entry creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Regular,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
    /// A type flag nothing handles (tape volume labels, multi-volume continuations…).
    Unsupported(u8),
}

/// A point in time with nanosecond precision, possibly before the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Time {
    nanos: i128,
}

impl Time {
    pub(crate) fn from_secs(secs: i64) -> Self {
        Self {
            nanos: i128::from(secs) * 1_000_000_000,
        }
    }

    /// containerd's `boundTime`: times before the epoch or past what a 64-bit nanosecond
    /// count holds become the epoch.
    pub(crate) fn bounded(self) -> Timespec {
        let nanos = if self.nanos < 0 || self.nanos > i128::from(i64::MAX) {
            0
        } else {
            self.nanos
        };
        Timespec {
            tv_sec: (nanos / 1_000_000_000) as i64,
            tv_nsec: (nanos % 1_000_000_000) as _,
        }
    }
}

/// The parts of an entry's header that matter on disk.
#[derive(Debug)]
pub(crate) struct EntryMeta {
    pub(crate) name: Vec<u8>,
    pub(crate) link: Vec<u8>,
    pub(crate) kind: Kind,
    /// Permission bits with setuid, setgid and sticky.
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) mtime: Time,
    pub(crate) atime: Option<Time>,
    pub(crate) devmajor: u32,
    pub(crate) devminor: u32,
    /// `SCHILY.xattr.<name>` records as (name, value).
    pub(crate) xattrs: PaxRecords,
}

impl EntryMeta {
    /// The times to set: containerd's `latestTime(atime, mtime)` and `mtime`, bounded.
    pub(crate) fn times(&self) -> Timestamps {
        let atime = match self.atime {
            Some(a) if a.nanos > self.mtime.nanos => a,
            _ => self.mtime,
        };
        Timestamps {
            last_access: atime.bounded(),
            last_modification: self.mtime.bounded(),
        }
    }
}

/// Reads an entry's header; `None` for entries that describe no file (PAX global headers).
pub(crate) fn parse_entry<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Option<EntryMeta>> {
    let header = entry.header();
    let name = entry.path_bytes().into_owned();
    let kind = match header.as_bytes()[156] {
        // Go turns the old `\0` type into a directory when the name ends in `/`.
        0 if name.ends_with(b"/") => Kind::Dir,
        // Contiguous files and GNU sparse files are regular files (sparse ones read dense).
        b'0' | 0 | b'7' | b'S' => Kind::Regular,
        b'1' => Kind::Hardlink,
        b'2' => Kind::Symlink,
        b'3' => Kind::Char,
        b'4' => Kind::Block,
        b'5' => Kind::Dir,
        b'6' => Kind::Fifo,
        b'g' => return Ok(None),
        other => Kind::Unsupported(other),
    };
    let link = entry
        .link_name_bytes()
        .map(|l| l.into_owned())
        .unwrap_or_default();
    // Numbers are read from the raw block the way Go reads them (blank fields are zero);
    // the `tar` crate has already folded PAX `uid`/`gid` into it.
    let raw = header.as_bytes();
    let mode = (parse_numeric(&raw[100..108])? & 0o7777) as u32;
    let uid = u64::try_from(parse_numeric(&raw[108..116])?).unwrap_or(u64::MAX);
    let gid = u64::try_from(parse_numeric(&raw[116..124])?).unwrap_or(u64::MAX);
    let mut mtime = Time::from_secs(parse_numeric(&raw[136..148])?);
    let is_gnu = &raw[257..265] == b"ustar  \0";
    let mut atime = match is_gnu && raw[345] != 0 {
        true => Some(Time::from_secs(parse_numeric(&raw[345..357])?)),
        false => None,
    };
    let (devmajor, devminor) = match kind {
        Kind::Char | Kind::Block => (
            u32::try_from(parse_numeric(&raw[329..337])?).unwrap_or(u32::MAX),
            u32::try_from(parse_numeric(&raw[337..345])?).unwrap_or(u32::MAX),
        ),
        _ => (0, 0),
    };
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions()? {
        for record in pax {
            let record = record?;
            let key = record.key_bytes();
            if let Some(attr) = key.strip_prefix(b"SCHILY.xattr.") {
                xattrs.push((attr.to_vec(), record.value_bytes().to_vec()));
            } else if key == b"mtime" {
                mtime = parse_pax_time(record.value_bytes()).unwrap_or(mtime);
            } else if key == b"atime" {
                atime = parse_pax_time(record.value_bytes()).or(atime);
            }
        }
    }
    Ok(Some(EntryMeta {
        name,
        link,
        kind,
        mode,
        uid,
        gid,
        mtime,
        atime,
        devmajor,
        devminor,
        xattrs,
    }))
}

/// Go's `parseNumeric`: base-256 when the high bit is set, else octal with surrounding
/// spaces and NULs ignored (an empty field is zero).
fn parse_numeric(field: &[u8]) -> io::Result<i64> {
    let invalid = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "invalid numeric field in tar header",
        )
    };
    if let Some(&first) = field.first()
        && first & 0x80 != 0
    {
        let inv: u8 = if first & 0x40 != 0 { 0xff } else { 0 };
        let mut x: u64 = 0;
        for (i, &c) in field.iter().enumerate() {
            let mut c = c ^ inv;
            if i == 0 {
                c &= 0x7f;
            }
            if x >> 56 > 0 {
                return Err(invalid());
            }
            x = (x << 8) | u64::from(c);
        }
        let x = i64::try_from(x).map_err(|_| invalid())?;
        return Ok(if inv == 0xff { !x } else { x });
    }
    let trimmed: &[u8] = {
        let start = field.iter().position(|&b| b != b' ' && b != 0);
        let end = field.iter().rposition(|&b| b != b' ' && b != 0);
        match (start, end) {
            (Some(s), Some(e)) => &field[s..=e],
            _ => return Ok(0),
        }
    };
    let text = std::str::from_utf8(trimmed).map_err(|_| invalid())?;
    let value = u64::from_str_radix(text, 8).map_err(|_| invalid())?;
    i64::try_from(value).map_err(|_| invalid())
}

/// Go's `parsePAXTime`: `[-]seconds[.fraction]`, the fraction cut to nanoseconds.
fn parse_pax_time(value: &[u8]) -> Option<Time> {
    let text = std::str::from_utf8(value).ok()?;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (secs, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if secs.is_empty()
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: i128 = secs.parse().ok()?;
    let mut nanos: i128 = 0;
    for i in 0..9 {
        let digit = frac.as_bytes().get(i).map_or(0, |d| i128::from(d - b'0'));
        nanos = nanos * 10 + digit;
    }
    let total = secs * 1_000_000_000 + nanos;
    Some(Time {
        nanos: if negative { -total } else { total },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse_like_go() {
        assert_eq!(
            parse_pax_time(b"1700000000"),
            Some(Time::from_secs(1_700_000_000))
        );
        assert_eq!(parse_pax_time(b"1.5").map(|t| t.nanos), Some(1_500_000_000));
        assert_eq!(
            parse_pax_time(b"1.1234567891").map(|t| t.nanos),
            Some(1_123_456_789)
        );
        assert_eq!(
            parse_pax_time(b"-1.5").map(|t| t.nanos),
            Some(-1_500_000_000)
        );
        assert_eq!(parse_pax_time(b"x"), None);
        assert_eq!(parse_pax_time(b"1.x"), None);
        assert_eq!(parse_pax_time(b".5"), None);
    }

    #[test]
    fn numeric_fields_parse_like_go() {
        assert_eq!(parse_numeric(b"0000644\0").unwrap(), 0o644);
        assert_eq!(parse_numeric(b" 644 \0\0").unwrap(), 0o644);
        assert_eq!(parse_numeric(b"\0\0\0\0\0\0\0\0").unwrap(), 0);
        assert_eq!(parse_numeric(b"        ").unwrap(), 0);
        assert!(parse_numeric(b"0000899\0").is_err());
        // base-256: 3000000 and -1.
        assert_eq!(
            parse_numeric(&[0x80, 0, 0, 0, 0, 0x2d, 0xc6, 0xc0]).unwrap(),
            3_000_000
        );
        assert_eq!(parse_numeric(&[0xff; 8]).unwrap(), -1);
    }

    #[test]
    fn times_are_bounded_like_containerd() {
        assert_eq!(Time::from_secs(-5).bounded().tv_sec, 0);
        assert_eq!(Time::from_secs(i64::MAX).bounded().tv_sec, 0);
        assert_eq!(Time::from_secs(42).bounded().tv_sec, 42);
    }

    #[test]
    fn pax_and_gnu_extensions_are_folded_in() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Char);
        header.set_mode(0o4755);
        header.set_device_major(1).unwrap();
        header.set_device_minor(3).unwrap();
        header.set_mtime(1);
        header.set_size(0);
        builder
            .append_pax_extensions([
                ("mtime", &b"1700000000.25"[..]),
                ("atime", &b"1800000000"[..]),
                ("uid", &b"3000000"[..]),
                ("SCHILY.xattr.user.k", &b"v\0w"[..]),
            ])
            .unwrap();
        builder
            .append_data(&mut header, "dev/null", std::io::empty())
            .unwrap();
        let data = builder.into_inner().unwrap();
        let mut archive = tar::Archive::new(&data[..]);
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        let meta = parse_entry(&mut entry).unwrap().unwrap();
        assert_eq!(meta.name, b"dev/null");
        assert_eq!(meta.kind, Kind::Char);
        assert_eq!((meta.devmajor, meta.devminor), (1, 3));
        assert_eq!(meta.mode, 0o4755);
        assert_eq!(meta.uid, 3_000_000);
        assert_eq!(meta.xattrs, [(b"user.k".to_vec(), b"v\0w".to_vec())]);
        let times = meta.times();
        assert_eq!(
            (
                times.last_modification.tv_sec,
                times.last_modification.tv_nsec
            ),
            (1_700_000_000, 250_000_000)
        );
        assert_eq!(
            times.last_access.tv_sec, 1_800_000_000,
            "the later atime wins"
        );
    }
}
