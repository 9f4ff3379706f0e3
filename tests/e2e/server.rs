//! The server as operators see it: concurrency, body limits, access log,
//! start-up errors and graceful shutdown.

use std::time::{Duration, Instant};

use crate::harness::{TestServer, guest, http_request, repo_path, run_binary, single_app};
use crate::outbound::{backend_app, echo_backend};

fn wat_example(name: &str) -> String {
    repo_path(&format!("examples/{name}")).display().to_string()
}

#[test]
fn two_hundred_concurrent_requests_across_apps() {
    let config = format!(
        "listen_address = \"127.0.0.1:0\"\n\
         [[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/hello\"\n\
         [[applications]]\nfile_path = \"{}\"\nmethod = \"POST\"\nurl_path = \"/echo\"\n\
         [[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/state\"\n",
        wat_example("hello.wat"),
        wat_example("echo.wat"),
        guest("state.wat"),
    );
    let server = TestServer::start(&config);
    let addr = server.addr;
    let clients: Vec<_> = (0..200)
        .map(|i| {
            std::thread::spawn(move || match i % 3 {
                0 => {
                    http_request(addr, "GET", "/hello", &[], b"").text()
                        == "Hello from serverless-wasm!\n"
                }
                1 => {
                    let body = format!("request {i}");
                    http_request(addr, "POST", "/echo", &[], body.as_bytes()).text() == body
                }
                _ => http_request(addr, "GET", "/state", &[], b"").text() == "11",
            })
        })
        .collect();
    let answered = clients
        .into_iter()
        .map(|c| c.join())
        .filter(|r| matches!(r, Ok(true)))
        .count();
    assert_eq!(answered, 200);
}

#[test]
fn body_over_the_limit_is_413() {
    let server = TestServer::start(&single_app(
        &wat_example("echo.wat"),
        "max_request_body_bytes = 1024",
    ));
    assert_eq!(server.request("POST", "/", &[], &[b'x'; 1024]).status, 200);
    assert_eq!(server.request("POST", "/", &[], &[b'x'; 1025]).status, 413);
    // Without a Content-Length the limit still holds while streaming.
    let chunked = [("Transfer-Encoding", "chunked")];
    let mut body = format!("{:x}\r\n", 2000).into_bytes();
    body.extend_from_slice(&[b'y'; 2000]);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let response = http_request(server.addr, "POST", "/", &chunked, &body);
    assert_eq!(response.status, 413);
}

#[test]
fn access_log_line_per_request() {
    let server = TestServer::start(&single_app(&wat_example("hello.wat"), "name = \"greeter\""));
    let response = server.get("/some/path?q=1");
    let id = response
        .header("x-request-id")
        .expect("request id")
        .to_string();
    let log = server.wait_for_log(&format!("request_id={id}"));
    let line = log
        .lines()
        .find(|l| l.contains("access") && l.contains(&id))
        .unwrap_or_else(|| panic!("no access line in:\n{log}"));
    for field in [
        "method=GET",
        "path=/some/path",
        "status=200",
        "duration_ms=",
        "app=greeter",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
}

#[test]
fn port_in_use_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, single_app(&wat_example("hello.wat"), "")).expect("write");
    let output = run_binary(&[
        "serve",
        config.to_str().expect("utf-8"),
        "--listen",
        &address,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn missing_config_file_is_one_clear_line() {
    let output = run_binary(&["/no/such/config.toml"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/no/such/config.toml"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_zero() {
    let slow = echo_backend(Duration::from_millis(1500));
    let mut server = TestServer::start(&backend_app(slow, ""));
    let addr = server.addr;
    let in_flight = std::thread::spawn(move || http_request(addr, "POST", "/", &[], b"late"));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.terminate();
    // Once shutdown starts, new connections are refused.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "listener still open during shutdown"
    );
    let response = in_flight.join().expect("in-flight request");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "echo: late");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// HTTP/2 without TLS or upgrade ("prior knowledge"), as gRPC clients and
/// `curl --http2-prior-knowledge` speak it, next to HTTP/1.1 on the same port.
#[test]
fn h2c_prior_knowledge_is_served() {
    use http_body_util::BodyExt as _;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let server = TestServer::start(&single_app(&wat_example("hello.wat"), ""));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, version, body) = runtime.block_on(async {
        let stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("h2 handshake");
        tokio::spawn(connection);
        let request = http::Request::get(format!("http://{}/hello", server.addr))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
            .await
            .expect("answered in time")
            .expect("response");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        (parts.status, parts.version, body)
    });
    assert_eq!(status, 200);
    assert_eq!(version, http::Version::HTTP_2);
    assert_eq!(&body[..], b"Hello from serverless-wasm!\n");
    // And HTTP/1.1 on the same listener.
    assert_eq!(server.get("/").status, 200);
}
