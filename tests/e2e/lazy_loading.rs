//! Apps load on their first request: the server starts without compiling,
//! concurrent first requests share one compilation, an idle app is released
//! and comes back from the compile cache, `preload` and `--preload` load
//! ahead of requests, and a module that fails to link fails only its app.

use std::time::Duration;

use serde_json::Value;

use crate::admin::{admin_config, wait_until};
use crate::harness::{HttpResponse, TestServer, guest, http_request};
use crate::standard_guests::probe_component;

fn admin_get(server: &TestServer, path: &str) -> HttpResponse {
    http_request(server.admin_addr(), "GET", path, &[], b"")
}

/// Whether `/apps` says the app `name` is loaded.
fn loaded(server: &TestServer, name: &str) -> bool {
    let response = admin_get(server, "/apps");
    assert_eq!(response.status, 200, "{}", response.text());
    let apps: Value = serde_json::from_slice(&response.body).expect("/apps is JSON");
    let app = apps["apps"]
        .as_array()
        .and_then(|apps| apps.iter().find(|app| app["name"] == name))
        .unwrap_or_else(|| panic!("no app {name} in {apps:#}"));
    app["loaded"].as_bool().expect("`loaded` is a boolean")
}

/// `compile_cache_lookups_total` with `result="hit"` and `"miss"` (a
/// compilation), from the admin listener.
pub fn cache_lookups(server: &TestServer) -> (u64, u64) {
    let text = admin_get(server, "/metrics").text();
    let count = |result: &str| {
        let prefix = format!("serverless_wasm_compile_cache_lookups_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map_or(0, |value| value.trim().parse().expect("a count"))
    };
    (count("hit"), count("miss"))
}

/// A component app `probe` at `/probe/...` and a classic app `hello` at
/// `/hello`, with `extra` lines in each app's table.
fn two_apps(top: &str, extra: &str) -> String {
    let mut config = admin_config(top, &[("hello", "/hello", "state.wat", "handle")]);
    config = config.replace(
        "timeout_ms = 3000\n",
        &format!("timeout_ms = 3000\n{extra}\n"),
    );
    config.push_str(&format!(
        "[[applications]]\nname = \"probe\"\nfile_path = \"{}\"\nmethod = \"GET\"\n\
         url_path = \"/probe/...\"\n{extra}\n",
        probe_component()
    ));
    config
}

#[test]
fn concurrent_first_requests_to_a_cold_app_share_one_compilation() {
    let server = TestServer::try_start_with(&two_apps("", ""), &["--no-cache"])
        .unwrap_or_else(|log| panic!("server did not start:\n{log}"));
    assert!(!loaded(&server, "probe") && !loaded(&server, "hello"));
    assert_eq!(cache_lookups(&server).1, 0, "nothing compiles at start");

    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let requests: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| server.get("/probe/count").status))
            .collect();
        requests.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(statuses, [200; 8]);
    assert_eq!(
        cache_lookups(&server).1,
        1,
        "one compilation for 8 requests"
    );
    assert!(loaded(&server, "probe"));
    assert!(!loaded(&server, "hello"), "an app nobody called stays cold");
    assert!(server.log().contains("each loads on its first request"));
}

#[test]
fn an_idle_app_is_released_and_comes_back_from_the_compile_cache() {
    let server = TestServer::start(&two_apps("[defaults]\nidle_release_seconds = 1\n", ""));
    assert_eq!(server.get("/probe/").text(), "ok\n");
    assert!(loaded(&server, "probe"));
    wait_until("the idle app is released", || !loaded(&server, "probe"));

    let (hits, misses) = cache_lookups(&server);
    assert_eq!(server.get("/probe/").text(), "ok\n");
    assert!(loaded(&server, "probe"));
    assert_eq!(
        cache_lookups(&server),
        (hits + 1, misses),
        "from the compile cache, not compiled again"
    );
}

#[test]
fn an_app_used_within_its_idle_time_stays_loaded() {
    let server = TestServer::start(&two_apps("[defaults]\nidle_release_seconds = 3\n", ""));
    for _ in 0..5 {
        assert_eq!(server.get("/hello").status, 200);
        std::thread::sleep(Duration::from_millis(1000));
        assert!(loaded(&server, "hello"));
    }
}

#[test]
fn preload_loads_an_app_before_its_first_request() {
    let server = TestServer::start(&two_apps("", "").replacen(
        "timeout_ms = 3000\n",
        "timeout_ms = 3000\npreload = true\n",
        1,
    ));
    wait_until("`hello` is preloaded", || loaded(&server, "hello"));
    assert!(!loaded(&server, "probe"));

    let all = TestServer::try_start_with(&two_apps("", ""), &["--preload"])
        .unwrap_or_else(|log| panic!("server did not start:\n{log}"));
    wait_until("every app is preloaded", || {
        loaded(&all, "hello") && loaded(&all, "probe")
    });
    all.wait_for_log("preloaded 2 apps");
}

#[test]
fn a_module_that_cannot_link_fails_only_its_own_requests() {
    let config = admin_config(
        "",
        &[
            ("hello", "/hello", "state.wat", "handle"),
            ("broken", "/broken", "bad_import.wat", "handle"),
        ],
    );
    let server = TestServer::start(&config);
    let response = server.get("/broken");
    assert_eq!(response.status, 500);
    assert!(
        response.text().contains("request id:"),
        "{}",
        response.text()
    );
    let log = server.wait_for_log("launch_missiles");
    assert!(
        log.lines()
            .any(|line| line.contains("app=broken") && line.contains("cannot load the app")),
        "{log}"
    );
    assert_eq!(server.get("/hello").status, 200);
    assert_eq!(
        server.get("/broken").status,
        500,
        "still failing, not a crash"
    );
}

#[test]
fn a_file_that_is_not_webassembly_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0\x05garbage").expect("write");
    let config = format!(
        "listen_address = \"127.0.0.1:0\"\n[[applications]]\nfile_path = \"{}\"\n\
         method = \"GET\"\nurl_path = \"/a\"\n\n[[applications]]\nfile_path = \"{}\"\n\
         method = \"GET\"\nurl_path = \"/b\"\n",
        bogus.display(),
        guest("state.wat"),
    );
    let log = TestServer::try_start(&config)
        .err()
        .expect("an invalid module stops the start");
    assert!(
        log.contains(":2: app `bogus") && log.contains("invalid module"),
        "{log}"
    );
}
