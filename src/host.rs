//! Host header values, parsed strictly: a DNS name or IPv4 address (`[A-Za-z0-9.-]`) or a
//! bracketed IPv6 literal, then an optional port, and nothing else. Every listener's Host rule
//! (loopback only, against DNS rebinding) and the signing proxy's choice of upstream go through
//! [`Authority::parse`], so a value such as `127.0.0.1:9443/.s3.amazonaws.com` or
//! `[::1]evil.example` is refused rather than read two ways.

use std::net::{IpAddr, Ipv6Addr};

/// A parsed `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// The host: a DNS name or IPv4 address as given, or an IPv6 address without brackets.
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
}

impl Authority {
    /// Parses a Host header value (or a URI authority without user info).
    pub fn parse(value: &str) -> Option<Self> {
        let (host, port) = split(value)?;
        let host = match host {
            Host::Name(name) => name.to_owned(),
            Host::V6(ip) => ip.to_string(),
        };
        Some(Self { host, port })
    }

    /// Whether the host is this machine's loopback: `localhost`, 127.0.0.0/8 or `::1`.
    pub fn is_loopback(&self) -> bool {
        Host::Name(&self.host).is_loopback()
    }
}

/// The host of a value being parsed, borrowed from it where it can be.
enum Host<'a> {
    /// A DNS name or IPv4 address, as given.
    Name(&'a str),
    /// A bracketed IPv6 literal.
    V6(Ipv6Addr),
}

impl Host<'_> {
    /// `localhost`, 127.0.0.0/8 or `::1` (a name may also hold an unbracketed address).
    fn is_loopback(&self) -> bool {
        match self {
            Self::Name(name) => {
                name.eq_ignore_ascii_case("localhost")
                    || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
            Self::V6(ip) => ip.is_loopback(),
        }
    }
}

/// The strict `host[:port]` grammar of [`Authority::parse`], without copying the host: the
/// per-request Host checks use it directly.
fn split(value: &str) -> Option<(Host<'_>, Option<u16>)> {
    if let Some(rest) = value.strip_prefix('[') {
        let (literal, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = literal.parse().ok()?;
        return Some((Host::V6(ip), port_after(after)?));
    }
    let (name, port) = match value.split_once(':') {
        Some((name, port)) => (name, Some(parse_port(port)?)),
        None => (value, None),
    };
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    valid.then_some((Host::Name(name), port))
}

/// The form of a URI or Host header: IPv6 in brackets, then the port.
impl std::fmt::Display for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// `:PORT` or nothing, after an IPv6 literal's `]`.
fn port_after(after: &str) -> Option<Option<u16>> {
    if after.is_empty() {
        return Some(None);
    }
    Some(Some(parse_port(after.strip_prefix(':')?)?))
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Whether a Host header value is well formed and names this machine's loopback, with any
/// port. A page using DNS rebinding sends its own name instead.
pub fn is_loopback_host(value: &str) -> bool {
    split(value).is_some_and(|(host, _)| host.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_addresses_and_ports_parse() {
        let parsed = |v: &str| Authority::parse(v).map(|a| (a.host, a.port));
        assert_eq!(
            parsed("localhost:8080"),
            Some(("localhost".into(), Some(8080)))
        );
        assert_eq!(
            parsed("s3.amazonaws.com"),
            Some(("s3.amazonaws.com".into(), None))
        );
        assert_eq!(parsed("[::1]:9911"), Some(("::1".into(), Some(9911))));
        assert_eq!(
            parsed("[fd00:ec2::23]"),
            Some(("fd00:ec2::23".into(), None))
        );
        assert_eq!(parsed("127.0.0.1"), Some(("127.0.0.1".into(), None)));
    }

    #[test]
    fn anything_after_the_authority_is_refused() {
        for value in [
            "127.0.0.1:9443/.s3.amazonaws.com",
            "127.0.0.1:9443?.s3.amazonaws.com",
            "127.0.0.1:9443#.s3.amazonaws.com",
            "127.0.0.1/.s3.amazonaws.com",
            "[::1]evil.com",
            "[::1]:80evil",
            "[evil.com]",
            "user@s3.amazonaws.com",
            "a b",
            "",
            ":80",
            "host:",
            "host:99999",
            "host:80:80",
            "h\u{e9}te",
        ] {
            assert_eq!(Authority::parse(value), None, "{value}");
            // The per-request loopback check reads the same grammar without copying.
            assert!(!is_loopback_host(value), "{value}");
        }
    }

    #[test]
    fn loopback_is_localhost_127_and_v6() {
        for value in ["localhost", "LOCALHOST:1", "127.3.4.5", "[::1]:80"] {
            assert!(is_loopback_host(value), "{value}");
        }
        for value in [
            "10.0.0.1",
            "evil.example",
            "127.0.0.1.evil.example",
            "[::1]evil.com",
        ] {
            assert!(!is_loopback_host(value), "{value}");
        }
        assert_eq!(Authority::parse("[::1]evil.com"), None);
    }

    #[test]
    fn the_uri_form_brackets_ipv6() {
        let authority = Authority::parse("[::1]:8080").unwrap();
        assert_eq!(authority.to_string(), "[::1]:8080");
        assert_eq!(
            Authority::parse("s3.amazonaws.com").unwrap().to_string(),
            "s3.amazonaws.com"
        );
    }
}
