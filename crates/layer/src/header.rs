//! Tar headers encoded byte for byte as Go's `archive/tar` writer encodes them for
//! containerd's layer writer, so a layer's diff_id matches BuildKit's.
//!
//! containerd asks for `FormatPAX` with mtimes truncated to seconds; Go then still writes a
//! plain USTAR header whenever USTAR can hold every field (names up to 255 bytes split into
//! prefix and name), and a PAX extended header only for what USTAR cannot express: long
//! or non-ASCII names and link names, ids above 2097151, sizes from 8 GiB, mtimes outside
//! 0..8^11, and xattrs. Whiteout headers are written without a format request and follow
//! the same choice. Field formatting follows Go exactly: octal with leading zeros and a NUL
//! terminator, the checksum as six digits, NUL and space, and PAX headers named
//! `dir/PaxHeaders.0/base` with mode, ids and mtime zero.

use std::collections::BTreeMap;

/// Size of a tar block.
pub(crate) const BLOCK: usize = 512;

/// Tar type flags this crate writes.
pub(crate) mod typeflag {
    pub(crate) const REG: u8 = b'0';
    pub(crate) const LINK: u8 = b'1';
    pub(crate) const SYMLINK: u8 = b'2';
    pub(crate) const CHAR: u8 = b'3';
    pub(crate) const BLOCK: u8 = b'4';
    pub(crate) const DIR: u8 = b'5';
    pub(crate) const FIFO: u8 = b'6';
    pub(crate) const PAX: u8 = b'x';
}

/// What goes into one entry's header.
#[derive(Debug, Clone, Default)]
pub(crate) struct Header<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) linkname: &'a [u8],
    pub(crate) typeflag: u8,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) size: u64,
    /// Whole seconds since the epoch.
    pub(crate) mtime: i64,
    pub(crate) devmajor: u64,
    pub(crate) devminor: u64,
    /// Extra PAX records (xattrs as `SCHILY.xattr.<name>`).
    pub(crate) pax: &'a [(Vec<u8>, Vec<u8>)],
}

/// PAX records as (key, value) byte strings.
pub(crate) type PaxRecords = Vec<(Vec<u8>, Vec<u8>)>;

/// Why a header cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EncodeError(pub(crate) &'static str);

// Field offsets and widths of the USTAR block.
const NAME: (usize, usize) = (0, 100);
const MODE: (usize, usize) = (100, 8);
const UID: (usize, usize) = (108, 8);
const GID: (usize, usize) = (116, 8);
const SIZE: (usize, usize) = (124, 12);
const MTIME: (usize, usize) = (136, 12);
const CHKSUM: (usize, usize) = (148, 8);
const TYPEFLAG: usize = 156;
const LINKNAME: (usize, usize) = (157, 100);
const MAGIC: (usize, usize) = (257, 6);
const VERSION: (usize, usize) = (263, 2);
const UNAME: (usize, usize) = (265, 32);
const GNAME: (usize, usize) = (297, 32);
const DEVMAJOR: (usize, usize) = (329, 8);
const DEVMINOR: (usize, usize) = (337, 8);
const PREFIX: (usize, usize) = (345, 155);

/// Appends the header blocks of `h` (a PAX extended header first when needed) to `out`.
/// The caller writes the content and its padding.
pub(crate) fn encode(h: &Header<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut pax: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut ustar_ok = true;

    // Names: too long or non-ASCII needs PAX, unless a path fits the USTAR prefix split.
    if needs_pax_string(h.name, NAME.1) {
        if split_ustar_path(h.name).is_none() {
            ustar_ok = false;
        }
        pax.insert(b"path".to_vec(), h.name.to_vec());
    }
    if needs_pax_string(h.linkname, LINKNAME.1) {
        ustar_ok = false;
        pax.insert(b"linkpath".to_vec(), h.linkname.to_vec());
    }
    for (value, width, key) in [
        (h.uid, UID.1, "uid"),
        (h.gid, GID.1, "gid"),
        (h.size, SIZE.1, "size"),
    ] {
        if !fits_octal(value, width) {
            ustar_ok = false;
            pax.insert(key.as_bytes().to_vec(), value.to_string().into_bytes());
        }
    }
    if u64::try_from(h.mtime)
        .ok()
        .is_none_or(|m| !fits_octal(m, MTIME.1))
    {
        ustar_ok = false;
        pax.insert(b"mtime".to_vec(), h.mtime.to_string().into_bytes());
    }
    if !fits_octal(u64::from(h.mode), MODE.1)
        || !fits_octal(h.devmajor, DEVMAJOR.1)
        || !fits_octal(h.devminor, DEVMINOR.1)
    {
        return Err(EncodeError(
            "mode or device number too large for a tar header",
        ));
    }
    if matches!(
        h.typeflag,
        typeflag::REG | typeflag::CHAR | typeflag::BLOCK | typeflag::FIFO
    ) && h.name.ends_with(b"/")
    {
        return Err(EncodeError("a non-directory name may not end with a slash"));
    }
    for (key, value) in h.pax {
        if key.contains(&0) {
            return Err(EncodeError("a PAX record key may not contain NUL"));
        }
        pax.entry(key.clone()).or_insert_with(|| value.clone());
        ustar_ok = false;
    }
    if [b"path".as_slice(), b"linkpath"]
        .iter()
        .any(|k| pax.get(*k).is_some_and(|v| v.contains(&0)))
    {
        return Err(EncodeError("a name may not contain NUL"));
    }

    if ustar_ok {
        let (prefix, name) = split_ustar_path(h.name).unwrap_or((&[], h.name));
        let mut block = template(&Header { name, ..h.clone() }, format_string);
        format_string(field(&mut block, PREFIX), prefix);
        finish_block(&mut block);
        out.extend_from_slice(&block);
        return Ok(());
    }

    if !pax.is_empty() {
        let mut records = Vec::new();
        for (key, value) in &pax {
            pax_record(key, value, &mut records);
        }
        let pax_name = pax_header_name(h.name);
        let mut block = [0u8; BLOCK];
        block[TYPEFLAG] = typeflag::PAX;
        format_string(field(&mut block, NAME), &pax_name);
        format_octal(field(&mut block, MODE), 0);
        format_octal(field(&mut block, UID), 0);
        format_octal(field(&mut block, GID), 0);
        format_octal(field(&mut block, SIZE), records.len() as u64);
        format_octal(field(&mut block, MTIME), 0);
        finish_block(&mut block);
        out.extend_from_slice(&block);
        out.extend_from_slice(&records);
        pad(out, records.len() as u64);
    }
    // The PAX main header carries ASCII-only, truncated copies of the names.
    let mut block = template(h, |b, s| format_string(b, &to_ascii(s)));
    finish_block(&mut block);
    out.extend_from_slice(&block);
    Ok(())
}

/// Appends the NUL padding that rounds `len` bytes of content up to a block.
pub(crate) fn pad(out: &mut Vec<u8>, len: u64) {
    let rem = (len % BLOCK as u64) as usize;
    if rem != 0 {
        out.resize(out.len() + BLOCK - rem, 0);
    }
}

/// The padding length for `len` bytes of content.
pub(crate) fn padding(len: u64) -> usize {
    let rem = (len % BLOCK as u64) as usize;
    if rem == 0 { 0 } else { BLOCK - rem }
}

fn field(block: &mut [u8; BLOCK], (offset, width): (usize, usize)) -> &mut [u8] {
    &mut block[offset..offset + width]
}

/// The fields common to USTAR and PAX main headers (Go's `templateV7Plus`); numbers that do
/// not fit are written as zero, the value living in the PAX record.
fn template(h: &Header<'_>, fmt_str: impl Fn(&mut [u8], &[u8])) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    block[TYPEFLAG] = h.typeflag;
    fmt_str(field(&mut block, NAME), h.name);
    fmt_str(field(&mut block, LINKNAME), h.linkname);
    format_octal(field(&mut block, MODE), u64::from(h.mode));
    format_octal(field(&mut block, UID), h.uid);
    format_octal(field(&mut block, GID), h.gid);
    format_octal(field(&mut block, SIZE), h.size);
    format_octal(
        field(&mut block, MTIME),
        u64::try_from(h.mtime).unwrap_or(u64::MAX),
    );
    // uname and gname stay empty: containerd writes headers without name lookups.
    fmt_str(field(&mut block, UNAME), b"");
    fmt_str(field(&mut block, GNAME), b"");
    format_octal(field(&mut block, DEVMAJOR), h.devmajor);
    format_octal(field(&mut block, DEVMINOR), h.devminor);
    block
}

/// Sets the USTAR magic and version and the checksum (Go's `setFormat`).
fn finish_block(block: &mut [u8; BLOCK]) {
    field(block, MAGIC).copy_from_slice(b"ustar\0");
    field(block, VERSION).copy_from_slice(b"00");
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (CHKSUM.0..CHKSUM.0 + CHKSUM.1).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(b)
            }
        })
        .sum();
    let chk = field(block, CHKSUM);
    format_octal(&mut chk[..7], sum);
    chk[7] = b' ';
}

/// Go's `formatter.formatString`: copy, NUL-terminate when there is room, and never leave
/// a truncated name ending in `/` (some readers would take the entry for a directory).
fn format_string(b: &mut [u8], s: &[u8]) {
    let n = s.len().min(b.len());
    b[..n].copy_from_slice(&s[..n]);
    if s.len() < b.len() {
        b[s.len()] = 0;
    }
    if s.len() > b.len() && b[b.len() - 1] == b'/' {
        let mut end = b.len() - 1;
        while end > 0 && s[end - 1] == b'/' {
            end -= 1;
        }
        b[end] = 0;
    }
}

/// Go's `formatter.formatOctal`: zero-padded octal leaving room for a NUL; zero when the
/// value does not fit.
fn format_octal(b: &mut [u8], value: u64) {
    let value = if fits_octal(value, b.len()) { value } else { 0 };
    let digits = format!("{value:o}");
    let width = b.len() - 1;
    let mut text = Vec::with_capacity(b.len());
    text.resize(width.saturating_sub(digits.len()), b'0');
    text.extend_from_slice(digits.as_bytes());
    format_string(b, &text);
}

/// Whether `value` fits in an octal field of `width` bytes (one byte kept for the NUL).
fn fits_octal(value: u64, width: usize) -> bool {
    let bits = (width - 1) * 3;
    width >= 22 || value < (1u64 << bits)
}

fn needs_pax_string(s: &[u8], width: usize) -> bool {
    s.len() > width || !s.is_ascii()
}

/// Go's `splitUSTARPath`: for an ASCII name longer than 100 bytes, the split at a `/` that
/// leaves at most 155 bytes of prefix and 100 of name.
fn split_ustar_path(s: &[u8]) -> Option<(&[u8], &[u8])> {
    if s.len() <= NAME.1 || !s.is_ascii() {
        return None;
    }
    let mut length = s.len();
    if length > PREFIX.1 + 1 {
        length = PREFIX.1 + 1;
    } else if s[length - 1] == b'/' {
        length -= 1;
    }
    let i = s[..length].iter().rposition(|&b| b == b'/')?;
    let (prefix, name) = (&s[..i], &s[i + 1..]);
    if i == 0 || name.len() > NAME.1 || name.is_empty() || prefix.len() > PREFIX.1 {
        return None;
    }
    Some((prefix, name))
}

/// Go's `toASCII`: drops every non-ASCII byte.
fn to_ascii(s: &[u8]) -> Vec<u8> {
    s.iter().copied().filter(u8::is_ascii).collect()
}

/// Go's name for the PAX header of `name`: `path.Join(dir, "PaxHeaders.0", file)`, made
/// ASCII, cut to 100 bytes and stripped of trailing slashes.
fn pax_header_name(name: &[u8]) -> Vec<u8> {
    let (dir, file) = match name.iter().rposition(|&b| b == b'/') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => (&name[..0], name),
    };
    let mut joined = dir.to_vec();
    joined.extend_from_slice(b"PaxHeaders.0");
    if !file.is_empty() {
        joined.push(b'/');
        joined.extend_from_slice(file);
    }
    let mut ascii = to_ascii(&joined);
    ascii.truncate(NAME.1);
    while ascii.last() == Some(&b'/') {
        ascii.pop();
    }
    ascii
}

/// Go's `formatPAXRecord`: `"<len> <key>=<value>\n"` where len counts itself.
fn pax_record(key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    let base = key.len() + value.len() + 3;
    let mut size = base + base.to_string().len();
    if (base + size.to_string().len()) != size {
        size = base + size.to_string().len();
    }
    out.extend_from_slice(size.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str) -> Header<'_> {
        Header {
            name: name.as_bytes(),
            typeflag: typeflag::REG,
            mode: 0o644,
            mtime: 1_700_000_000,
            ..Header::default()
        }
    }

    fn encoded(h: &Header<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode(h, &mut out).unwrap();
        out
    }

    #[test]
    fn ustar_fields_are_formatted_like_go() {
        let out = encoded(&Header {
            size: 5,
            uid: 1000,
            gid: 1000,
            ..header("etc/passwd")
        });
        assert_eq!(out.len(), BLOCK);
        assert_eq!(&out[0..11], b"etc/passwd\0");
        assert_eq!(&out[100..108], b"0000644\0");
        assert_eq!(&out[108..116], b"0001750\0");
        assert_eq!(&out[124..136], b"00000000005\0");
        assert_eq!(&out[136..148], b"14524770400\0");
        assert_eq!(out[156], b'0');
        assert_eq!(&out[257..265], b"ustar\x0000");
        assert_eq!(&out[265..267], b"\0\0", "empty uname");
        assert_eq!(&out[329..345], b"0000000\x000000000\0");
        // The checksum: six octal digits, NUL, space.
        assert_eq!(out[154], 0);
        assert_eq!(out[155], b' ');
        let header = tar::Header::from_byte_slice(&out);
        assert_eq!(header.cksum().unwrap(), {
            let mut sum = 0u32;
            for (i, b) in out.iter().enumerate() {
                sum += if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(*b)
                };
            }
            sum
        });
    }

    #[test]
    fn names_up_to_255_bytes_use_the_ustar_prefix() {
        let name = format!("{}/{}", "d".repeat(150), "f".repeat(90));
        let out = encoded(&header(&name));
        assert_eq!(out.len(), BLOCK, "no PAX header");
        assert_eq!(&out[0..90], "f".repeat(90).as_bytes());
        assert_eq!(&out[345..495], "d".repeat(150).as_bytes());
        let parsed = tar::Header::from_byte_slice(&out);
        assert_eq!(parsed.path_bytes().as_ref(), name.as_bytes());
    }

    #[test]
    fn long_names_get_a_pax_header_named_like_go() {
        let name = format!("dir/{}", "x".repeat(200));
        let out = encoded(&header(&name));
        assert_eq!(out.len(), 3 * BLOCK);
        assert_eq!(
            &out[0..30],
            format!("dir/PaxHeaders.0/{}", "x".repeat(13)).as_bytes()
        );
        assert_eq!(out[156], b'x');
        assert_eq!(&out[100..108], b"0000000\0");
        assert_eq!(&out[136..148], b"00000000000\0");
        assert_eq!(
            &out[329..345],
            &[0u8; 16],
            "raw PAX headers leave device fields empty"
        );
        let record = format!("214 path={name}\n");
        assert_eq!(
            &out[124..136],
            format!("{:011o}\0", record.len()).as_bytes()
        );
        assert_eq!(&out[BLOCK..BLOCK + record.len()], record.as_bytes());
        // The main header holds the name cut to 100 bytes.
        assert_eq!(&out[2 * BLOCK..2 * BLOCK + 100], &name.as_bytes()[..100]);
    }

    #[test]
    fn pax_records_count_their_own_length() {
        let mut out = Vec::new();
        pax_record(b"path", &[b'a'; 93], &mut out);
        // 93 + 4 + 3 = 100 → "103 ..." would be 103 bytes long: exactly right.
        assert_eq!(out.len(), 103);
        assert!(out.starts_with(b"103 path="));
        out.clear();
        pax_record(b"path", &[b'a'; 92], &mut out);
        // base 99, "99" gives 101 ≠ 102, so the length grows to three digits.
        assert_eq!(out.len(), 102);
        assert!(out.starts_with(b"102 path="));
    }

    #[test]
    fn xattrs_and_big_ids_force_pax() {
        let pax = vec![(
            b"SCHILY.xattr.security.capability".to_vec(),
            vec![1, 0, 0, 2, 0, 0x20, 0, 0],
        )];
        let out = encoded(&Header {
            uid: 3_000_000,
            pax: &pax,
            ..header("bin/ping")
        });
        assert_eq!(out.len(), 3 * BLOCK);
        assert_eq!(&out[0..21], b"bin/PaxHeaders.0/ping");
        let records = &out[BLOCK..2 * BLOCK];
        let text = String::from_utf8_lossy(records);
        let first = text.find("SCHILY").unwrap();
        let second = text.find("uid=3000000").unwrap();
        assert!(first < second, "records are sorted by key: {text:?}");
        // The main header's uid is zero because it does not fit.
        assert_eq!(&out[2 * BLOCK + 108..2 * BLOCK + 116], b"0000000\0");
    }

    #[test]
    fn trailing_slash_is_not_left_at_the_truncation_point() {
        let mut b = [0xffu8; 4];
        format_string(&mut b, b"abc/def");
        assert_eq!(&b, b"abc\0");
        format_string(&mut b, b"a//bcd");
        assert_eq!(&b, b"a//b");
        let mut b = [0xffu8; 3];
        format_string(&mut b, b"a//b");
        assert_eq!(&b, b"a\0/");
    }

    #[test]
    fn split_follows_go() {
        assert_eq!(split_ustar_path(b"short"), None);
        let long_file = format!("a/{}", "f".repeat(101));
        assert_eq!(split_ustar_path(long_file.as_bytes()), None);
        let dir = format!("{}/", "d".repeat(99));
        let full = format!("x/{dir}");
        let (p, n) = split_ustar_path(full.as_bytes()).unwrap();
        assert_eq!(p, b"x");
        assert_eq!(n, dir.as_bytes());
    }

    #[test]
    fn sizes_from_8_gib_go_to_pax() {
        let size = 8u64 << 30;
        let out = encoded(&Header {
            size,
            ..header("big.img")
        });
        assert_eq!(out.len(), 3 * BLOCK);
        assert!(
            String::from_utf8_lossy(&out[BLOCK..2 * BLOCK]).contains(&format!("size={size}\n"))
        );
        assert_eq!(&out[2 * BLOCK + 124..2 * BLOCK + 136], b"00000000000\0");
        let just_fits = encoded(&Header {
            size: size - 1,
            ..header("big.img")
        });
        assert_eq!(just_fits.len(), BLOCK);
        assert_eq!(&just_fits[124..136], b"77777777777\0");
    }

    #[test]
    fn mtime_out_of_range_goes_to_pax() {
        let out = encoded(&Header {
            mtime: -1,
            ..header("f")
        });
        assert_eq!(out.len(), 3 * BLOCK);
        assert!(String::from_utf8_lossy(&out[BLOCK..2 * BLOCK]).contains("mtime=-1\n"));
    }
}
