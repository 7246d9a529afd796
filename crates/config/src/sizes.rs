//! Disk-space values: `reservedSpace`, `maxUsedSpace`, `minFreeSpace`, `keepBytes` and
//! `gckeepstorage`.
//!
//! BuildKit accepts a number of bytes, a size with a unit, or a percentage of the disk
//! holding its root (`cmd/buildkitd/config/gcpolicy.go`, `DiskSpace.UnmarshalText`). Sizes
//! with units go through docker/go-units' `RAMInBytes`, which reads **every unit as
//! binary**: `"512MB"` is 512 × 1024² bytes, the same as `"512MiB"`; `"1GB"` is 2³⁰.
//! hearth follows that, so a file means the same number of bytes to both. (BuildKit's own
//! built-in default policy, by contrast, is written in decimal bytes: see [`crate::gc`].)

use std::fmt;
use std::str::FromStr;

/// An amount of disk space: a number of bytes, or a percentage of the disk that
/// [`DiskSpace::resolve`] turns into bytes once the disk's size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskSpace {
    /// A number of bytes.
    Bytes(u64),
    /// A percentage (0–100) of the total size of the disk holding hearth's root.
    Percentage(u8),
}

/// Why a disk-space value did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not a size BuildKit understands.
    #[error("invalid disk space {0}")]
    Invalid(String),
    /// A percentage outside 0–100.
    #[error("invalid disk space {0}: a percentage must be between 0% and 100%")]
    PercentageOutOfRange(String),
    /// More bytes than fit in 63 bits (BuildKit keeps sizes in an `int64`).
    #[error("invalid disk space {0}: too large")]
    TooLarge(String),
}

/// The size BuildKit assumes for a percentage when it cannot tell how big the disk is
/// (`defaultCap`, 2 GB).
const UNKNOWN_DISK_CAP: u64 = 2_000_000_000;

impl DiskSpace {
    /// Parses a value as BuildKit does: `""` (unset, read as zero bytes), `"10%"`, or a
    /// size for docker/go-units' `RAMInBytes` (`"512000000"`, `"512MB"`, `"1.5GiB"`,
    /// `"10 g"`; units are case-insensitive and binary). Surrounding double quotes inside
    /// the value are dropped, as BuildKit's `stripQuotes` does.
    pub fn parse(text: &str) -> Result<Self, SizeError> {
        let text = strip_quotes(text);
        if text.is_empty() {
            return Ok(DiskSpace::Bytes(0));
        }
        if let Some(number) = text.strip_suffix('%') {
            // BuildKit reads the percentage with `strconv.ParseInt`: whole numbers only.
            let value: i64 = number
                .parse()
                .map_err(|_| SizeError::Invalid(text.to_owned()))?;
            return u8::try_from(value)
                .ok()
                .filter(|p| *p <= 100)
                .map(DiskSpace::Percentage)
                .ok_or_else(|| SizeError::PercentageOutOfRange(text.to_owned()));
        }
        ram_in_bytes(text).map(DiskSpace::Bytes)
    }

    /// True for zero bytes or 0%, which BuildKit treats as "not set".
    pub fn is_zero(&self) -> bool {
        matches!(self, DiskSpace::Bytes(0) | DiskSpace::Percentage(0))
    }

    /// The number of bytes on a disk of `total_bytes`, with BuildKit's arithmetic
    /// (`DiskSpace.AsBytes`): a percentage is rounded *up* to whole GiB and then counted as
    /// that many decimal GB (so 10% of a 100 GiB disk is 11 000 000 000 bytes), and a
    /// percentage of an unknown disk (`total_bytes == 0`) is 2 GB. Zero means "no limit".
    pub fn resolve(&self, total_bytes: u64) -> u64 {
        match *self {
            DiskSpace::Bytes(bytes) => bytes,
            DiskSpace::Percentage(0) => 0,
            DiskSpace::Percentage(_) if total_bytes == 0 => UNKNOWN_DISK_CAP,
            DiskSpace::Percentage(percent) => {
                let share = u128::from(total_bytes) * u128::from(percent) / 100;
                let rounded = (share / (1 << 30) + 1) * 1_000_000_000;
                u64::try_from(rounded).unwrap_or(u64::MAX)
            }
        }
    }
}

impl FromStr for DiskSpace {
    type Err = SizeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for DiskSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskSpace::Bytes(bytes) => write!(f, "{bytes}"),
            DiskSpace::Percentage(percent) => write!(f, "{percent}%"),
        }
    }
}

/// BuildKit's `stripQuotes`: one pair of surrounding double quotes goes.
pub(crate) fn strip_quotes(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(text)
}

/// docker/go-units' `parseSize` with the binary unit map (`RAMInBytes`).
fn ram_in_bytes(text: &str) -> Result<u64, SizeError> {
    let invalid = || SizeError::Invalid(text.to_owned());
    // The number ends at the last digit, dot or space; a single space may separate it
    // from the unit and is not part of either.
    let sep = text
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .ok_or_else(invalid)?;
    let (number, suffix) = if text.as_bytes().get(sep) == Some(&b' ') {
        (&text[..sep], &text[sep + 1..])
    } else {
        (&text[..=sep], &text[sep + 1..])
    };
    let size = parse_go_float(number).ok_or_else(invalid)?;
    if size < 0.0 {
        return Err(invalid());
    }
    let multiplier: f64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        unit => {
            let mut chars = unit.chars();
            let scale = match chars.next() {
                Some('k') => 1u64 << 10,
                Some('m') => 1 << 20,
                Some('g') => 1 << 30,
                Some('t') => 1 << 40,
                Some('p') => 1 << 50,
                _ => return Err(invalid()),
            };
            match chars.as_str() {
                "" | "b" | "ib" => scale as f64,
                _ => return Err(invalid()),
            }
        }
    };
    let bytes = size * multiplier;
    // Go converts with int64(size); beyond its range the result is unspecified, so a
    // size that large is refused rather than guessed.
    if !bytes.is_finite() || bytes >= 9_223_372_036_854_775_808.0 {
        return Err(SizeError::TooLarge(text.to_owned()));
    }
    // Truncation towards zero, as Go's float-to-integer conversion does.
    Ok(bytes as u64)
}

/// The decimal subset of Go's `strconv.ParseFloat` that can reach it here: optional
/// sign, digits with an optional fraction and exponent. Rust's own parser would also take
/// `inf` and `nan`, which Go's caller can never pass (the number must end in a digit, a
/// dot or a space).
fn parse_go_float(number: &str) -> Option<f64> {
    if number.is_empty()
        || !number
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    number.parse::<f64>().ok().filter(|value| value.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        use DiskSpace::{Bytes, Percentage};
        let cases: &[(&str, Result<DiskSpace, SizeError>)] = &[
            ("", Ok(Bytes(0))),
            ("0", Ok(Bytes(0))),
            ("512000000", Ok(Bytes(512_000_000))),
            ("512", Ok(Bytes(512))),
            ("512b", Ok(Bytes(512))),
            ("512B", Ok(Bytes(512))),
            // Binary, whatever the spelling.
            ("1k", Ok(Bytes(1024))),
            ("1KB", Ok(Bytes(1024))),
            ("1KiB", Ok(Bytes(1024))),
            ("512MB", Ok(Bytes(512 << 20))),
            ("512mb", Ok(Bytes(512 << 20))),
            ("512MiB", Ok(Bytes(512 << 20))),
            ("10GB", Ok(Bytes(10 << 30))),
            ("20GB", Ok(Bytes(21_474_836_480))),
            ("1.5GiB", Ok(Bytes(1_610_612_736))),
            ("1.5g", Ok(Bytes(1_610_612_736))),
            ("2TB", Ok(Bytes(2 << 40))),
            ("1P", Ok(Bytes(1 << 50))),
            ("10 GB", Ok(Bytes(10 << 30))),
            ("0.5", Ok(Bytes(0))),
            ("1e3", Ok(Bytes(1000))),
            ("\"1GB\"", Ok(Bytes(1 << 30))),
            ("10%", Ok(Percentage(10))),
            ("0%", Ok(Percentage(0))),
            ("100%", Ok(Percentage(100))),
            ("10.5%", Err(SizeError::Invalid("10.5%".into()))),
            ("%", Err(SizeError::Invalid("%".into()))),
            ("101%", Err(SizeError::PercentageOutOfRange("101%".into()))),
            ("-5%", Err(SizeError::PercentageOutOfRange("-5%".into()))),
            ("-5", Err(SizeError::Invalid("-5".into()))),
            ("GB", Err(SizeError::Invalid("GB".into()))),
            ("ten", Err(SizeError::Invalid("ten".into()))),
            ("10XB", Err(SizeError::Invalid("10XB".into()))),
            ("10GBs", Err(SizeError::Invalid("10GBs".into()))),
            ("10Gb2", Err(SizeError::Invalid("10Gb2".into()))),
            ("10  GB", Err(SizeError::Invalid("10  GB".into()))),
            ("10BB", Err(SizeError::Invalid("10BB".into()))),
            ("10GiBs", Err(SizeError::Invalid("10GiBs".into()))),
            ("inf", Err(SizeError::Invalid("inf".into()))),
            ("9000PB", Err(SizeError::TooLarge("9000PB".into()))),
        ];
        for (text, want) in cases {
            assert_eq!(&DiskSpace::parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn resolve_follows_buildkit_rounding() {
        const GIB: u64 = 1 << 30;
        assert_eq!(DiskSpace::Bytes(5).resolve(100 * GIB), 5);
        assert_eq!(DiskSpace::Percentage(0).resolve(100 * GIB), 0);
        assert_eq!(DiskSpace::Percentage(10).resolve(0), 2_000_000_000);
        // 10 GiB → 10 whole GiB, plus one, counted in decimal GB.
        assert_eq!(DiskSpace::Percentage(10).resolve(100 * GIB), 11_000_000_000);
        assert_eq!(
            DiskSpace::Percentage(10).resolve(100_000_000_000),
            10_000_000_000
        );
        assert_eq!(DiskSpace::Percentage(50).resolve(GIB), 1_000_000_000);
    }

    #[test]
    fn display_round_trips() {
        for value in [DiskSpace::Bytes(512), DiskSpace::Percentage(10)] {
            assert_eq!(value.to_string().parse::<DiskSpace>(), Ok(value));
        }
    }
}
