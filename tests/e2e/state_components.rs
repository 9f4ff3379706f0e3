//! `wasi:keyvalue` (store, atomics, batch) and `wasi:config` for components,
//! through the probe components in `tests/guests/rust`: `probe-kv` imports
//! the draft2 / Spin versions, `probe-kv-draft` the versions `wasmtime serve`
//! offers, `probe-kv-spin` draft2 with Spin's own `batch`. Every interface function on both backends, isolation between apps
//! and grants, atomic increments and compare-and-swap under concurrency, the
//! limits, and Redis going away and coming back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::harness::{TestServer, cargo_guest, http_request};
use crate::store_backends::Backend;

#[derive(Clone, Copy, PartialEq)]
enum Version {
    /// `wasi:keyvalue@0.2.0-draft2`, `wasi:config@0.2.0-draft-2024-09-27`.
    Draft2,
    /// `wasi:keyvalue@0.2.0-draft`, `wasi:config@0.2.0-rc.1`.
    Draft,
    /// Draft2 with Spin's shape of `batch.get-many`.
    Spin,
}

fn probe(version: Version) -> String {
    let (package, file) = match version {
        Version::Draft2 => ("probe-kv", "probe_kv.wasm"),
        Version::Draft => ("probe-kv-draft", "probe_kv_draft.wasm"),
        Version::Spin => ("probe-kv-spin", "probe_kv_spin.wasm"),
    };
    let dir = cargo_guest("tests/guests/rust", "wasm32-wasip2", Some(package));
    dir.join(file).display().to_string()
}

/// The probe mounted at `/<name>/...` per app, with `extra` lines each.
fn apps(version: Version, apps: &[(&str, &str)]) -> String {
    probe_apps(&probe(version), apps)
}

/// `probe` mounted at `/<name>/...` per app, with `extra` lines each.
pub fn probe_apps(probe: &str, apps: &[(&str, &str)]) -> String {
    apps.iter()
        .map(|(name, extra)| {
            format!(
                "[[applications]]\nname = \"{name}\"\nfile_path = \"{probe}\"\n\
                 method = \"*\"\nurl_path = \"/{name}/...\"\n{extra}\n"
            )
        })
        .collect()
}

/// Status and body, for comparing in one assertion.
pub fn call(server: &TestServer, method: &str, path: &str, body: &str) -> (u16, String) {
    let response = server.request(method, path, &[], body.as_bytes());
    (response.status, response.text())
}

/// A probe's round trip on key `k` of app `a`'s `default` store: absent,
/// written by a PUT of `put` (path and body), read back as `value`, there,
/// deleted (twice: deleting what is absent is no error), gone.
pub fn round_trip(server: &TestServer, put: (&str, &str), value: &str) {
    assert_eq!(
        call(server, "GET", "/a/kv/default/k", ""),
        (404, "absent".into())
    );
    assert_eq!(call(server, "PUT", put.0, put.1), ok("ok"));
    assert_eq!(call(server, "GET", "/a/kv/default/k", ""), ok(value));
    assert_eq!(call(server, "GET", "/a/exists/default/k", ""), ok("true"));
    assert_eq!(call(server, "DELETE", "/a/kv/default/k", ""), ok("ok"));
    assert_eq!(call(server, "DELETE", "/a/kv/default/k", ""), ok("ok"));
    assert_eq!(call(server, "GET", "/a/exists/default/k", ""), ok("false"));
}

pub fn ok(body: &str) -> (u16, String) {
    (200, body.to_string())
}

fn every_function(version: Version, backend: Backend) {
    let apps = apps(
        version,
        &[("a", "env = { greeting = \"hi\", mode = \"test\" }\n")],
    );
    let server = TestServer::start(&format!("{}{apps}", backend.stores(None)));
    round_trip(&server, ("/a/kv/default/k", "v\0 1"), "v\0 1");
    assert_eq!(call(&server, "GET", "/a/opens/default", ""), ok("ok"));

    // 2500 keys: three pages of list-keys.
    let lines: String = (0..2500).map(|i| format!("k{i:04}=v{i}\n")).collect();
    assert_eq!(
        call(&server, "POST", "/a/batch/set/default", &lines),
        ok("ok")
    );
    let listed = server.get("/a/list/default");
    let expected: String = (0..2500).map(|i| format!("k{i:04}\n")).collect();
    assert_eq!(listed.text(), expected);
    assert_eq!(listed.header("x-pages"), Some("3"));
    let first = server.get("/a/list/default?single");
    assert_eq!(first.text().lines().count(), 1000);
    assert!(first.header("x-cursor").is_some());
    assert_eq!(
        call(
            &server,
            "GET",
            "/a/batch/get/default?keys=k0007,nope,k2499",
            ""
        ),
        ok("k0007=v7\nnope\nk2499=v2499\n")
    );
    assert_eq!(
        call(
            &server,
            "POST",
            "/a/batch/delete/default?keys=k0000,k0001,nope",
            ""
        ),
        ok("ok")
    );
    assert_eq!(server.get("/a/list/default").text().lines().count(), 2498);
    assert_eq!(
        call(&server, "GET", "/a/kv/default/k0001", ""),
        (404, "absent".into())
    );

    assert_eq!(call(&server, "POST", "/a/incr/default/n?by=5", ""), ok("5"));
    assert_eq!(call(&server, "POST", "/a/incr/default/n", ""), ok("6"));
    assert_eq!(call(&server, "GET", "/a/kv/default/n", ""), ok("6"));
    let (status, body) = call(&server, "POST", "/a/incr/default/k0002", "");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.starts_with("other: ") && body.contains("not a decimal integer"),
        "{body}"
    );
    if version != Version::Draft {
        assert_eq!(
            call(&server, "POST", "/a/incr/default/n?by=-10", ""),
            ok("-4")
        );
        assert_eq!(
            call(&server, "POST", "/a/cas/default/c", "1"),
            ok("swapped")
        );
        assert_eq!(
            call(&server, "POST", "/a/cas/default/c", "2"),
            (409, "conflict: 1".into())
        );
        assert_eq!(
            call(&server, "POST", "/a/cas/default/c?expect=0", "2"),
            (409, "conflict: 1".into())
        );
        assert_eq!(
            call(&server, "POST", "/a/cas/default/c?expect=1", "2"),
            ok("swapped")
        );
        assert_eq!(call(&server, "GET", "/a/kv/default/c", ""), ok("2"));
        assert_eq!(call(&server, "POST", "/a/cas-incr/default/c", ""), ok("3"));
    } else {
        // Unsigned: the counter cannot go below 0 through this version.
        let (status, body) = call(&server, "POST", "/a/incr/default/n?by=-1", "");
        assert_eq!(status, 400, "{body}");
    }

    assert_eq!(call(&server, "GET", "/a/config/greeting", ""), ok("hi"));
    assert_eq!(
        call(&server, "GET", "/a/config/nope", ""),
        (404, "absent".into())
    );
    assert_eq!(
        call(&server, "GET", "/a/config", ""),
        ok("greeting=hi\nmode=test\n")
    );
}

#[test]
fn component_kv_every_function_draft2_embedded() {
    every_function(Version::Draft2, Backend::Embedded);
}

#[test]
fn component_kv_every_function_draft2_redis() {
    every_function(Version::Draft2, Backend::redis());
}

#[test]
fn component_kv_every_function_draft_embedded() {
    every_function(Version::Draft, Backend::Embedded);
}

#[test]
fn component_kv_every_function_draft_redis() {
    every_function(Version::Draft, Backend::redis());
}

#[test]
fn component_kv_every_function_spin_batch_embedded() {
    every_function(Version::Spin, Backend::Embedded);
}

fn isolation_and_grants(version: Version, backend: Backend) {
    let grant = "key_value_stores = [\"shared\"]\n";
    let apps = apps(version, &[("a", grant), ("b", grant), ("c", "")]);
    let config = format!(
        "{}{}{apps}",
        backend.stores(None),
        backend.table("shared", "")
    );
    let server = TestServer::start(&config);
    assert_eq!(
        call(&server, "PUT", "/a/kv/default/secret", "of a"),
        ok("ok")
    );
    assert_eq!(
        call(&server, "GET", "/b/kv/default/secret", ""),
        (404, "absent".into())
    );
    assert_eq!(
        call(&server, "GET", "/b/exists/default/secret", ""),
        ok("false")
    );
    assert_eq!(call(&server, "GET", "/b/list/default", ""), ok(""));
    assert_eq!(
        call(&server, "DELETE", "/b/kv/default/secret", ""),
        ok("ok")
    );
    assert_eq!(
        call(&server, "GET", "/b/batch/get/default?keys=secret", ""),
        ok("secret\n")
    );
    assert_eq!(call(&server, "GET", "/a/kv/default/secret", ""), ok("of a"));
    assert_eq!(call(&server, "GET", "/a/list/default", ""), ok("secret\n"));

    assert_eq!(call(&server, "PUT", "/a/kv/shared/s", "both"), ok("ok"));
    assert_eq!(call(&server, "GET", "/b/kv/shared/s", ""), ok("both"));
    assert_eq!(call(&server, "GET", "/b/list/shared", ""), ok("s\n"));
    let denied = (403, "access-denied".to_string());
    assert_eq!(call(&server, "GET", "/c/kv/shared/s", ""), denied);
    assert_eq!(call(&server, "GET", "/a/kv/undeclared/s", ""), denied);
    // "" is wasmtime serve's name for its one store: the private one here.
    assert_eq!(call(&server, "GET", "/a/kv//secret", ""), ok("of a"));
    // The shared store is not anyone's default.
    assert_eq!(
        call(&server, "GET", "/a/kv/default/s", ""),
        (404, "absent".into())
    );
}

#[test]
fn component_kv_isolation_and_grants_draft2_embedded() {
    isolation_and_grants(Version::Draft2, Backend::Embedded);
}

#[test]
fn component_kv_isolation_and_grants_draft2_redis() {
    isolation_and_grants(Version::Draft2, Backend::redis());
}

#[test]
fn component_kv_isolation_and_grants_draft_embedded() {
    isolation_and_grants(Version::Draft, Backend::Embedded);
}

/// `clients` threads each sending `requests` POSTs to `path`.
fn hammer(addr: SocketAddr, clients: usize, requests: usize, path: &str) {
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let path = path.to_string();
            std::thread::spawn(move || {
                for _ in 0..requests {
                    let response = http_request(addr, "POST", &path, &[], b"");
                    assert_eq!(response.status, 200, "{}", response.text());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("client thread");
    }
}

fn concurrent_increments(backend: Backend) {
    let apps = apps(Version::Draft2, &[("a", "")]) + &apps(Version::Draft, &[("d", "")]);
    let server = TestServer::start(&format!("{}{apps}", backend.stores(None)));
    hammer(server.addr, 64, 100, "/a/incr/default/n");
    assert_eq!(call(&server, "GET", "/a/kv/default/n", ""), ok("6400"));
    hammer(server.addr, 16, 25, "/a/cas-incr/default/c");
    assert_eq!(call(&server, "GET", "/a/kv/default/c", ""), ok("400"));
    hammer(server.addr, 16, 25, "/d/incr/default/n");
    assert_eq!(call(&server, "GET", "/d/kv/default/n", ""), ok("400"));
}

#[test]
fn component_kv_increments_are_atomic_embedded() {
    concurrent_increments(Backend::Embedded);
}

#[test]
fn component_kv_increments_are_atomic_redis() {
    concurrent_increments(Backend::redis());
}

fn limits(backend: Backend) {
    let apps = apps(Version::Draft2, &[("a", "max_keys = 2\n")]);
    let server = TestServer::start(&format!("{}{apps}", backend.stores(Some(16))));
    let refused = |method: &str, path: &str, body: &str, needle: &str| {
        let (status, text) = call(&server, method, path, body);
        assert_eq!(status, 500, "{path}: {text}");
        assert!(
            text.starts_with("other: ") && text.contains(needle),
            "{path}: {text}"
        );
    };
    refused("PUT", "/a/kv/default/big", &"x".repeat(17), "larger than");
    assert_eq!(
        call(&server, "GET", "/a/kv/default/big", ""),
        (404, "absent".into())
    );
    assert_eq!(
        call(&server, "PUT", "/a/kv/default/max", &"x".repeat(16)),
        ok("ok")
    );
    let long_key = "k".repeat(1025);
    refused(
        "PUT",
        &format!("/a/kv/default/{long_key}"),
        "v",
        "longer than",
    );
    refused(
        "GET",
        &format!("/a/kv/default/{long_key}"),
        "",
        "longer than",
    );
    assert_eq!(call(&server, "PUT", "/a/kv/default/two", "2"), ok("ok"));
    refused("PUT", "/a/kv/default/three", "3", "limit of 2 keys");
    refused("POST", "/a/incr/default/three", "", "limit of 2 keys");
    refused(
        "POST",
        "/a/batch/set/default",
        "three=3\n",
        "limit of 2 keys",
    );
    assert_eq!(call(&server, "PUT", "/a/kv/default/two", "again"), ok("ok"));
    assert_eq!(
        call(&server, "GET", "/a/list/default", ""),
        ok("max\ntwo\n")
    );
}

#[test]
fn component_kv_limits_embedded() {
    limits(Backend::Embedded);
}

#[test]
fn component_kv_limits_redis() {
    limits(Backend::redis());
}

#[test]
fn component_kv_redis_down_is_an_error_and_recovers() {
    let mut backend = Backend::redis();
    let apps = apps(Version::Draft2, &[("a", "env = { k = \"v\" }\n")]);
    let server = TestServer::start(&format!("{}{apps}", backend.stores(None)));
    assert_eq!(call(&server, "PUT", "/a/kv/default/k", "1"), ok("ok"));
    let redis = backend.redis_server().expect("redis");
    redis.stop();
    let started = Instant::now();
    let (status, body) = call(&server, "GET", "/a/kv/default/k", "");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("unavailable"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Nothing else of the app depends on Redis.
    assert_eq!(call(&server, "GET", "/a/config/k", ""), ok("v"));

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = call(&server, "PUT", "/a/kv/default/k", "2");
        if answer == ok("ok") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Redis did not come back: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(call(&server, "GET", "/a/kv/default/k", ""), ok("2"));
}
