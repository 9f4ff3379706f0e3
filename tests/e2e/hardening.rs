//! The public listener against clients that misbehave: oversized headers,
//! headers sent slowly or never finished, connections left open and idle,
//! and more connections than `max_connections`. Raw sockets, so that the
//! test controls every byte and sees exactly when the server closes.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::{TestServer, repo_path, single_app};

/// A server for examples/hello.wat (200, a fixed body) with `top` as
/// top-level config keys.
fn hello_server(top: &str) -> TestServer {
    let hello = repo_path("examples/hello.wat").display().to_string();
    TestServer::start(&format!("{top}\n{}", single_app(&hello, "")))
}

/// A request head of exactly `size` bytes, padded with one large header.
fn head_of(size: usize, keep_alive: bool) -> Vec<u8> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let start = format!("GET / HTTP/1.1\r\nHost: test\r\nConnection: {connection}\r\nX-Pad: ");
    let end = "\r\n\r\n";
    let pad = size - start.len() - end.len();
    let mut head = start.into_bytes();
    head.resize(head.len() + pad, b'a');
    head.extend_from_slice(end.as_bytes());
    assert_eq!(head.len(), size);
    head
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
}

/// Sends `bytes` from another thread (the server may answer and close
/// before reading them all) and returns everything the server sent until
/// it closed; a reset after its answer is a close too.
fn exchange(addr: SocketAddr, bytes: Vec<u8>) -> Vec<u8> {
    let mut stream = connect(addr);
    let mut writer = stream.try_clone().expect("clone");
    let writing = std::thread::spawn(move || {
        let _ = writer.write_all(&bytes);
    });
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) => panic!("reading the answer: {error}"),
        }
    }
    let _ = writing.join();
    received
}

fn status_of(response: &[u8]) -> String {
    let text = String::from_utf8_lossy(response);
    text.lines().next().unwrap_or("").to_string()
}

/// Reads one response on a kept-alive connection: its head and a body of
/// its Content-Length. Returns the status line.
fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut byte = [0; 1];
    while !received.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read head");
        assert_eq!(n, 1, "connection closed mid-head: {received:?}");
        received.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&received).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no content-length in {head}"));
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("read body");
    head.lines().next().unwrap_or("").to_string()
}

/// Blocks until the server closes `stream` (EOF or reset) and returns how
/// long that took; panics if it sends anything or stays open 20 s.
fn wait_closed(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buffer = [0; 64];
    match stream.read(&mut buffer) {
        Ok(0) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        Ok(n) => panic!(
            "server sent {:?} instead of closing",
            String::from_utf8_lossy(&buffer[..n])
        ),
        Err(error) => panic!("not closed after {:?}: {error}", started.elapsed()),
    }
    started.elapsed()
}

#[test]
fn request_header_over_the_limit_is_431() {
    let server = hello_server("max_header_bytes = 65536");
    let answer = exchange(server.addr, head_of(200_000, false));
    assert!(
        status_of(&answer).starts_with("HTTP/1.1 431"),
        "{}",
        status_of(&answer)
    );
    // The limit is exact: the whole head, request line to blank line.
    let answer = exchange(server.addr, head_of(65_537, false));
    assert!(status_of(&answer).starts_with("HTTP/1.1 431"));
    for size in [65_536, 60_000] {
        let answer = exchange(server.addr, head_of(size, false));
        assert_eq!(
            status_of(&answer),
            "HTTP/1.1 200 OK",
            "a head of {size} bytes"
        );
    }
}

#[test]
fn a_header_not_finished_in_time_is_cut_off() {
    let server = hello_server("header_read_timeout_ms = 500");
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: te")
        .expect("write half a head");
    let waited = wait_closed(&mut stream);
    assert!(
        waited > Duration::from_millis(300) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
    // Nor may a client that connects and says nothing keep the socket.
    let mut silent = connect(server.addr);
    let waited = wait_closed(&mut silent);
    assert!(
        waited > Duration::from_millis(300) && waited < Duration::from_secs(3),
        "silent client closed after {waited:?}"
    );
    // A client that is merely slow, within the limit, is answered.
    let mut slow = connect(server.addr);
    for part in [
        "GET / HTTP/1.1\r\n",
        "Host: test\r\n",
        "Connection: close\r\n\r\n",
    ] {
        slow.write_all(part.as_bytes()).expect("write");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(read_response(&mut slow), "HTTP/1.1 200 OK");
}

/// keep_alive_timeout is not header_read_timeout: a kept-alive connection
/// may idle longer than the header timeout (hyper's own header timeout
/// would have closed it), and is closed once idle for keep_alive_timeout.
#[test]
fn an_idle_kept_alive_connection_is_closed_after_keep_alive_timeout() {
    let server = hello_server("header_read_timeout_ms = 300\nkeep_alive_timeout_ms = 2000");
    let mut stream = connect(server.addr);
    stream.write_all(&head_of(200, true)).expect("write");
    assert_eq!(read_response(&mut stream), "HTTP/1.1 200 OK");
    // Idle for more than the header timeout, then the next request.
    std::thread::sleep(Duration::from_millis(800));
    stream.write_all(&head_of(200, true)).expect("write");
    assert_eq!(read_response(&mut stream), "HTTP/1.1 200 OK");
    let waited = wait_closed(&mut stream);
    assert!(
        waited > Duration::from_millis(1200) && waited < Duration::from_secs(5),
        "idle connection closed after {waited:?}"
    );
    // Once a next request has started to arrive, its header is due within
    // the header timeout, not the idle one.
    let mut stream = connect(server.addr);
    stream.write_all(&head_of(200, true)).expect("write");
    assert_eq!(read_response(&mut stream), "HTTP/1.1 200 OK");
    stream.write_all(b"GET / HT").expect("write");
    let waited = wait_closed(&mut stream);
    assert!(
        waited < Duration::from_millis(1200),
        "closed after {waited:?}"
    );
}

#[test]
fn connections_over_max_connections_wait_to_be_accepted() {
    let server = hello_server("max_connections = 2");
    let mut first = connect(server.addr);
    let mut second = connect(server.addr);
    for stream in [&mut first, &mut second] {
        stream.write_all(&head_of(200, true)).expect("write");
        assert_eq!(read_response(stream), "HTTP/1.1 200 OK");
    }
    // The kernel completes the third connection (the listen backlog), but
    // the server does not take it while two are open.
    let mut third = connect(server.addr);
    third.write_all(&head_of(200, true)).expect("write");
    third
        .set_read_timeout(Some(Duration::from_millis(800)))
        .expect("timeout");
    let mut byte = [0; 1];
    let early = third.read(&mut byte);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "third connection served while two were open: {early:?}"
    );
    third
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    drop(first);
    assert_eq!(read_response(&mut third), "HTTP/1.1 200 OK");
    let log = server.wait_for_log("max_connections limit");
    assert_eq!(
        log.matches("the max_connections limit").count(),
        1,
        "one warning:\n{log}"
    );
    // The slot the third took frees again when it closes.
    drop(third);
    let mut fourth = connect(server.addr);
    fourth.write_all(&head_of(200, false)).expect("write");
    assert_eq!(read_response(&mut fourth), "HTTP/1.1 200 OK");
}

/// The listener is bound once: a reload that changes its settings says
/// they take a restart (and reloads the apps all the same).
#[test]
fn listener_settings_changed_on_reload_take_a_restart() {
    let hello = repo_path("examples/hello.wat").display().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.toml");
    let write = |top: &str| {
        std::fs::write(&path, format!("{top}\n{}", single_app(&hello, ""))).expect("write config")
    };
    write("max_connections = 5");
    let server = TestServer::serve_file(&path);
    write("max_connections = 6\nkeep_alive_timeout_ms = 1000");
    server.hangup();
    let log = server.wait_for_log("reloaded (SIGHUP)");
    assert!(
        log.contains("max_connections, keep_alive_timeout_ms changed: that takes a restart"),
        "{log}"
    );
}

/// One HTTP/2 frame: its type and payload.
fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0; 9];
    stream.read_exact(&mut head).expect("frame head");
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0; length];
    stream.read_exact(&mut payload).expect("frame payload");
    (head[3], payload)
}

const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;

/// HTTP/2 (here h2c) advertises the limits in its SETTINGS frame, which h2
/// then enforces: streams past the limit are refused, a larger header
/// block answered 431 (see `tls::h2_header_over_the_limit_is_431`). And a
/// connection that sends no request is closed, with GOAWAY.
#[test]
fn h2_advertises_its_limits_and_closes_when_quiet() {
    let server = hello_server(
        "h2_max_concurrent_streams = 7\nmax_header_bytes = 20000\nheader_read_timeout_ms = 500",
    );
    let mut stream = connect(server.addr);
    let opened = Instant::now();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .expect("preface and empty SETTINGS");
    let (kind, payload) = read_frame(&mut stream);
    assert_eq!(kind, SETTINGS, "the server's first frame");
    let settings: Vec<(u16, u32)> = payload
        .chunks_exact(6)
        .map(|entry| {
            (
                u16::from_be_bytes([entry[0], entry[1]]),
                u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]),
            )
        })
        .collect();
    const MAX_CONCURRENT_STREAMS: u16 = 3;
    const MAX_HEADER_LIST_SIZE: u16 = 6;
    assert!(
        settings.contains(&(MAX_CONCURRENT_STREAMS, 7)),
        "{settings:?}"
    );
    assert!(
        settings.contains(&(MAX_HEADER_LIST_SIZE, 20000)),
        "{settings:?}"
    );
    while read_frame(&mut stream).0 != GOAWAY {}
    assert!(
        opened.elapsed() > Duration::from_millis(300),
        "GOAWAY after {:?}",
        opened.elapsed()
    );
    // hyper's graceful close pings after its GOAWAY; this client does not
    // answer, and is dropped a while later.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(
        opened.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        opened.elapsed()
    );
}
