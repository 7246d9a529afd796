//! Durations: `keepDuration`, `[history] maxAge`, `[system] platformsCacheMaxAge`.
//!
//! BuildKit's `Duration.UnmarshalText` (`cmd/buildkitd/config/gcpolicy.go`) first tries
//! Go's `time.ParseDuration` (`"48h"`, `"1h30m"`, `"1.5h"`, `"300ms"`) and then a plain
//! integer, read as seconds (`172800`, also when written as a TOML integer). Go durations
//! have no day unit, so `"2d"` is invalid there and here.

use std::time::Duration;

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Neither a Go duration nor an integer number of seconds.
    #[error("invalid duration {0}")]
    Invalid(String),
    /// A negative duration: BuildKit would take it, but it means nothing for an age or
    /// a retention time.
    #[error("invalid duration {0}: must not be negative")]
    Negative(String),
    /// Longer than Go's `time.Duration` can hold (about 292 years).
    #[error("invalid duration {0}: too large")]
    TooLarge(String),
}

/// Parses a duration as BuildKit does. `""` means unset and yields zero.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = crate::sizes::strip_quotes(text);
    if text.is_empty() {
        return Ok(Duration::ZERO);
    }
    let nanos = match go_parse_duration(text) {
        Ok(nanos) => nanos,
        Err(GoError::Overflow) => return Err(DurationError::TooLarge(text.to_owned())),
        Err(GoError::Invalid) => {
            let seconds: i64 = text
                .parse()
                .map_err(|_| DurationError::Invalid(text.to_owned()))?;
            // Go multiplies by time.Second without an overflow check; hearth refuses
            // instead of wrapping around.
            i128::from(seconds) * 1_000_000_000
        }
    };
    if nanos < 0 {
        return Err(DurationError::Negative(text.to_owned()));
    }
    if nanos > i128::from(i64::MAX) {
        return Err(DurationError::TooLarge(text.to_owned()));
    }
    let nanos = u64::try_from(nanos).map_err(|_| DurationError::TooLarge(text.to_owned()))?;
    Ok(Duration::from_nanos(nanos))
}

/// A hint for a duration that did not parse: the Go spelling of day counts, which are
/// the usual culprit (`"2d"`, `"7days"`).
pub(crate) fn duration_hint(text: &str) -> String {
    let text = crate::sizes::strip_quotes(text).trim();
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let unit = text[digits.len()..].trim().to_ascii_lowercase();
    if let (Ok(days), true) = (
        digits.parse::<u64>(),
        matches!(unit.as_str(), "d" | "day" | "days"),
    ) {
        return format!(
            "Go durations have no day unit; write \"{}h\"",
            days.saturating_mul(24)
        );
    }
    "write a number of seconds (172800) or a Go duration such as \"48h\" or \"1h30m\" \
     (units: ns, us, ms, s, m, h)"
        .to_owned()
}

#[derive(Debug, PartialEq, Eq)]
enum GoError {
    Invalid,
    Overflow,
}

/// Go's `time.ParseDuration`, in nanoseconds: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0`.
fn go_parse_duration(text: &str) -> Result<i128, GoError> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(GoError::Invalid);
    }
    // Go accumulates in a uint64 and allows at most 1<<63 (for the negative minimum).
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(GoError::Invalid);
        }
        let (whole, after) = leading_int(rest)?;
        let had_whole = after.len() != rest.len();
        rest = after;
        let mut fraction = 0u64;
        let mut scale = 1f64;
        let mut had_fraction = false;
        if let Some(after_dot) = rest.strip_prefix('.') {
            let (f, s, after) = leading_fraction(after_dot);
            had_fraction = after.len() != after_dot.len();
            fraction = f;
            scale = s;
            rest = after;
        }
        if !had_whole && !had_fraction {
            return Err(GoError::Invalid);
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1u64,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(GoError::Invalid),
        };
        rest = &rest[unit_len..];
        if whole > LIMIT / unit {
            return Err(GoError::Overflow);
        }
        let mut value = whole * unit;
        if fraction > 0 {
            // Go uses float64 here too, to stay exact to the nanosecond for fractions
            // of hours.
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(GoError::Overflow);
            }
        }
        total = total.checked_add(value).ok_or(GoError::Overflow)?;
        if total > LIMIT {
            return Err(GoError::Overflow);
        }
    }
    if negative {
        return Ok(-i128::from(total));
    }
    if total > LIMIT - 1 {
        return Err(GoError::Overflow);
    }
    Ok(i128::from(total))
}

/// Go's `leadingInt`: the leading decimal digits, failing on overflow past 1<<63.
fn leading_int(text: &str) -> Result<(u64, &str), GoError> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let mut value: u64 = 0;
    for digit in text[..end].bytes() {
        if value > (1 << 63) / 10 {
            return Err(GoError::Overflow);
        }
        value = value * 10 + u64::from(digit - b'0');
        if value > 1 << 63 {
            return Err(GoError::Overflow);
        }
    }
    Ok((value, &text[end..]))
}

/// Go's `leadingFraction`: digits after the dot, dropping those that no longer fit.
fn leading_fraction(text: &str) -> (u64, f64, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let mut value: u64 = 0;
    let mut scale = 1f64;
    let mut overflow = false;
    for digit in text[..end].bytes() {
        if overflow {
            continue;
        }
        if value > (i64::MAX as u64) / 10 {
            overflow = true;
            continue;
        }
        let next = value * 10 + u64::from(digit - b'0');
        if next > i64::MAX as u64 {
            overflow = true;
            continue;
        }
        value = next;
        scale *= 10.0;
    }
    (value, scale, &text[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let secs = Duration::from_secs;
        let cases: &[(&str, Result<Duration, DurationError>)] = &[
            ("", Ok(Duration::ZERO)),
            ("0", Ok(Duration::ZERO)),
            ("172800", Ok(secs(172_800))),
            ("+30", Ok(secs(30))),
            ("48h", Ok(secs(48 * 3600))),
            ("1h30m", Ok(secs(5400))),
            ("1.5h", Ok(secs(5400))),
            ("90s", Ok(secs(90))),
            (".5s", Ok(Duration::from_millis(500))),
            ("1.s", Ok(secs(1))),
            ("300ms", Ok(Duration::from_millis(300))),
            ("10us", Ok(Duration::from_micros(10))),
            ("10µs", Ok(Duration::from_micros(10))),
            ("10μs", Ok(Duration::from_micros(10))),
            ("7ns", Ok(Duration::from_nanos(7))),
            ("1h1m1s1ms", Ok(Duration::from_millis(3_661_001))),
            ("\"2h\"", Ok(secs(7200))),
            ("2d", Err(DurationError::Invalid("2d".into()))),
            ("48H", Err(DurationError::Invalid("48H".into()))),
            ("1.5", Err(DurationError::Invalid("1.5".into()))),
            ("h", Err(DurationError::Invalid("h".into()))),
            (".h", Err(DurationError::Invalid(".h".into()))),
            ("1h 30m", Err(DurationError::Invalid("1h 30m".into()))),
            ("forever", Err(DurationError::Invalid("forever".into()))),
            ("-1h", Err(DurationError::Negative("-1h".into()))),
            ("-60", Err(DurationError::Negative("-60".into()))),
            ("3000000h", Err(DurationError::TooLarge("3000000h".into()))),
            (
                "9223372036854775807",
                Err(DurationError::TooLarge("9223372036854775807".into())),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_duration(text), want, "{text:?}");
        }
    }

    #[test]
    fn largest_go_duration_is_accepted() {
        assert_eq!(
            parse_duration("2562047h47m16.854775807s"),
            Ok(Duration::from_nanos(i64::MAX as u64))
        );
        assert_eq!(
            parse_duration("2562047h47m16.854775808s"),
            Err(DurationError::TooLarge("2562047h47m16.854775808s".into()))
        );
    }

    #[test]
    fn hints_spell_days_in_hours() {
        assert_eq!(
            duration_hint("2d"),
            "Go durations have no day unit; write \"48h\""
        );
        assert_eq!(
            duration_hint("60 days"),
            "Go durations have no day unit; write \"1440h\""
        );
        assert!(duration_hint("soon").starts_with("write a number of seconds"));
    }
}
