//! The classic ABI's host functions, seen from a client.

use crate::harness::{TestServer, guest, repo_path, single_app};

fn examples_wat(name: &str) -> String {
    repo_path(&format!("examples/{name}")).display().to_string()
}

#[test]
fn exported_memory_module_answers() {
    let server = TestServer::start(&single_app(&examples_wat("hello.wat"), ""));
    let response = server.get("/");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "Hello from serverless-wasm!\n");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[test]
fn imported_memory_module_reads_the_whole_request() {
    let server = TestServer::start(&single_app(&examples_wat("echo.wat"), ""));
    let body = b"some \x00 binary \xff body";
    let response = server.request(
        "PUT",
        "/a/b?x=1&y=2",
        &[("Content-Type", "application/x-test")],
        body,
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-echo-method"), Some("PUT"));
    assert_eq!(response.header("x-echo-path"), Some("/a/b"));
    assert_eq!(response.header("x-echo-query"), Some("x=1&y=2"));
    assert_eq!(response.header("content-type"), Some("application/x-test"));
    assert_eq!(response.body, body);
}

#[test]
fn absent_query_and_header_read_as_absent() {
    let server = TestServer::start(&single_app(&examples_wat("echo.wat"), ""));
    let response = server.get("/plain");
    assert_eq!(response.header("x-echo-query"), None);
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert!(response.body.is_empty());
}

#[test]
fn status_line_headers_and_framing() {
    let server = TestServer::start(&single_app(&guest("status.wat"), ""));
    let response = server.get("/");
    assert_eq!(response.status, 201);
    assert_eq!(response.reason, "Made It");
    assert_eq!(response.header_all("x-multi"), vec!["one", "two"]);
    // The guest's own Content-Length (999) is dropped; the server frames the body.
    assert_eq!(response.header("content-length"), Some("8"));
    assert_eq!(response.text(), "created\n");
}

#[test]
fn invalid_header_or_status_fails_the_request_with_a_log_line() {
    let config = format!(
        "{}\n[[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/status\"\nfunction = \"bad_status\"\n",
        single_app(&guest("status.wat"), "function = \"bad_header\""),
        guest("status.wat")
    );
    let server = TestServer::start(&config);
    let response = server.get("/header");
    assert_eq!(response.status, 500);
    let id = response
        .header("x-request-id")
        .expect("request id")
        .to_string();
    let log = server.wait_for_log("invalid header name");
    assert!(
        log.lines()
            .any(|l| l.contains("invalid header name") && l.contains(&id)),
        "{log}"
    );
    assert_eq!(server.get("/status").status, 500);
    assert!(
        server
            .wait_for_log("invalid status code 1000")
            .contains("invalid status code 1000")
    );
}

#[test]
fn db_get_reads_env_with_the_length_convention() {
    let server = TestServer::start(&single_app(
        &guest("env.wat"),
        "env = { greeting = \"hello world\" }",
    ));
    assert_eq!(server.get("/").text(), "hel|hello world|-");
}

#[test]
fn log_lines_carry_app_name_and_request_id() {
    let server = TestServer::start(&single_app(
        &examples_wat("hello.wat"),
        "name = \"greeter\"",
    ));
    let response = server.get("/");
    let id = response
        .header("x-request-id")
        .expect("request id")
        .to_string();
    let log = server.wait_for_log("sending a greeting");
    let line = log
        .lines()
        .find(|l| l.contains("sending a greeting"))
        .expect("guest log line");
    assert!(line.contains("greeter") && line.contains(&id), "{line}");
}

#[test]
fn every_request_gets_a_fresh_instance() {
    let server = TestServer::start(&single_app(&guest("state.wat"), ""));
    for _ in 0..5 {
        assert_eq!(server.get("/").text(), "11");
    }
}

#[test]
fn client_request_id_is_kept() {
    let server = TestServer::start(&single_app(&examples_wat("hello.wat"), ""));
    let response = server.request("GET", "/", &[("X-Request-Id", "trace-42")], b"");
    assert_eq!(response.header("x-request-id"), Some("trace-42"));
    let fresh = server.get("/");
    let id = fresh.header("x-request-id").expect("generated id");
    assert!(!id.is_empty() && id != "trace-42");
}
