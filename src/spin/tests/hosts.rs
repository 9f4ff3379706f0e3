//! `allowed_outbound_hosts` in Spin's syntax.

use std::collections::HashMap;
use std::env::VarError;

use super::{app_with_api, error, parse};
use crate::outbound::AllowedHosts;
use crate::spin::hosts::{Allowed, Outbound, parse as parse_host};
use crate::spin::manifest::Manifest;

/// `api` with these `allowed_outbound_hosts` entries and `[variables]` lines.
fn manifest(variables: &str, hosts: &[&str]) -> String {
    let hosts: Vec<String> = hosts.iter().map(|host| format!("{host:?}")).collect();
    app_with_api(&format!("[variables]\n{variables}")).replace(
        "source = \"api.wasm\"",
        &format!(
            "source = \"api.wasm\"\nallowed_outbound_hosts = [{}]",
            hosts.join(", ")
        ),
    )
}

fn outbound(manifest: &Manifest, env: &[(&str, &str)]) -> Result<Outbound, String> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    manifest
        .resolve(|name| env.get(name).cloned().ok_or(VarError::NotPresent))
        .map(|resolved| resolved.components[0].outbound.clone())
        .map_err(|errors| errors.to_string())
}

/// The hosts `entries` allow, without variables.
fn allowed(entries: &[&str]) -> AllowedHosts {
    outbound(&parse(&manifest("", entries)), &[])
        .expect("resolves")
        .hosts
}

fn shown(text: &str) -> String {
    match parse_host(text) {
        Ok(Allowed::Pattern(pattern)) => pattern.to_string(),
        Ok(Allowed::SelfRequests) => "self".to_owned(),
        Err(error) => panic!("{text} should parse: {error}"),
    }
}

#[test]
fn reads_every_form_spin_accepts() {
    for (text, expected) in [
        ("https://example.com", "https://example.com:443"),
        ("http://example.com", "http://example.com:80"),
        ("http://example.com/", "http://example.com:80"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("redis://cache.internal", "redis://cache.internal:6379"),
        ("postgres://db", "postgres://db:5432"),
        ("mysql://db", "mysql://db:3306"),
        ("mqtt://broker", "mqtt://broker:1883"),
        ("tcp://db.internal:5432", "tcp://db.internal:5432"),
        ("*://*.example.com:*", "*.example.com:*"),
        ("https://*.example.com", "https://*.example.com:443"),
        ("*://*:*", "*:*"),
        ("http://*:8080", "http://*:8080"),
        ("http://192.168.1.1:3002", "http://192.168.1.1:3002"),
        ("http://[::1]:8001", "http://[::1]:8001"),
        ("http://[::1]", "http://[::1]:80"),
        (
            "http://spin.example.dev:4444..5555",
            "http://spin.example.dev:4444..5555",
        ),
        ("HTTPS://Example.COM:8443/", "https://example.com:8443"),
        ("http://self", "self"),
        ("https://self.alt", "self"),
    ] {
        assert_eq!(shown(text), expected, "{text}");
    }
}

#[test]
fn refuses_what_spin_refuses_explaining_the_form() {
    for (text, expected) in [
        ("*", "is not an allowed host"),
        ("", "is not an allowed host"),
        ("insecure:allow-all", "use `*://*:*`"),
        ("example.com", "has no scheme"),
        ("example.com:80", "has no scheme"),
        (
            "*://example.com",
            "`*://` (any scheme) has no well-known port",
        ),
        (
            "ftp://example.com",
            "the scheme `ftp` has no well-known port",
        ),
        ("http://example.com/a", "has a path"),
        ("http://example.com:80/a/b", "has a path"),
        ("http://*.example.com/a", "has a path"),
        ("h2+c://example.com:80", "is not a scheme"),
        ("{http,https}://example.com", "scheme lists"),
        ("http://{a,b}:80", "host lists are not supported"),
        ("http://a:{80,81}", "port lists are not supported"),
        ("http://a:http", "is not a port"),
        ("http://a:99999", "is not a port"),
        ("http://a:9..1", "is empty"),
        ("http://a.*.com:80", "is not a host name"),
        ("http://::1:80", "write an IPv6 address in brackets"),
        ("http://[::1", "closing `]`"),
        ("*://127.0.0.0/24:80", "CIDR ranges"),
        ("http://:80", "the host is missing"),
    ] {
        match parse_host(text) {
            Ok(allowed) => panic!("{text:?} parsed as {allowed:?}"),
            Err(error) => assert!(error.contains(expected), "{text:?}: {error}"),
        }
    }
}

#[test]
fn patterns_keep_their_scheme_and_default_port() {
    let hosts = allowed(&[
        "https://api.example.com",
        "*://*.internal:*",
        "tcp://db:5432",
    ]);
    assert!(hosts.allows_scheme("https", "api.example.com", 443));
    assert!(!hosts.allows_scheme("https", "api.example.com", 8443));
    assert!(!hosts.allows_scheme("http", "api.example.com", 443));
    assert!(!hosts.allows_scheme("tcp", "api.example.com", 443));
    assert!(hosts.allows_scheme("redis", "cache.internal", 7000));
    assert!(!hosts.allows_scheme("redis", "internal", 7000));
    assert!(hosts.allows_scheme("tcp", "db", 5432));
    // Without a scheme only the any-scheme patterns count.
    assert!(hosts.allows("cache.internal", 1));
    assert!(!hosts.allows("api.example.com", 443));
}

#[test]
fn no_list_allows_nothing_and_everything_is_spelled_out() {
    let none = outbound(&parse(&app_with_api("")), &[]).expect("resolves");
    assert_eq!(none.hosts, AllowedHosts::only(Vec::new()));
    assert!(!none.hosts.is_unrestricted());
    assert!(!none.self_requests);
    let all = allowed(&["*://*:*"]);
    assert!(all.allows_scheme("tcp", "anything", 1));
    assert!(all.allows("anything", 1));
}

#[test]
fn refuses_bad_literal_entries_with_their_line_and_index() {
    assert_eq!(
        error(&manifest("", &["https://example.com", "example.com"])),
        "/apps/shop/spin.toml:12: `component.api.allowed_outbound_hosts[2]`: \"example.com\" has no \
         scheme (such as `https://` or `*://`); an allowed host is `scheme://host[:port]`, with `*` \
         allowed for each part"
    );
    assert!(error(&manifest("", &["https://{{ nope }}"])).contains("unknown app variable `nope`"));
    assert!(error(&manifest("", &["https://{{ nope"])).contains("unmatched `{{`"));
}

#[test]
fn resolves_templates_and_skips_empty_ones() {
    let manifest = parse(&manifest(
        "host = { default = \"api.example.com\" }\nport = { default = \"8080\" }\n\
         optional = { default = \"\" }\nscheme = { default = \"https\" }",
        &[
            "{{ scheme }}://{{ host }}",
            "http://localhost:{{ port }}",
            "{{ optional }}",
        ],
    ));
    let resolved = outbound(&manifest, &[]).expect("resolves");
    let patterns: Vec<String> = resolved
        .hosts
        .patterns()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        patterns,
        ["https://api.example.com:443", "http://localhost:8080"]
    );
    let from_env =
        outbound(&manifest, &[("SPIN_VARIABLE_OPTIONAL", "redis://cache")]).expect("resolves");
    let patterns = from_env.hosts.patterns().unwrap_or_default();
    assert_eq!(patterns.len(), 3, "{patterns:?}");
    assert!(from_env.hosts.allows_scheme("redis", "cache", 6379));
    // A bare `http://` or `https://` is skipped too.
    let bare = parse(&self::manifest(
        "name = { default = \"\" }",
        &["https://{{ name }}", "http://{{name}}"],
    ));
    let resolved = outbound(&bare, &[]).expect("resolves");
    assert_eq!(resolved.hosts.patterns(), Some(&[][..]));
    let set = outbound(&bare, &[("SPIN_VARIABLE_NAME", "x.example.com")]).expect("resolves");
    assert!(set.hosts.allows_scheme("http", "x.example.com", 80));
}

#[test]
fn a_template_resolving_to_a_bad_host_is_refused_without_showing_secrets() {
    let manifest = parse(&manifest(
        "host = { default = \"example.com\" }\nsecret_host = { default = \"hunter2\", secret = true }",
        &["{{ host }}", "https://ok.example.com", "{{ secret_host }}"],
    ));
    let error = outbound(&manifest, &[]).expect_err("refused");
    let lines: Vec<&str> = error.lines().collect();
    assert_eq!(
        lines[0],
        "/apps/shop/spin.toml:13: `component.api.allowed_outbound_hosts[1]`: `{{ host }}` resolves to \
         \"example.com\", which is not an allowed host: \"example.com\" has no scheme (such as \
         `https://` or `*://`); an allowed host is `scheme://host[:port]`, with `*` allowed for each part"
    );
    assert!(
        lines[1].contains(
            "`component.api.allowed_outbound_hosts[3]`: `{{ secret_host }}` uses a secret"
        ),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
    assert_eq!(lines.len(), 2);
}
