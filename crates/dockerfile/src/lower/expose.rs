//! EXPOSE port specifications: `80`, `80/udp`, `8000-8010/tcp`, and the host-mapping
//! forms docker tolerates (`ip:host:container`), reduced to `port/proto` keys.

/// Expands one spec to its `port/proto` entries.
pub(crate) fn parse_port(raw: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (ip, host_port, container) = match parts.len() {
        1 => ("".to_owned(), "", parts[0]),
        2 => ("".to_owned(), parts[0], parts[1]),
        3 => (parts[0].to_owned(), parts[1], parts[2]),
        n => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(format!(
            "invalid port: {}: no port specified",
            crate::shell::go_quote(raw)
        ));
    }
    let proto = match proto.to_ascii_lowercase().as_str() {
        "" => "tcp".to_owned(),
        "tcp" | "udp" | "sctp" => proto.to_ascii_lowercase(),
        _ => {
            return Err(format!(
                "invalid port: {}: invalid proto: {proto}",
                crate::shell::go_quote(raw)
            ));
        }
    };
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .map(str::to_owned)
        .unwrap_or(ip);
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    let (start, end) = port_range(port).map_err(|_| format!("invalid containerPort: {port}"))?;
    if !host_port.is_empty() {
        let (host_start, host_end) =
            port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
        if end - start != host_end - host_start && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {port} and {host_port}"
            ));
        }
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

fn port_range(ports: &str) -> Result<(u32, u32), ()> {
    if ports.is_empty() {
        return Err(());
    }
    let (start, end) = match ports.split_once('-') {
        Some((s, e)) => (s, Some(e)),
        None => (ports, None),
    };
    let start_port = port_number(start)?;
    match end {
        None => Ok((start_port, start_port)),
        Some(end) if end == start => Ok((start_port, start_port)),
        Some(end) => {
            let end_port = port_number(end)?;
            if end_port < start_port {
                return Err(());
            }
            Ok((start_port, end_port))
        }
    }
}

fn port_number(s: &str) -> Result<u32, ()> {
    let n: i64 = s.parse().map_err(|_| ())?;
    if !(0..=65535).contains(&n) {
        return Err(());
    }
    u32::try_from(n).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        let cases: &[(&str, &[&str])] = &[
            ("80", &["80/tcp"]),
            ("53/UDP", &["53/udp"]),
            ("7000-7002/sctp", &["7000/sctp", "7001/sctp", "7002/sctp"]),
            ("8080:80", &["80/tcp"]),
            ("127.0.0.1:8080:80/udp", &["80/udp"]),
            ("[::1]:8080:80", &["80/tcp"]),
            ("9-9", &["9/tcp"]),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_port(raw).unwrap(), *want, "{raw}");
        }
    }

    #[test]
    fn bad_ports() {
        let cases = [
            ("", "invalid port: \"\": no port specified"),
            ("80/icmp", "invalid port: \"80/icmp\": invalid proto: icmp"),
            ("abc", "invalid containerPort: abc"),
            ("70000", "invalid containerPort: 70000"),
            ("10-5", "invalid containerPort: 10-5"),
            ("x:80", "invalid hostPort: x"),
            ("1.2.3:8:80", "invalid IP address: 1.2.3"),
            (
                "1-3:5-6",
                "invalid ranges specified for container and host Ports: 5-6 and 1-3",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_port(raw).unwrap_err(), want, "{raw}");
        }
    }
}
