//! Spin's host interfaces for components, through the probe components in
//! `tests/guests/rust`, served with a native config: `probe-spin` imports
//! `fermyon:spin/key-value@2.0.0` and `fermyon:spin/variables@2.0.0`;
//! `probe-spin3` (a wasi:http 0.3 component) their async successors
//! `spin:key-value/key-value@3.0.0` and `spin:variables/variables@3.0.0`,
//! whose `get-keys` streams; `probe-spin-unprovided` imports Spin's sqlite
//! and redis as well, which this host does not provide: it loads, with a
//! warning naming them, and calling one fails that request only.

use crate::harness::{TestServer, cargo_guest};
use crate::state_components::{call, ok, probe_apps, round_trip};
use crate::store_backends::Backend;

fn probe(package: &str) -> String {
    let dir = cargo_guest("tests/guests/rust", "wasm32-wasip2", Some(package));
    dir.join(format!("{}.wasm", package.replace('-', "_")))
        .display()
        .to_string()
}

#[test]
fn spin_key_value_and_variables() {
    let probe = probe("probe-spin");
    let env = "env = { greeting = \"hi\", api_key = \"k-1\", Mixed = \"no\" }\n";
    let config = format!(
        "{}{}",
        Backend::Embedded.table("shared", ""),
        probe_apps(
            &probe,
            &[
                ("a", &format!("key_value_stores = [\"shared\"]\n{env}")),
                ("b", ""),
            ]
        )
    );
    let server = TestServer::start(&config);

    // open, get, set, delete, exists on the app's own store.
    round_trip(&server, ("/a/kv/default/k", "v\0 1"), "v\0 1");
    assert_eq!(call(&server, "PUT", "/a/kv/default/k", "v"), ok("ok"));
    assert_eq!(call(&server, "GET", "/a/keys/default", ""), ok("k\n"));
    assert_eq!(call(&server, "DELETE", "/a/kv/default/k", ""), ok("ok"));
    assert_eq!(call(&server, "GET", "/a/keys/default", ""), ok(""));

    // get-keys past the host's page of 1000 keys.
    for i in 0..1001 {
        let path = format!("/a/kv/default/k{i:04}");
        assert_eq!(call(&server, "PUT", &path, "x"), ok("ok"), "{path}");
    }
    let expected: String = (0..1001).map(|i| format!("k{i:04}\n")).collect();
    assert_eq!(call(&server, "GET", "/a/keys/default", ""), ok(&expected));

    // A granted store is shared; an ungranted or undeclared label is refused.
    assert_eq!(call(&server, "PUT", "/a/kv/shared/s", "both"), ok("ok"));
    assert_eq!(call(&server, "GET", "/a/keys/shared", ""), ok("s\n"));
    let denied = (403, "access-denied".to_string());
    assert_eq!(call(&server, "GET", "/b/kv/shared/s", ""), denied);
    assert_eq!(call(&server, "GET", "/b/keys/shared", ""), denied);
    assert_eq!(call(&server, "GET", "/a/kv/undeclared/s", ""), denied);
    // b's own store is not a's.
    assert_eq!(call(&server, "GET", "/b/keys/default", ""), ok(""));

    // Variables: the app's values, `undefined`, `invalid-name`.
    assert_eq!(call(&server, "GET", "/a/var/greeting", ""), ok("hi"));
    assert_eq!(call(&server, "GET", "/a/var/api_key", ""), ok("k-1"));
    assert_eq!(
        call(&server, "GET", "/a/var/nope", ""),
        (404, "undefined: no variable \"nope\"".into())
    );
    assert_eq!(
        call(&server, "GET", "/b/var/greeting", ""),
        (404, "undefined: no variable \"greeting\"".into())
    );
    for (name, reason) in [
        ("Mixed", "invalid character 'M'"),
        ("api-key", "invalid character '-'"),
        ("1st", "must start with a lowercase ASCII letter"),
        ("a__b", "must not contain multiple consecutive underscores"),
    ] {
        let (status, body) = call(&server, "GET", &format!("/a/var/{name}"), "");
        assert_eq!(status, 400, "{name}: {body}");
        assert!(
            body.starts_with(&format!("invalid-name: \"{name}\": {reason}")),
            "{name}: {body}"
        );
    }

    assert!(
        !server.log().contains("does not provide"),
        "{}",
        server.log()
    );
}

#[test]
fn spin_3_async_key_value_and_variables() {
    let probe = probe("probe-spin3");
    let config = format!(
        "{}{}",
        Backend::Embedded.table("shared", ""),
        probe_apps(
            &probe,
            &[
                (
                    "a",
                    "key_value_stores = [\"shared\"]\nenv = { greeting = \"hi\" }\n"
                ),
                ("b", ""),
            ]
        )
    );
    let server = TestServer::start(&config);

    round_trip(&server, ("/a/kv/default/k/v1", ""), "v1");
    assert_eq!(
        call(&server, "GET", "/a/keys/default", ""),
        ok("outcome: ok\n")
    );

    // The stream: 2500 keys are three of the host's pages.
    assert_eq!(call(&server, "POST", "/a/fill/default/2500", ""), ok("ok"));
    let all: String = (0..2500).map(|i| format!("k{i:04}\n")).collect();
    assert_eq!(
        call(&server, "GET", "/a/keys/default", ""),
        ok(&format!("{all}outcome: ok\n"))
    );
    // A guest that drops the stream early still gets its outcome.
    for n in [1, 1000, 1500] {
        let first: String = (0..n).map(|i| format!("k{i:04}\n")).collect();
        assert_eq!(
            call(&server, "GET", &format!("/a/keys/default/{n}"), ""),
            ok(&format!("{first}outcome: ok\n")),
            "first {n}"
        );
    }

    assert_eq!(call(&server, "PUT", "/a/kv/shared/s/both", ""), ok("ok"));
    assert_eq!(
        call(&server, "GET", "/a/keys/shared", ""),
        ok("s\noutcome: ok\n")
    );
    let denied = (403, "access-denied".to_string());
    assert_eq!(call(&server, "GET", "/b/kv/shared/s", ""), denied);
    assert_eq!(call(&server, "GET", "/b/keys/shared", ""), denied);
    assert_eq!(
        call(&server, "GET", "/b/keys/default", ""),
        ok("outcome: ok\n")
    );

    assert_eq!(call(&server, "GET", "/a/var/greeting", ""), ok("hi"));
    assert_eq!(
        call(&server, "GET", "/a/var/nope", ""),
        (404, "undefined: no variable \"nope\"".into())
    );
    let (status, body) = call(&server, "GET", "/a/var/Greeting", "");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with("invalid-name: \"Greeting\": invalid character 'G'"),
        "{body}"
    );
}

#[test]
fn unprovided_spin_interfaces_load_and_trap_when_called() {
    let probe = probe("probe-spin-unprovided");
    let config = probe_apps(&probe, &[("u", "env = { greeting = \"hi\" }\n")]);
    let server = TestServer::start(&config);
    // What the host provides works beside what it does not.
    assert_eq!(call(&server, "GET", "/u/var/greeting", ""), ok("hi"));
    // The first request linked it, saying what traps.
    let log = server.wait_for_log("imports Spin interfaces this host does not provide");
    let warning = log
        .lines()
        .find(|line| line.contains("imports Spin interfaces this host does not provide"))
        .unwrap_or_else(|| panic!("no warning at load:\n{log}"));
    assert!(
        warning.contains("`fermyon:spin/redis@2.0.0`")
            && warning.contains("`fermyon:spin/sqlite@2.0.0`")
            && !warning.contains("key-value"),
        "{warning}"
    );

    assert_eq!(call(&server, "PUT", "/u/kv/default/k", "v"), ok("ok"));
    assert_eq!(call(&server, "GET", "/u/kv/default/k", ""), ok("v"));

    for (path, interface, function) in [
        (
            "/u/sqlite",
            "fermyon:spin/sqlite@2.0.0",
            "[static]connection.open",
        ),
        (
            "/u/redis",
            "fermyon:spin/redis@2.0.0",
            "[static]connection.open",
        ),
    ] {
        let response = server.get(path);
        assert_eq!(response.status, 500, "{path}: {}", response.text());
        let id = response.header("x-request-id").expect("request id");
        let needle =
            format!("this host does not provide `{interface}` (the component called `{function}`)");
        let log = server.wait_for_log(&needle);
        let line = log
            .lines()
            .find(|line| line.contains(&needle))
            .unwrap_or_else(|| panic!("{path}: no log line with {needle:?}:\n{log}"));
        assert!(
            line.contains(id),
            "{path}: the request id {id} is not in {line}"
        );
        // The instance trapped; the next request gets a fresh one.
        assert_eq!(call(&server, "GET", "/u/var/greeting", ""), ok("hi"));
    }
}
