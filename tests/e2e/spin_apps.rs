//! Spin apps built from source with the published Spin SDKs, served by their
//! unchanged `spin.toml` (examples/spin/): key-value, variables, Spin's
//! request headers and routes, WAGI components, static responses, and Spin's
//! well-known endpoints.

use std::path::{Path, PathBuf};

use crate::harness::{BINARY, TestServer, script_guest};

/// The secret the SDK 7 app requires.
const TOKEN: (&str, &str) = ("SPIN_VARIABLE_API_TOKEN", "s3cret-token");

pub fn sdk7_manifest() -> PathBuf {
    script_guest("examples/spin/rust-sdk7", "spin.toml")
}

fn wagi_manifest() -> PathBuf {
    script_guest("examples/spin/wagi", "spin.toml")
}

pub fn serve(manifest: &Path, env: &[(&str, &str)]) -> TestServer {
    TestServer::try_serve_file_with_env(manifest, &[], env)
        .unwrap_or_else(|log| panic!("{} did not start:\n{log}", manifest.display()))
}

/// The lines of a greeter answer, as `name: value` pairs.
fn field<'a>(body: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}: ");
    body.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{body}"))
}

#[test]
fn sdk7_key_value_counts_and_stores_every_kind_of_value() {
    let server = serve(&sdk7_manifest(), &[TOKEN]);
    for expected in ["1", "2", "3"] {
        let response = server.get("/counter");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.text().trim(), expected);
    }
    assert_eq!(server.get("/counter?key=other").text().trim(), "1");

    let value = [0u8, 1, 2, 255, b'\n'];
    let stored = server.request("PUT", "/kv/bin", &[], &value);
    assert_eq!((stored.status, stored.text().as_str()), (200, "stored\n"));
    assert_eq!(server.get("/kv/bin").body, value);
    assert_eq!(server.get("/kv/bin?exists").text(), "true\n");
    let keys = server.get("/kv");
    assert_eq!(keys.text(), "bin\ncounter\nother\n");
    assert_eq!(keys.header("x-key-count"), Some("3"));
    let deleted = server.request("DELETE", "/kv/bin", &[], b"");
    assert_eq!(deleted.text(), "deleted\n");
    assert_eq!(server.get("/kv/bin").status, 404);
    assert_eq!(server.get("/kv/bin?exists").text(), "false\n");
}

#[test]
fn sdk7_stores_outlive_the_server_and_are_the_apps_own() {
    let manifest = sdk7_manifest();
    let data = tempfile::tempdir().expect("temp dir");
    let start = || {
        TestServer::try_serve_file_in(&manifest, data.path(), &[TOKEN])
            .unwrap_or_else(|log| panic!("did not start:\n{log}"))
    };
    let server = start();
    assert_eq!(server.get("/counter").text().trim(), "1");
    drop(server);
    let server = start();
    assert_eq!(server.get("/counter").text().trim(), "2");
    // The greeter lists no store: `default` is the counter's, not its.
    let denied = server.get("/greeter/kv");
    assert_eq!(denied.status, 500);
    assert_eq!(denied.header("x-kv-error"), Some("access-denied"));
    let unknown = server.get("/counter?store=nowhere");
    assert_eq!(unknown.header("x-kv-error"), Some("access-denied"));
}

#[test]
fn sdk7_variables_come_from_defaults_templates_and_the_environment() {
    let server = serve(
        &sdk7_manifest(),
        &[TOKEN, ("SPIN_VARIABLE_PLACE", "the environment")],
    );
    let response = server.get("/hello/ann");
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.text();
    assert_eq!(body.lines().next(), Some("Hello, ann!"));
    assert_eq!(field(&body, "var greeting"), "Hello");
    assert_eq!(field(&body, "var message"), "Hello from the environment");
    assert_eq!(field(&body, "var literal"), "just a literal");
    assert_eq!(field(&body, "var api_token"), "s3cret-token");
    assert!(field(&body, "var not_declared").starts_with("error undefined"));
    assert!(field(&body, "var Bad-Name").starts_with("error invalid-name"));
    assert!(
        !server.log().contains("s3cret-token"),
        "a secret reached the log"
    );
}

#[test]
fn sdk7_a_missing_required_variable_refuses_the_app() {
    let error = TestServer::try_serve_file_with_env(&sdk7_manifest(), &[], &[])
        .err()
        .expect("the app started without its required variable");
    assert!(error.contains("spin.toml:"), "{error}");
    assert!(error.contains("`api_token` is required"), "{error}");
    assert!(error.contains("SPIN_VARIABLE_API_TOKEN"), "{error}");
}

#[test]
fn sdk7_requests_carry_spins_headers_and_an_absolute_uri() {
    let server = serve(&sdk7_manifest(), &[TOKEN]);
    let response = server.get("/users/42/posts/7?sort=new");
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.text();
    // The authority is the request's `Host`, which the test client sets to `test`.
    let full_url = "http://test/users/42/posts/7?sort=new";
    assert_eq!(field(&body, "uri"), full_url);
    assert_eq!(field(&body, "spin-full-url"), full_url);
    assert_eq!(field(&body, "spin-path-info"), "/posts/7");
    assert_eq!(field(&body, "spin-matched-route"), "/users/:userid/...");
    assert_eq!(
        field(&body, "spin-raw-component-route"),
        "/users/:userid/..."
    );
    assert_eq!(field(&body, "spin-component-route"), "/users/:userid");
    assert_eq!(field(&body, "spin-base-path"), "/");
    assert_eq!(field(&body, "spin-path-match-userid"), "42");
    assert!(field(&body, "spin-client-addr").starts_with("127.0.0.1:"));
    assert_eq!(body.lines().next(), Some("Hello, 42!"));

    let exact = server.get("/hello/bob/").text();
    assert_eq!(field(&exact, "spin-path-match-name"), "bob");
    assert_eq!(field(&exact, "spin-path-info"), "");
    let forged = server.request("GET", "/greet/x", &[("spin-path-info", "/forged")], b"");
    assert_eq!(field(&forged.text(), "spin-path-info"), "/x");
}

#[test]
fn spins_well_known_endpoints_answer_for_the_app() {
    let server = serve(&sdk7_manifest(), &[TOKEN]);
    let health = server.get("/.well-known/spin/health");
    assert_eq!((health.status, health.text().as_str()), (200, "OK"));
    let info = server.request("POST", "/.well-known/spin/info", &[], b"");
    assert_eq!(info.status, 200);
    assert_eq!(info.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&info.body).expect("JSON");
    assert_eq!(json["name"], "spin-sdk7-demo");
    assert_eq!(json["version"], "0.1.0");
    assert_eq!(server.get("/nothing/here").status, 404);
}

#[test]
fn wagi_components_run_cgi_style_with_spins_variables() {
    let server = serve(&wagi_manifest(), &[]);
    let response = server.request("POST", "/cgi/some/where?a=1&b", &[], b"the body");
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.text();
    for line in [
        "who: cgi",
        "PATH_INFO=/some/where",
        "SCRIPT_NAME=/cgi",
        "QUERY_STRING=a=1&b",
        "X_MATCHED_ROUTE=/cgi/...",
        "X_COMPONENT_ROUTE=/cgi",
        "X_RAW_COMPONENT_ROUTE=/cgi/...",
        "X_BASE_PATH=/",
        "REQUEST_METHOD=POST",
        "body: the body",
    ] {
        assert!(body.lines().any(|l| l == line), "no {line:?} in:\n{body}");
    }
    let file = server.get("/cgi/file");
    assert_eq!(file.status, 200);
    assert!(
        file.text().contains("spin.toml maps into the component"),
        "{}",
        file.text()
    );
    assert_eq!(server.get("/cgi/status").status, 201);
    assert_eq!(server.get("/cgi/fail").status, 500);
}

#[test]
fn wagi_argv_follows_the_manifest() {
    let server = serve(&wagi_manifest(), &[]);
    let body = server.get("/cgi-args/x?n=v&flag").text();
    assert_eq!(
        field(&body, "args"),
        r#"["/cgi-args/x", "--from-manifest", "n=v", "flag"]"#,
        "{body}"
    );
    let plain = server.get("/cgi/x?n=v").text();
    assert_eq!(field(&plain, "args"), r#"["/cgi/x", "n=v"]"#, "{plain}");
}

#[test]
fn static_responses_and_private_endpoints() {
    let server = serve(&wagi_manifest(), &[]);
    let fixed = server.get("/static");
    assert_eq!(fixed.status, 200);
    assert_eq!(fixed.header("x-static"), Some("yes"));
    assert_eq!(fixed.header("content-type"), Some("text/plain"));
    assert_eq!(fixed.text(), "static hello\n");
    assert_eq!(server.get("/teapot").status, 418);
    let moved = server.get("/old-home");
    assert_eq!(moved.status, 301);
    assert_eq!(moved.header("location"), Some("/static"));
    // The private component answers no request from outside: no route
    // leads to it, and the host adds none.
    assert_eq!(server.get("/").status, 404);
    assert_eq!(server.get("/hidden").status, 404);
}

#[test]
fn run_routes_one_request_through_a_spin_app() {
    let output = std::process::Command::new(BINARY)
        .args(["run"])
        .arg(wagi_manifest())
        .args(["--path", "/teapot"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.starts_with("HTTP/1.1 418"), "{stdout}");
}

/// The counter and `/info/...` routes the SDK 5 and JS apps share.
fn counter_and_info(manifest: &Path, greeting: &str) {
    let server = serve(manifest, &[]);
    assert_eq!(server.get("/counter").text().trim(), "1");
    assert_eq!(server.get("/counter").text().trim(), "2");
    let stored = server.request("PUT", "/kv/k", &[], b"v");
    assert_eq!(stored.text(), "stored\n");
    assert_eq!(server.get("/kv/k").text(), "v");
    assert_eq!(server.get("/kv/k?exists").text(), "true\n");
    assert_eq!(server.get("/kv").text(), "counter\nk\n");
    assert_eq!(server.request("DELETE", "/kv/k", &[], b"").status, 200);
    assert_eq!(server.get("/kv/k").status, 404);
    let info = server.get("/info/x?y=1");
    assert_eq!(info.status, 200, "{}", info.text());
    let body = info.text();
    assert_eq!(field(&body, "var greeting"), greeting);
    assert!(field(&body, "var not_declared").starts_with("error undefined"));
    assert!(field(&body, "var Bad-Name").starts_with("error invalid-name"));
    assert_eq!(field(&body, "spin-path-info"), "/x");
    assert_eq!(field(&body, "uri"), "http://test/info/x?y=1");
}

#[test]
fn js_sdk_app_uses_spin_2_key_value_and_variables() {
    let manifest = script_guest("examples/spin/js", "spin.toml");
    counter_and_info(&manifest, "Hello from JavaScript");
}

#[test]
fn rust_sdk5_app_built_for_wasip1_runs_as_spin_runs_it() {
    let manifest = script_guest("examples/spin/rust-sdk5", "spin.toml");
    counter_and_info(&manifest, "Hello from SDK 5");
}

#[test]
fn rust_sdk5_app_built_for_wasip2_runs_too() {
    let manifest = script_guest("examples/spin/rust-sdk5", "spin-wasip2.toml");
    counter_and_info(&manifest, "Hello from SDK 5");
}
