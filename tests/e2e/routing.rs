//! Routing as a client sees it: exact and wildcard routes, 404, 405 with
//! Allow, HEAD on GET routes.

use crate::harness::{TestServer, guest};

fn routes_server() -> TestServer {
    let echo = crate::harness::repo_path("examples/echo.wat")
        .display()
        .to_string();
    let state = guest("state.wat");
    let config = format!(
        r#"listen_address = "127.0.0.1:0"

[[applications]]
name = "exact"
file_path = "{state}"
method = "GET"
url_path = "/static/index"

[[applications]]
name = "static"
file_path = "{echo}"
method = ["GET", "POST"]
url_path = "/static/..."

[[applications]]
name = "deep"
file_path = "{echo}"
method = "GET"
url_path = "/static/deep/..."

[[applications]]
name = "anything"
file_path = "{echo}"
method = "*"
url_path = "/any"
"#
    );
    TestServer::start(&config)
}

#[test]
fn exact_beats_wildcard_and_longest_prefix_wins() {
    let server = routes_server();
    assert_eq!(server.get("/static/index").text(), "11");
    assert_eq!(
        server.get("/static/other").header("x-echo-path"),
        Some("/static/other")
    );
    assert_eq!(server.get("/static").header("x-echo-path"), Some("/static"));
    let deep = server.get("/static/deep/x");
    assert_eq!(deep.header("x-echo-path"), Some("/static/deep/x"));
    let log = server.wait_for_log("/static/deep/x");
    let line = log
        .lines()
        .find(|l| l.contains("path=/static/deep/x"))
        .expect("access log line");
    assert!(line.contains("app=deep"), "{line}");
}

#[test]
fn unknown_path_is_404() {
    let server = routes_server();
    assert_eq!(server.get("/staticfoo").status, 404);
    assert_eq!(server.get("/nothing").status, 404);
}

#[test]
fn other_method_is_405_with_allow() {
    let server = routes_server();
    let response = server.request("DELETE", "/static/x", &[], b"");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, HEAD, POST"));
    // POST /static/deep/x falls through to the /static/... route that allows it.
    assert_eq!(
        server.request("POST", "/static/deep/x", &[], b"").status,
        200
    );
}

#[test]
fn star_method_accepts_any_method() {
    let server = routes_server();
    for method in ["GET", "POST", "PATCH", "DELETE", "OPTIONS"] {
        assert_eq!(
            server
                .request(method, "/any", &[], b"")
                .header("x-echo-method"),
            Some(method)
        );
    }
}

#[test]
fn head_on_a_get_route_has_headers_but_no_body() {
    let server = routes_server();
    let get = server.get("/static/index");
    let head = server.request("HEAD", "/static/index", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), get.header("content-length"));
}
