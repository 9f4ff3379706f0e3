//! A component's `allowed_outbound_hosts` in Spin's syntax, into the crate's
//! [`AllowedHosts`]. Each entry is `scheme://host[:port]`, as Spin's
//! outbound-networking config reads it:
//!
//! - the scheme is letters (`https`, `redis`, `tcp`...) or `*` for any;
//! - the host is a name, an IPv4 address, a bracketed IPv6 address, `*` for
//!   any, `*.example.com` for every name below `example.com`, or `self` (also
//!   `self.alt`) for requests to relative URLs, which reach the app itself;
//! - the port is a number, `*`, a range `8000..9000` (the end excluded, as in
//!   Spin), or absent: then the scheme's well-known port (`http` 80, `https`
//!   443, `redis` 6379, `postgres` 5432, `mysql` 3306, `mqtt` 1883), and an
//!   error for other schemes;
//! - a trailing `/` is allowed, any other path is not.
//!
//! Entries may use `{{ variable }}` templates; one that resolves to nothing (or
//! to a bare `http://` or `https://`) is skipped, as Spin skips it, so that an
//! empty variable can switch an endpoint off. A component without the key may
//! connect nowhere. As in Spin, `*` alone and `insecure:allow-all` are refused
//! (`*://*:*` allows everything). Not supported: CIDR ranges
//! (`*://10.0.0.0/8:*`) and `{a,b}` lists, which Spin does not support either.

use std::net::IpAddr;

use super::manifest::{Component, Manifest};
use super::variables::{Template, Values};
use crate::config::{ConfigError, ConfigErrors};
use crate::outbound::{AllowedHosts, HostPattern, PortMatch};

const LEARN_MORE: &str =
    "an allowed host is `scheme://host[:port]`, with `*` allowed for each part";

/// One `allowed_outbound_hosts` entry as written, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub template: Template,
    /// Such as `component.api.allowed_outbound_hosts[2]`.
    pub key: String,
    pub line: usize,
}

/// Where a component may connect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outbound {
    /// Nothing when the component lists nothing, as in Spin. Patterns carry
    /// their scheme: check them with [`AllowedHosts::allows_scheme`].
    pub hosts: AllowedHosts,
    /// `self` is listed: the component may send requests to relative URLs,
    /// which the app serves itself.
    pub self_requests: bool,
}

/// What one entry allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Pattern(HostPattern),
    /// `http://self`: requests to relative URLs.
    SelfRequests,
}

/// Reads one entry without templates.
pub fn parse(text: &str) -> Result<Allowed, String> {
    let url = text.trim();
    if url == "insecure:allow-all" {
        return Err(
            "`insecure:allow-all` is not allowed; use `*://*:*` to allow all outbound traffic"
                .to_owned(),
        );
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(match url {
            "*" | ":" | "" | "?" => format!(
                "{url:?} is not an allowed host; {LEARN_MORE}. `*://*:*` allows all outbound \
                 networking (and gives up all network sandboxing)"
            ),
            _ => format!("{url:?} has no scheme (such as `https://` or `*://`); {LEARN_MORE}"),
        });
    };
    let scheme = parse_scheme(scheme)?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !path.is_empty() {
        if authority.parse::<IpAddr>().is_ok() {
            return Err(format!(
                "{url:?}: CIDR ranges of addresses are not supported here; list the hosts"
            ));
        }
        if path != "/" {
            return Err(format!("{url:?} has a path; {LEARN_MORE}"));
        }
    }
    let (host, port) = split_authority(authority).map_err(|reason| format!("{url:?}: {reason}"))?;
    if host == "self" || host == "self.alt" {
        return Ok(Allowed::SelfRequests);
    }
    if host.starts_with('{') {
        return Err(format!("{url:?}: host lists are not supported"));
    }
    let port = parse_port(port, scheme).map_err(|reason| format!("{url:?}: {reason}"))?;
    HostPattern::new(scheme, host, port)
        .map(Allowed::Pattern)
        .map_err(|reason| format!("{url:?}: {reason}"))
}

/// `None` for `*`, any scheme.
fn parse_scheme(scheme: &str) -> Result<Option<&str>, String> {
    if scheme == "*" {
        return Ok(None);
    }
    if scheme.starts_with('{') {
        return Err(format!("scheme lists such as `{scheme}` are not supported"));
    }
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!(
            "`{scheme}` is not a scheme: only letters, or `*` for any"
        ));
    }
    Ok(Some(scheme))
}

/// The host (IPv6 without brackets) and the port as written ("" if none).
fn split_authority(authority: &str) -> Result<(&str, &str), String> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("an IPv6 address needs its closing `]`")?;
        return match after {
            "" => Ok((host, "")),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, port)),
                None => Err(format!("unexpected {after:?} after the IPv6 address")),
            },
        };
    }
    match authority.split_once(':') {
        Some((_, port)) if port.contains(':') => {
            Err("write an IPv6 address in brackets, as in `http://[::1]:8080`".to_owned())
        }
        Some((host, port)) => Ok((host, port)),
        None => Ok((authority, "")),
    }
    .and_then(|(host, port)| {
        if host.is_empty() {
            Err("the host is missing".to_owned())
        } else {
            Ok((host, port))
        }
    })
}

fn parse_port(port: &str, scheme: Option<&str>) -> Result<PortMatch, String> {
    if port.is_empty() {
        return match scheme.and_then(well_known_port) {
            Some(port) => Ok(PortMatch::Number(port)),
            None => Err(format!(
                "no port, and {} has no well-known port; add one, such as `:8080` or `:*`",
                match scheme {
                    Some(scheme) => format!("the scheme `{scheme}`"),
                    None => "`*://` (any scheme)".to_owned(),
                }
            )),
        };
    }
    if port == "*" {
        return Ok(PortMatch::Any);
    }
    if port.starts_with('{') {
        return Err("port lists are not supported".to_owned());
    }
    let number = |text: &str| {
        (!text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| text.parse::<u16>().ok())
            .flatten()
            .ok_or_else(|| format!("`{port}` is not a port (a number up to 65535, a range or `*`)"))
    };
    match port.split_once("..") {
        Some((start, end)) => Ok(PortMatch::Range {
            start: number(start)?,
            end: number(end)?,
        }),
        None => Ok(PortMatch::Number(number(port)?)),
    }
}

/// The port a scheme implies when an entry gives none, as in Spin.
fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        "redis" => Some(6379),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "mqtt" => Some(1883),
        _ => None,
    }
}

/// A component's `allowed_outbound_hosts` with `values` filled in.
pub fn resolve(
    manifest: &Manifest,
    component: &Component,
    values: &Values,
) -> Result<Outbound, ConfigErrors> {
    let mut patterns = Vec::new();
    let mut self_requests = false;
    let mut errors = Vec::new();
    for entry in &component.allowed_outbound_hosts {
        let value = values.render(&entry.template);
        let text = value.expose().trim();
        if !entry.template.is_literal() && matches!(text, "" | "http://" | "https://") {
            continue;
        }
        match parse(text) {
            Ok(Allowed::Pattern(pattern)) => patterns.push(pattern),
            Ok(Allowed::SelfRequests) => self_requests = true,
            Err(reason) => {
                let source = entry.template.source();
                let message = if entry.template.is_literal() {
                    reason
                } else if value.is_secret() {
                    format!(
                        "`{source}` uses a secret variable, and its value is not an allowed host \
                         ({LEARN_MORE})"
                    )
                } else {
                    format!(
                        "`{source}` resolves to {text:?}, which is not an allowed host: {reason}"
                    )
                };
                errors.push(ConfigError {
                    file: manifest.file.clone(),
                    line: entry.line,
                    key: Some(entry.key.clone()),
                    message,
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(Outbound {
            hosts: AllowedHosts::only(patterns),
            self_requests,
        })
    } else {
        Err(ConfigErrors(errors))
    }
}
