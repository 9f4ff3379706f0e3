//! The standard guests: wasi:http components and WASI CGI (WAGI) modules,
//! under the same routing, limits and logging as classic modules, and the
//! echo example in every language.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::harness::{
    TestServer, cargo_guest, http_request, repo_path, run_binary, script_guest, single_app,
};

pub fn probe_component() -> String {
    let dir = cargo_guest(
        "tests/guests/rust",
        "wasm32-wasip2",
        Some("probe-component"),
    );
    dir.join("probe_component.wasm").display().to_string()
}

fn probe_cgi() -> String {
    let dir = cargo_guest("tests/guests/rust", "wasm32-wasip1", Some("probe-cgi"));
    dir.join("probe-cgi.wasm").display().to_string()
}

pub fn rust_component(name: &str) -> String {
    let dir = cargo_guest("examples/wasi-http/rust", "wasm32-wasip2", None);
    dir.join(format!("{name}.wasm")).display().to_string()
}

/// The same echo contract every example language implements.
fn assert_echoes(server: &TestServer, path: &str) {
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let response = server.request(
        "POST",
        &format!("{path}?a=1&b=two"),
        &[("Content-Type", "application/x-probe")],
        &body,
    );
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    assert_eq!(response.header("x-echo-method"), Some("POST"), "{path}");
    assert_eq!(response.header("x-echo-path"), Some(path), "{path}");
    assert_eq!(response.header("x-echo-query"), Some("a=1&b=two"), "{path}");
    assert_eq!(
        response.header("content-type"),
        Some("application/x-probe"),
        "{path}"
    );
    assert!(
        response.body == body,
        "{path}: body differs ({} bytes back)",
        response.body.len()
    );

    let plain = server.request("PUT", path, &[], b"");
    assert_eq!(plain.status, 200, "{path}");
    assert_eq!(plain.header("x-echo-query"), None, "{path}");
    assert_eq!(
        plain.header("content-type"),
        Some("application/octet-stream"),
        "{path}"
    );
    assert!(plain.body.is_empty(), "{path}");
}

#[test]
fn rust_component_hello_and_streaming_echo() {
    let config = format!(
        "{}\n[[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/hello\"\n",
        single_app(&rust_component("echo"), ""),
        rust_component("hello")
    );
    let server = TestServer::start(&config);
    assert_eq!(
        server.get("/hello").text(),
        "Hello from a Rust wasi:http component!\n"
    );
    assert_echoes(&server, "/echo/x");

    let big = vec![7u8; 10 * 1024 * 1024];
    assert!(
        server.request("POST", "/big", &[], &big).body == big,
        "10 MiB echo"
    );

    let mut chunked = format!("{:x}\r\n", 5).into_bytes();
    chunked.extend_from_slice(b"hello\r\n6\r\n world\r\n0\r\n\r\n");
    let response = server.request(
        "POST",
        "/chunked",
        &[("Transfer-Encoding", "chunked")],
        &chunked,
    );
    assert_eq!(response.text(), "hello world");
}

/// A minimal HTTP/1.1 backend: answers every request with `body`.
pub fn http_backend(body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(32) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0; 4096];
            let _ = stream.read(&mut request);
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    addr
}

#[test]
fn component_outbound_http_obeys_the_allow_list() {
    let backend = http_backend("from the backend");
    let outbound = rust_component("outbound");
    let app = |route: &str, allowed: &str| {
        format!(
            "[[applications]]\nfile_path = \"{outbound}\"\nmethod = \"GET\"\nurl_path = \"{route}\"\n\
             env = {{ BACKEND_URL = \"http://{backend}/path\" }}\n{allowed}\n"
        )
    };
    let config = format!(
        "listen_address = \"127.0.0.1:0\"\n{}{}{}\
         [[applications]]\nfile_path = \"{outbound}\"\nmethod = \"GET\"\nurl_path = \"/unset\"\n",
        app(
            "/allowed",
            &format!("allowed_outbound_hosts = [\"{backend}\"]")
        ),
        app("/refused", "allowed_outbound_hosts = [\"127.0.0.1:1\"]"),
        app("/none", "allowed_outbound_hosts = []"),
    );
    let server = TestServer::start(&config);
    let allowed = server.get("/allowed");
    assert_eq!(
        (allowed.status, allowed.text().as_str()),
        (200, "from the backend")
    );
    assert_eq!(allowed.header("x-upstream-status"), Some("200"));
    for refused in ["/refused", "/none"] {
        let response = server.get(refused);
        assert_eq!(response.status, 502, "{refused}");
        assert!(
            response.text().contains("HttpRequestDenied"),
            "{}",
            response.text()
        );
    }
    assert!(server.log().contains("not in allowed_outbound_hosts"));
    assert_eq!(server.get("/unset").status, 500);
}

#[test]
fn component_faults_cost_only_their_own_request() {
    let component = probe_component();
    let server = TestServer::start(&single_app(
        &component,
        "timeout_ms = 700\nmemory_limit_mb = 32",
    ));
    for path in ["/trap", "/grow", "/no-response"] {
        let response = server.get(path);
        assert_eq!(response.status, 500, "{path}: {}", response.text());
        assert_eq!(server.get("/ok").text(), "ok\n", "after {path}");
    }
    let started = Instant::now();
    assert_eq!(server.get("/spin").status, 504);
    assert!(
        started.elapsed() < Duration::from_millis(1700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.get("/ok").text(), "ok\n");
    let log = server.log();
    assert!(log.contains("asked to trap"), "{log}");
}

#[test]
fn component_instances_are_reused_only_as_configured() {
    let component = probe_component();
    let counts = |server: &TestServer, requests: usize| -> Vec<String> {
        (0..requests)
            .map(|_| {
                // An instance goes back to wait once its response is sent,
                // which may be just after the client has it.
                std::thread::sleep(Duration::from_millis(50));
                server.get("/count").text().trim().to_string()
            })
            .collect()
    };
    let fresh = TestServer::start(&single_app(&component, ""));
    assert_eq!(counts(&fresh, 3), ["1", "1", "1"]);

    let server = TestServer::start(&single_app(&component, "name = \"probe\"\nreuse = 3"));
    assert_eq!(counts(&server, 7), ["1", "2", "3", "1", "2", "3", "1"]);
    // The waiting instance traps: it is dropped, not put back. (As above,
    // the last instance may go back to wait just after its client has the
    // response; /trap must find it waiting.)
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(server.get("/trap").status, 500);
    assert_eq!(counts(&server, 1), ["1"]);

    // A reused instance's output is logged under the request that wrote it.
    let ids: Vec<String> = (0..2)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            let response = server.get("/stdio");
            response.header("x-request-id").expect("id").to_string()
        })
        .collect();
    let log = server.wait_for_log(&ids[1]);
    for id in &ids {
        assert!(
            log.lines()
                .any(|l| l.contains("a line on stdout") && l.contains(id.as_str())),
            "no stdout line with {id} in {log}"
        );
    }

    // An instance waits about a second for its next request, no longer.
    assert_eq!(counts(&server, 1), ["1"]);
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(counts(&server, 1), ["1"]);
}

#[test]
fn component_sockets_obey_the_allow_list() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("addr");
    let component = probe_component();
    let app = |allowed: &str| {
        single_app(
            &component,
            &format!("env = {{ TCP_ADDR = \"{address}\" }}\n{allowed}"),
        )
    };
    let allowed = TestServer::start(&app(&format!("allowed_outbound_hosts = [\"{address}\"]")));
    assert_eq!(
        allowed.get("/tcp").text(),
        format!("connected to {address}\n")
    );
    let refused = TestServer::start(&app("allowed_outbound_hosts = [\"127.0.0.1:1\"]"));
    assert!(refused.get("/tcp").text().starts_with("refused:"));
}

#[test]
fn component_sees_env_stdio_and_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("hello.txt"), "static content\n").expect("write");
    let component = probe_component();
    let extra = format!(
        "name = \"probe\"\nenv = {{ GREETING = \"hi there\" }}\nfiles = {{ \"/static\" = \"{}\" }}",
        dir.path().display()
    );
    let server = TestServer::start(&single_app(&component, &extra));
    assert!(server.get("/env").text().contains("GREETING=hi there\n"));
    assert_eq!(server.get("/file").text(), "static content\n");

    let response = server.get("/stdio");
    let id = response.header("x-request-id").expect("id").to_string();
    let log = server.wait_for_log("a line on stderr");
    for line in ["a line on stdout", "a line on stderr"] {
        let logged = log
            .lines()
            .find(|l| l.contains(line))
            .unwrap_or_else(|| panic!("{line} not in {log}"));
        assert!(logged.contains(&id) && logged.contains("probe"), "{logged}");
    }

    let without_files = TestServer::start(&single_app(&component, ""));
    assert!(
        without_files.get("/file").text().starts_with("error:"),
        "no filesystem by default"
    );
}

#[test]
fn cgi_module_gets_the_request_as_environment_and_stdin() {
    let extra = "env = { APP_SETTING = \"on\" }";
    let config =
        single_app(&probe_cgi(), extra).replace("url_path = \"/...\"", "url_path = \"/cgi/...\"");
    let server = TestServer::start(&config);
    let response = server.request(
        "POST",
        "/cgi/x/y?q=1",
        &[("Content-Type", "text/x-cgi"), ("X-Custom-Thing", "yes")],
        b"stdin body",
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-probe"), Some("cgi"));
    let text = response.text();
    let (env, stdin) = text.split_once("--\n").expect("env, then stdin");
    for variable in [
        "REQUEST_METHOD=POST",
        "SCRIPT_NAME=/cgi",
        "PATH_INFO=/x/y",
        "QUERY_STRING=q=1",
        "CONTENT_TYPE=text/x-cgi",
        "CONTENT_LENGTH=10",
        "HTTP_X_CUSTOM_THING=yes",
        "X_MATCHED_ROUTE=/cgi/...",
        "GATEWAY_INTERFACE=CGI/1.1",
        "SERVER_PROTOCOL=HTTP/1.1",
        "APP_SETTING=on",
        "REMOTE_ADDR=127.0.0.1",
    ] {
        assert!(
            env.lines().any(|l| l == variable),
            "{variable} missing from:\n{env}"
        );
    }
    assert_eq!(stdin, "stdin body");
    assert!(
        server
            .wait_for_log("probe-cgi read 10 bytes")
            .contains("probe-cgi read 10 bytes")
    );
}

#[test]
fn cgi_faults_and_redirects() {
    let config = single_app(&probe_cgi(), "timeout_ms = 700")
        .replace("url_path = \"/...\"", "url_path = \"/cgi/...\"");
    let server = TestServer::start(&config);
    for path in ["/cgi/trap", "/cgi/exit", "/cgi/garbage"] {
        assert_eq!(server.get(path).status, 500, "{path}");
    }
    let started = Instant::now();
    assert_eq!(server.get("/cgi/spin").status, 504);
    assert!(started.elapsed() < Duration::from_millis(1700));
    let redirect = server.get("/cgi/redirect");
    assert_eq!(
        (redirect.status, redirect.header("location")),
        (302, Some("/elsewhere"))
    );
    assert_eq!(server.get("/cgi/ok").status, 200);
    let log = server.log();
    assert!(log.contains("exited with status 3"), "{log}");
    assert!(log.contains("invalid CGI response"), "{log}");
}

#[test]
fn abi_is_detected_or_refused_with_what_each_kind_needs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wasi_without_start = dir.path().join("lib.wat");
    std::fs::write(
        &wasi_without_start,
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))) (func (export "handle")))"#,
    )
    .expect("write");
    let output = run_binary(&["run", wasi_without_start.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("exports no `_start`"));

    let component = rust_component("hello");
    let forced = single_app(&component, "abi = \"classic\"");
    let error = TestServer::try_start(&forced).err().expect("refused");
    assert!(error.contains("is a component"), "{error}");

    let module = repo_path("examples/hello.wat").display().to_string();
    let error = TestServer::try_start(&single_app(&module, "abi = \"wasi-http\""))
        .err()
        .expect("refused");
    assert!(error.contains("needs a component"), "{error}");
}

fn echo_server(module: PathBuf) -> TestServer {
    TestServer::start(&single_app(&module.display().to_string(), ""))
}

#[test]
fn echo_in_rust_cgi() {
    let dir = cargo_guest("examples/wagi/rust", "wasm32-wasip1", None);
    assert_echoes(&echo_server(dir.join("echo.wasm")), "/wagi/rust");
}

#[test]
fn echo_in_c_cgi() {
    assert_echoes(
        &echo_server(script_guest("examples/wagi/c", "echo.wasm")),
        "/wagi/c",
    );
}

#[test]
fn echo_in_assemblyscript_classic() {
    let module = script_guest("examples/assemblyscript", "build/echo.wasm");
    assert_echoes(&echo_server(module), "/as");
}

#[test]
fn echo_in_python_component() {
    assert_echoes(
        &echo_server(script_guest("examples/wasi-http/python", "echo.wasm")),
        "/py",
    );
}

#[test]
fn echo_in_javascript_component() {
    assert_echoes(
        &echo_server(script_guest("examples/wasi-http/js", "echo.wasm")),
        "/js",
    );
}

#[test]
fn polyglot_config_serves_every_kind_and_language() {
    crate::harness::rust_examples();
    rust_component("hello");
    cargo_guest("examples/wasi-http/rust-p3", "wasm32-wasip2", None);
    cargo_guest("examples/wagi/rust", "wasm32-wasip1", None);
    for (directory, output) in [
        ("examples/wagi/c", "echo.wasm"),
        ("examples/assemblyscript", "build/echo.wasm"),
        ("examples/wasi-http/python", "echo.wasm"),
        ("examples/wasi-http/js", "echo.wasm"),
    ] {
        script_guest(directory, output);
    }
    let server = TestServer::serve_file(&repo_path("examples/polyglot.toml"));
    assert_eq!(server.get("/hello").text(), "Hello from serverless-wasm!\n");
    assert_eq!(
        server.get("/http/rust/hello").text(),
        "Hello from a Rust wasi:http component!\n"
    );
    assert_eq!(
        server.get("/http3/rust/hello").text(),
        "Hello from a Rust wasi:http 0.3 component!\n"
    );
    for prefix in [
        "/classic/rust",
        "/classic/assemblyscript",
        "/cgi/rust",
        "/cgi/c",
        "/http/rust/echo",
        "/http3/rust/echo",
        "/http/python",
        "/http/js",
    ] {
        assert_echoes(&server, &format!("{prefix}/x"));
    }
    // Nothing listens on the example's backend port here.
    assert_eq!(server.get("/http/rust/outbound").status, 502);
    // The counter keeps counting in examples/.serverless-wasm across runs.
    let hits = |text: String| -> u64 {
        let number = text
            .strip_prefix("hits: ")
            .and_then(|n| n.trim().parse().ok());
        number.unwrap_or_else(|| panic!("counter said {text:?}"))
    };
    let first = hits(server.get("/http/rust/counter").text());
    assert_eq!(hits(server.get("/http/rust/counter").text()), first + 1);
}

#[test]
fn wasi_http_0_3_components_stream_like_0_2_ones() {
    let dir = cargo_guest("examples/wasi-http/rust-p3", "wasm32-wasip2", None);
    let module = |name: &str| dir.join(format!("{name}.wasm")).display().to_string();
    let config = format!(
        "{}\n[[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/hello\"\n",
        single_app(&module("echo"), ""),
        module("hello")
    );
    let server = TestServer::start(&config);
    assert_eq!(
        server.get("/hello").text(),
        "Hello from a Rust wasi:http 0.3 component!\n"
    );
    assert_echoes(&server, "/p3/echo");
    let big: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    assert!(
        server.request("POST", "/big", &[], &big).body == big,
        "10 MiB echo"
    );
}

#[test]
fn component_without_a_wasi_http_handler_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let component = dir.path().join("empty.wat");
    std::fs::write(&component, "(component)").expect("write");
    let output = run_binary(&["run", component.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "exports neither `wasi:http/incoming-handler@0.2.x` nor `wasi:http/handler@0.3.x`"
        ),
        "{stderr}"
    );
}

/// A component instance is several core instances, each taking pool slots:
/// the pool must hold as many components at once as it promises instances,
/// not a third of them (it used to answer 503 from about 333 on).
#[test]
fn four_hundred_components_at_once_are_all_served() {
    let server = TestServer::start(&single_app(&probe_component(), ""));
    let addr = server.addr;
    let clients: Vec<_> = (0..400)
        .map(|_| std::thread::spawn(move || http_request(addr, "GET", "/sleep", &[], b"").status))
        .collect();
    let mut statuses: Vec<u16> = clients
        .into_iter()
        .map(|client| client.join().expect("client thread"))
        .collect();
    statuses.sort_unstable();
    statuses.dedup();
    assert_eq!(statuses, [200]);
}
