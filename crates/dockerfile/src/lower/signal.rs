//! Validation of STOPSIGNAL values, as moby's `signal.ParseSignal` does on Linux.

const NAMES: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// Accepts a signal number or a name with or without `SIG`, in any case.
pub(crate) fn validate(raw: &str) -> Result<(), String> {
    let invalid = || format!("invalid signal: {raw}");
    if let Ok(number) = raw.parse::<i64>() {
        return if number == 0 { Err(invalid()) } else { Ok(()) };
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if NAMES.contains(&name) {
        return Ok(());
    }
    let realtime = |prefix: &str, range: std::ops::RangeInclusive<u32>| {
        name.strip_prefix(prefix)
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| range.contains(&n))
    };
    if realtime("RTMIN+", 1..=15) || realtime("RTMAX-", 1..=14) {
        return Ok(());
    }
    Err(invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        for ok in [
            "SIGTERM",
            "term",
            "KILL",
            "9",
            "SIGRTMIN+3",
            "rtmax-1",
            "sigwinch",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for bad in ["SIGFOO", "0", "", "RTMIN+16"] {
            assert_eq!(
                validate(bad),
                Err(format!("invalid signal: {bad}")),
                "{bad}"
            );
        }
    }
}
