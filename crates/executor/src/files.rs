//! The `/etc/hosts` and `/etc/resolv.conf` a step sees.

/// BuildKit's hosts file: localhost with the sandbox hostname, and IPv6 localhost.
pub fn hosts_file(hostname: &str) -> String {
    let hostname = if hostname.is_empty() {
        crate::DEFAULT_HOSTNAME
    } else {
        hostname
    };
    format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

/// The nameservers docker and BuildKit fall back to when the host has only local ones.
const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// The step's resolv.conf from the host's. With the host network the file is used as
/// is; in a separate network namespace a nameserver on the host's loopback is
/// unreachable, so those lines are dropped (and public resolvers used if none remain),
/// as docker does.
pub fn resolv_conf(host: &str, host_network: bool) -> String {
    if host_network {
        return host.to_owned();
    }
    let mut out = String::new();
    let mut nameservers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let Some(addr) = words.next() else { continue };
            if addr.starts_with("127.") || addr == "::1" {
                continue;
            }
            nameservers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if nameservers == 0 {
        for ns in FALLBACK_NAMESERVERS {
            out.push_str(&format!("nameserver {ns}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_buildkit() {
        assert_eq!(
            hosts_file("buildkitsandbox"),
            "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        );
        assert_eq!(hosts_file(""), hosts_file("buildkitsandbox"));
    }

    #[test]
    fn resolv_conf_without_host_network_drops_loopback_servers() {
        let host =
            "search example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions ndots:2\n";
        assert_eq!(resolv_conf(host, true), host);
        assert_eq!(
            resolv_conf(host, false),
            "search example.com\nnameserver 10.0.0.2\noptions ndots:2\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\n", false),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }
}
