//! Outbound TCP from guests: reaches allowed backends, is refused elsewhere,
//! and a slow backend holds only its own request.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use crate::harness::{TestServer, repo_path, single_app};

/// A backend that answers each connection's first read with "echo: <data>"
/// after `delay`, then closes.
pub fn echo_backend(delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let addr = listener.local_addr().expect("backend addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buffer = [0; 4096];
                let read = stream.read(&mut buffer).unwrap_or(0);
                std::thread::sleep(delay);
                let _ = stream.write_all(b"echo: ");
                let _ = stream.write_all(&buffer[..read]);
            });
        }
    });
    addr
}

pub fn backend_app(backend: SocketAddr, allowed: &str) -> String {
    let module = repo_path("examples/backend.wat").display().to_string();
    single_app(
        &module,
        &format!("env = {{ \"/env/backend\" = \"{backend}\" }}\n{allowed}"),
    )
}

#[test]
fn allowed_backend_is_reached() {
    let backend = echo_backend(Duration::ZERO);
    let server = TestServer::start(&backend_app(
        backend,
        &format!("allowed_outbound_hosts = [\"{backend}\"]"),
    ));
    let response = server.request("POST", "/", &[], b"ping");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "echo: ping");
    assert_eq!(
        response.header("x-backend"),
        Some(backend.to_string().as_str())
    );
}

#[test]
fn unrestricted_app_reaches_any_host_with_a_warning() {
    let backend = echo_backend(Duration::ZERO);
    let server = TestServer::start(&backend_app(backend, ""));
    assert_eq!(server.request("POST", "/", &[], b"x").text(), "echo: x");
    assert!(
        server.log().contains("allowed_outbound_hosts"),
        "{}",
        server.log()
    );
}

#[test]
fn host_outside_the_allow_list_is_refused() {
    let backend = echo_backend(Duration::ZERO);
    let other_port = backend.port().wrapping_add(1).max(1);
    let server = TestServer::start(&backend_app(
        backend,
        &format!("allowed_outbound_hosts = [\"127.0.0.1:{other_port}\"]"),
    ));
    let response = server.request("POST", "/", &[], b"ping");
    assert_eq!(response.status, 502);
    assert!(
        server
            .wait_for_log("tcp_connect")
            .contains("not in allowed_outbound_hosts"),
        "{}",
        server.log()
    );

    let none = TestServer::start(&backend_app(backend, "allowed_outbound_hosts = []"));
    assert_eq!(none.request("POST", "/", &[], b"ping").status, 502);
}

#[test]
fn slow_backend_does_not_block_other_requests() {
    let slow = echo_backend(Duration::from_millis(1500));
    let hello = repo_path("examples/hello.wat").display().to_string();
    let config = format!(
        "{}\n[[applications]]\nfile_path = \"{hello}\"\nmethod = \"GET\"\nurl_path = \"/hello\"\n",
        backend_app(slow, "")
    );
    let server = TestServer::start(&config);
    let addr = server.addr;
    let waiting: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                crate::harness::http_request(addr, "POST", "/backend", &[], b"slow").text()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = std::time::Instant::now();
    assert_eq!(server.get("/hello").status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    for request in waiting {
        assert_eq!(request.join().expect("request thread"), "echo: slow");
    }
}

#[test]
fn at_most_sixteen_sockets_per_request() {
    let backend = echo_backend(Duration::from_millis(2000));
    let module = crate::harness::guest("sockets.wat");
    let server = TestServer::start(&single_app(
        &module,
        &format!("env = {{ backend = \"{backend}\" }}"),
    ));
    assert_eq!(server.get("/").text(), format!("{}x", "o".repeat(16)));
    // The limit is per request: the next one gets its own 16.
    assert_eq!(server.get("/").text(), format!("{}x", "o".repeat(16)));
    assert!(server.log().contains("16 sockets already open"));
}
