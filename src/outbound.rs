//! Outbound connections: which `host:port` destinations an app's guest may
//! reach, the parsing of the addresses guests ask for, and the connecting.
//! The native config writes patterns as `host:port`; Spin manifests (see
//! [`crate::spin`]) also restrict the scheme, allow every subdomain of a
//! domain and ranges of ports, which [`HostPattern::new`] builds.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use tokio::net::TcpStream;

const EXPECTED_PATTERN: &str = "expected `host:port` (host may be `*`, port a number or `*`)";
const WILDCARD: &str = "*";

/// One `allowed_outbound_hosts` entry: "host:port". Host may be a DNS name, an IPv4
/// address, a bracketed IPv6 address ("[::1]:8080"), or "*" (any host); port may be a
/// number or "*" (any port). Built with [`HostPattern::new`], it may also be limited
/// to one scheme, cover every subdomain of a domain, or a range of ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// Lower-cased; `None` (every pattern parsed from `host:port`): any scheme.
    scheme: Option<String>,
    host: HostMatch,
    port: PortMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    /// Lower-cased, IPv6 addresses without their brackets.
    Named(String),
    /// Any name strictly below this lower-cased domain (`*.example.com`), not
    /// the domain itself nor an address.
    Subdomains(String),
}

/// The ports a [`HostPattern`] admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortMatch {
    Any,
    Number(u16),
    /// From `start` up to, not including, `end` (Spin's `4444..5555`).
    Range {
        start: u16,
        end: u16,
    },
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || format!("{EXPECTED_PATTERN}, got `{text}`");
        let address = Address::split(text).ok_or_else(invalid)?;
        let host = if address.is_wildcard_host() {
            HostMatch::Any
        } else if address.has_valid_host() {
            HostMatch::Named(address.host.to_ascii_lowercase())
        } else {
            return Err(invalid());
        };
        let port = if address.port == WILDCARD {
            PortMatch::Any
        } else {
            PortMatch::Number(parse_port(address.port).ok_or_else(invalid)?)
        };
        Ok(HostPattern {
            scheme: None,
            host,
            port,
        })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        match &self.host {
            HostMatch::Any => f.write_str(WILDCARD)?,
            HostMatch::Named(host) if host.contains(':') => write!(f, "[{host}]")?,
            HostMatch::Named(host) => f.write_str(host)?,
            HostMatch::Subdomains(domain) => write!(f, "*.{domain}")?,
        }
        match self.port {
            PortMatch::Any => write!(f, ":{WILDCARD}"),
            PortMatch::Number(port) => write!(f, ":{port}"),
            PortMatch::Range { start, end } => write!(f, ":{start}..{end}"),
        }
    }
}

impl HostPattern {
    /// A pattern beyond the `host:port` syntax. `scheme`: alphabetic, or `None` for
    /// any. `host`: `*` (any host), `*.domain` (every name below `domain`), a DNS
    /// name, an IPv4 address or an IPv6 address (brackets optional).
    pub fn new(scheme: Option<&str>, host: &str, port: PortMatch) -> Result<HostPattern, String> {
        if let Some(scheme) = scheme
            && (scheme.is_empty() || !scheme.bytes().all(|byte| byte.is_ascii_alphabetic()))
        {
            return Err(format!("`{scheme}` is not a scheme (letters only)"));
        }
        let host = if host == WILDCARD {
            HostMatch::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            if !is_dns_name_or_ipv4(domain) || domain.parse::<IpAddr>().is_ok() {
                return Err(format!("`{host}`: `*.` must be followed by a domain name"));
            }
            HostMatch::Subdomains(domain.to_ascii_lowercase())
        } else if strip_brackets(host).parse::<Ipv6Addr>().is_ok() {
            HostMatch::Named(strip_brackets(host).to_ascii_lowercase())
        } else if is_dns_name_or_ipv4(host) {
            HostMatch::Named(host.to_ascii_lowercase())
        } else {
            return Err(format!("`{host}` is not a host name or address"));
        };
        if let PortMatch::Range { start, end } = port
            && start >= end
        {
            return Err(format!("the port range {start}..{end} is empty"));
        }
        Ok(HostPattern {
            scheme: scheme.map(str::to_ascii_lowercase),
            host,
            port,
        })
    }

    /// The scheme the pattern is limited to; `None`: any.
    pub fn scheme(&self) -> Option<&str> {
        self.scheme.as_deref()
    }

    /// Whether a connection to `host` (a name or address, IPv6 with or without brackets)
    /// on `port` fits this pattern. Names compare case-insensitively and addresses by
    /// value, so `[0:0::1]` matches `::1`. The scheme is not known here, so a pattern
    /// limited to one never matches; see [`HostPattern::matches_scheme`].
    pub fn matches(&self, host: &str, port: u16) -> bool {
        self.scheme.is_none() && self.matches_host(strip_brackets(host)) && self.matches_port(port)
    }

    /// [`HostPattern::matches`] for a connection made with `scheme` (`https`, `tcp`...).
    pub fn matches_scheme(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.scheme
            .as_deref()
            .is_none_or(|allowed| allowed.eq_ignore_ascii_case(scheme))
            && self.matches_host(strip_brackets(host))
            && self.matches_port(port)
    }

    fn matches_host(&self, host: &str) -> bool {
        match &self.host {
            HostMatch::Any => true,
            HostMatch::Named(allowed) => {
                allowed.eq_ignore_ascii_case(host) || same_ip_address(allowed, host)
            }
            HostMatch::Subdomains(domain) => {
                let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
                host.parse::<IpAddr>().is_err()
                    && host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|below| below.len() > 1 && below.ends_with('.'))
            }
        }
    }

    fn matches_port(&self, port: u16) -> bool {
        match self.port {
            PortMatch::Any => true,
            PortMatch::Number(allowed) => allowed == port,
            PortMatch::Range { start, end } => (start..end).contains(&port),
        }
    }
}

/// What an app may connect to. `None` inside = unrestricted (config key absent);
/// `Some(vec![])` = nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Option<Vec<HostPattern>>);

impl AllowedHosts {
    pub fn unrestricted() -> Self {
        AllowedHosts(None)
    }

    pub fn only(patterns: Vec<HostPattern>) -> Self {
        AllowedHosts(Some(patterns))
    }

    pub fn is_unrestricted(&self) -> bool {
        self.0.is_none()
    }

    /// The patterns, or `None` when unrestricted.
    pub fn patterns(&self) -> Option<&[HostPattern]> {
        self.0.as_deref()
    }

    /// For a connection whose scheme is not known: patterns limited to a scheme do
    /// not count.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.0
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|pattern| pattern.matches(host, port)))
    }

    /// For a connection made with `scheme` (`http`, `https`, `tcp`...).
    pub fn allows_scheme(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.0.as_ref().is_none_or(|patterns| {
            patterns
                .iter()
                .any(|pattern| pattern.matches_scheme(scheme, host, port))
        })
    }
}

/// Splits a guest-supplied "host:port" or "[v6]:port" address into a host (IPv6 without
/// brackets, ready for name resolution) and a port; `None` when it is not such an address.
pub fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let address = Address::split(addr)?;
    if !address.has_valid_host() {
        return None;
    }
    Some((address.host, parse_port(address.port)?))
}

/// Connects to a guest-supplied `host:port` when `allowed` permits it. The
/// check is on the name the guest gave, before any name resolution.
pub async fn connect(allowed: &AllowedHosts, address: &str) -> io::Result<TcpStream> {
    let (host, port) = split_host_port(address)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "expected `host:port`"))?;
    if !allowed.allows(host, port) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not in allowed_outbound_hosts",
        ));
    }
    TcpStream::connect((host, port)).await
}

/// An address split at its port separator, neither half validated yet.
struct Address<'a> {
    /// Without brackets.
    host: &'a str,
    bracketed: bool,
    port: &'a str,
}

impl<'a> Address<'a> {
    fn split(text: &'a str) -> Option<Self> {
        if let Some(rest) = text.strip_prefix('[') {
            let (host, port) = rest.split_once("]:")?;
            return Some(Address {
                host,
                bracketed: true,
                port,
            });
        }
        // An unbracketed host never contains ':', so the first one ends it; an IPv6
        // address without brackets is left with a port that does not parse.
        let (host, port) = text.split_once(':')?;
        Some(Address {
            host,
            bracketed: false,
            port,
        })
    }

    fn is_wildcard_host(&self) -> bool {
        !self.bracketed && self.host == WILDCARD
    }

    fn has_valid_host(&self) -> bool {
        if self.bracketed {
            self.host.parse::<Ipv6Addr>().is_ok()
        } else {
            is_dns_name_or_ipv4(self.host)
        }
    }
}

/// DNS names and dotted IPv4 addresses share one shape: dot-separated labels of
/// letters, digits, '-' and '_' (the latter appears in real service names).
fn is_dns_name_or_ipv4(host: &str) -> bool {
    const MAX_NAME: usize = 253;
    const MAX_LABEL: usize = 63;
    let is_label = |label: &str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    };
    host.len() <= MAX_NAME && host.split('.').all(is_label)
}

/// Digits only: `u16::from_str` would also take "+80".
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host)
}

fn same_ip_address(left: &str, right: &str) -> bool {
    match (left.parse::<IpAddr>(), right.parse::<IpAddr>()) {
        (Ok(left), Ok(right)) => left == right,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> HostPattern {
        match text.parse() {
            Ok(pattern) => pattern,
            Err(error) => panic!("`{text}` should parse: {error}"),
        }
    }

    #[test]
    fn parses_every_host_form() {
        for text in [
            "example.com:80",
            "127.0.0.1:8080",
            "[::1]:8080",
            "*:443",
            "api.example.com:*",
            "*:*",
            "my_service.internal:5432",
        ] {
            assert_eq!(pattern(text).to_string(), text);
        }
    }

    #[test]
    fn display_is_lower_case_and_parses_back() {
        let original = pattern("Example.COM:80");
        assert_eq!(original.to_string(), "example.com:80");
        assert_eq!(pattern(&original.to_string()), original);
        assert_eq!(pattern("[FE80::1]:*").to_string(), "[fe80::1]:*");
    }

    #[test]
    fn rejects_malformed_patterns_explaining_the_form() {
        for text in [
            "foo",
            "",
            ":80",
            "example.com:",
            "example.com:http",
            "example.com:+80",
            "example.com:65536",
            "::1:80",
            "[::1]80",
            "[not-v6]:80",
            "[*]:80",
            "exa mple.com:80",
            "example..com:80",
            "*.example.com:80",
            "example.com:80:90",
            "http://example.com:80",
        ] {
            let error = match text.parse::<HostPattern>() {
                Ok(pattern) => panic!("`{text}` parsed as {pattern}"),
                Err(error) => error,
            };
            assert!(error.starts_with(EXPECTED_PATTERN), "{error}");
            assert!(error.ends_with(&format!("got `{text}`")), "{error}");
        }
        assert_eq!(
            "foo".parse::<HostPattern>().err().as_deref(),
            Some("expected `host:port` (host may be `*`, port a number or `*`), got `foo`")
        );
    }

    #[test]
    fn matches_host_case_insensitively_and_port_exactly() {
        let exact = pattern("Example.com:80");
        assert!(exact.matches("example.com", 80));
        assert!(exact.matches("EXAMPLE.COM", 80));
        assert!(!exact.matches("example.com", 81));
        assert!(!exact.matches("api.example.com", 80));
        assert!(!exact.matches("example.com.evil", 80));
    }

    #[test]
    fn wildcards_match_any_host_or_port() {
        assert!(pattern("*:443").matches("anything.example", 443));
        assert!(!pattern("*:443").matches("anything.example", 80));
        assert!(pattern("db.local:*").matches("DB.local", 1));
        assert!(!pattern("db.local:*").matches("other.local", 1));
        assert!(pattern("*:*").matches("::1", 0));
    }

    #[test]
    fn ipv6_pattern_matches_with_or_without_brackets_and_by_value() {
        let loopback = pattern("[::1]:8080");
        assert!(loopback.matches("::1", 8080));
        assert!(loopback.matches("[::1]", 8080));
        assert!(loopback.matches("0:0:0:0:0:0:0:1", 8080));
        assert!(!loopback.matches("::2", 8080));
        assert!(pattern("[0::1]:1").matches("[::1]", 1));
    }

    #[test]
    fn absent_list_allows_everything_and_empty_list_nothing() {
        assert!(AllowedHosts::default().is_unrestricted());
        assert!(AllowedHosts::unrestricted().allows("anything", 1));
        let nothing = AllowedHosts::only(Vec::new());
        assert!(!nothing.is_unrestricted());
        assert!(!nothing.allows("localhost", 80));
        assert_eq!(nothing.patterns(), Some(&[][..]));
    }

    #[test]
    fn list_allows_what_any_pattern_matches() {
        let allowed = AllowedHosts::only(vec![pattern("127.0.0.1:8181"), pattern("*:443")]);
        assert!(allowed.allows("127.0.0.1", 8181));
        assert!(allowed.allows("example.com", 443));
        assert!(!allowed.allows("127.0.0.1", 8182));
        assert!(!allowed.allows("example.com", 80));
    }

    fn built(scheme: Option<&str>, host: &str, port: PortMatch) -> HostPattern {
        match HostPattern::new(scheme, host, port) {
            Ok(pattern) => pattern,
            Err(error) => panic!("{scheme:?} {host} should build: {error}"),
        }
    }

    #[test]
    fn scheme_limited_patterns_match_only_that_scheme() {
        let https = built(Some("HTTPS"), "api.example.com", PortMatch::Number(443));
        assert_eq!(https.to_string(), "https://api.example.com:443");
        assert_eq!(https.scheme(), Some("https"));
        assert!(https.matches_scheme("https", "API.example.com", 443));
        assert!(!https.matches_scheme("http", "api.example.com", 443));
        assert!(!https.matches_scheme("tcp", "api.example.com", 443));
        assert!(!https.matches("api.example.com", 443), "scheme unknown");
        let any = pattern("db.local:5432");
        assert!(any.matches_scheme("tcp", "db.local", 5432));
        let allowed = AllowedHosts::only(vec![https, any]);
        assert!(allowed.allows_scheme("https", "api.example.com", 443));
        assert!(!allowed.allows_scheme("http", "api.example.com", 443));
        assert!(allowed.allows_scheme("postgres", "db.local", 5432));
        assert!(!allowed.allows("api.example.com", 443));
        assert!(AllowedHosts::unrestricted().allows_scheme("tcp", "x", 1));
    }

    #[test]
    fn subdomain_patterns_match_names_below_the_domain_only() {
        let below = built(None, "*.Example.com", PortMatch::Any);
        assert_eq!(below.to_string(), "*.example.com:*");
        assert!(below.matches("a.example.com", 80));
        assert!(below.matches("A.B.EXAMPLE.COM", 1));
        assert!(below.matches("a.example.com.", 1));
        assert!(!below.matches("example.com", 80));
        assert!(!below.matches("myexample.com", 80));
        assert!(!below.matches("example.com.evil", 80));
        assert!(!below.matches("é.example.co", 80));
        for bad in [
            "*.",
            "*.*.com",
            "*.1.2.3.4",
            "a.*.com",
            "exa mple.com",
            "[zz]",
        ] {
            assert!(
                HostPattern::new(None, bad, PortMatch::Any).is_err(),
                "{bad}"
            );
        }
        assert!(HostPattern::new(Some("h2c+x"), "a", PortMatch::Any).is_err());
    }

    #[test]
    fn port_ranges_exclude_their_end_and_ipv6_builds_with_or_without_brackets() {
        let range = built(
            None,
            "[::1]",
            PortMatch::Range {
                start: 8000,
                end: 9000,
            },
        );
        assert_eq!(range.to_string(), "[::1]:8000..9000");
        assert!(range.matches("::1", 8000));
        assert!(range.matches("::1", 8999));
        assert!(!range.matches("::1", 9000));
        assert!(!range.matches("::1", 7999));
        assert_eq!(built(None, "::1", PortMatch::Number(1)), pattern("[::1]:1"));
        let empty = PortMatch::Range { start: 9, end: 9 };
        assert!(HostPattern::new(None, "a", empty).is_err());
    }

    #[test]
    fn splits_guest_addresses() {
        assert_eq!(split_host_port("example.com:80"), Some(("example.com", 80)));
        assert_eq!(split_host_port("127.0.0.1:8181"), Some(("127.0.0.1", 8181)));
        assert_eq!(split_host_port("[::1]:8080"), Some(("::1", 8080)));
        assert_eq!(split_host_port("localhost:0"), Some(("localhost", 0)));
    }

    #[test]
    fn refuses_malformed_guest_addresses() {
        for address in [
            "example.com",
            "example.com:",
            "example.com:99999",
            "example.com:*",
            "*:80",
            "::1:80",
            "[::1]",
            "[::1]:",
            "[zz]:80",
            ":80",
            "exa mple.com:80",
            "example.com:80\n",
            "",
        ] {
            assert_eq!(split_host_port(address), None, "{address:?}");
        }
    }
}
