//! Go's `time.ParseDuration`, for `HEALTHCHECK --interval=1m30s` and friends.

/// Parses a Go duration string (`300ms`, `-1.5h`, `2h45m`) into nanoseconds.
/// Errors use Go's wording, since users compare them with docker's output.
pub(crate) fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", crate::shell::go_quote(text));
    let mut s = text;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let number_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let number = &s[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        s = &s[number_len..];
        let unit_len = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    crate::shell::go_quote(text)
                ));
            }
            other => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    crate::shell::go_quote(other),
                    crate::shell::go_quote(text)
                ));
            }
        };
        total += value * scale;
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let nanos = total.round() as i64;
    Ok(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("30s", Ok(30_000_000_000)),
            ("1m30s", Ok(90_000_000_000)),
            ("1.5h", Ok(5_400_000_000_000)),
            ("500ms", Ok(500_000_000)),
            ("10us", Ok(10_000)),
            ("0", Ok(0)),
            ("-2s", Ok(-2_000_000_000)),
            ("", Err("time: invalid duration \"\"")),
            ("10", Err("time: missing unit in duration \"10\"")),
            ("5x", Err("time: unknown unit \"x\" in duration \"5x\"")),
            ("abc", Err("time: invalid duration \"abc\"")),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_go_duration(text),
                want.map_err(str::to_owned),
                "{text}"
            );
        }
    }
}
