//! The bundled examples: the config README's first command serves, and the
//! Rust examples built from source with the SDK.

use std::time::Duration;

use crate::harness::{TestServer, repo_path, rust_examples};
use crate::outbound::echo_backend;

#[test]
fn bundled_example_config_serves_every_route() {
    let server = TestServer::serve_file(&repo_path("examples/config.toml"));
    assert_eq!(server.get("/hello").text(), "Hello from serverless-wasm!\n");
    let echo = server.request(
        "POST",
        "/echo/x?y=z",
        &[("Content-Type", "text/plain")],
        b"hi",
    );
    assert_eq!((echo.status, echo.text().as_str()), (200, "hi"));
    assert_eq!(echo.header("x-echo-query"), Some("y=z"));
    // Nothing listens on the example backend address in tests: the guest
    // reports that itself.
    let backend = server.get("/backend");
    assert!(
        backend.status == 502 || backend.status == 200,
        "{}",
        backend.status
    );
}

#[test]
fn rust_examples_built_with_the_sdk() {
    let modules = rust_examples();
    let backend = echo_backend(Duration::ZERO);
    let module = |name: &str| modules.join(format!("{name}.wasm")).display().to_string();
    let config = format!(
        "listen_address = \"127.0.0.1:0\"\n\
         [[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/hello\"\n\
         [[applications]]\nfile_path = \"{}\"\nmethod = [\"GET\", \"POST\"]\nurl_path = \"/echo/...\"\n\
         [[applications]]\nfile_path = \"{}\"\nmethod = \"POST\"\nurl_path = \"/backend\"\n\
         env = {{ \"/env/backend\" = \"{backend}\" }}\nallowed_outbound_hosts = [\"{backend}\"]\n\
         [[applications]]\nname = \"unconfigured\"\nfile_path = \"{}\"\nmethod = \"POST\"\nurl_path = \"/nobackend\"\n",
        module("hello"),
        module("echo"),
        module("backend"),
        module("backend"),
    );
    let server = TestServer::start(&config);
    assert_eq!(server.get("/hello").text(), "Hello from serverless-wasm!\n");

    let echo = server.request(
        "POST",
        "/echo/a?b=c",
        &[("content-type", "application/json")],
        b"{\"k\":1}",
    );
    assert_eq!(echo.text(), "{\"k\":1}");
    assert_eq!(echo.header("x-echo-method"), Some("POST"));
    assert_eq!(echo.header("x-echo-path"), Some("/echo/a"));
    assert_eq!(echo.header("x-echo-query"), Some("b=c"));
    assert_eq!(echo.header("content-type"), Some("application/json"));

    let big = vec![b'z'; 300_000];
    assert_eq!(server.request("POST", "/echo/big", &[], &big).body, big);

    let response = server.request("POST", "/backend", &[], b"");
    assert_eq!(response.text(), "echo: hello backend\n");
    let missing = server.request("POST", "/nobackend", &[], b"");
    assert_eq!(
        (missing.status, missing.text().as_str()),
        (500, "no /env/backend configured\n")
    );
}
