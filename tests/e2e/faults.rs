//! Guests that trap, spin, recurse, grow without end or pass bad pointers:
//! each costs its own request only, and the server goes on answering.

use std::time::{Duration, Instant};

use crate::harness::{TestServer, guest};

/// One app per misbehaviour in faults.wat, routed at `/<function>`, plus a
/// well-behaved `/ok`.
fn faults_server(extra: &str) -> TestServer {
    let functions = [
        "trap",
        "spin",
        "recurse",
        "divide_by_zero",
        "load_out_of_bounds",
        "pointer_out_of_bounds",
        "absurd_length",
        "negative_length",
        "write_out_of_bounds",
        "grow",
    ];
    let mut config = String::from("listen_address = \"127.0.0.1:0\"\n");
    for function in functions {
        config.push_str(&format!(
            "[[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/{function}\"\nfunction = \"{function}\"\n{extra}\n",
            guest("faults.wat")
        ));
    }
    config.push_str(&format!(
        "[[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/ok\"\n",
        guest("state.wat")
    ));
    TestServer::start(&config)
}

#[test]
fn traps_and_bad_pointers_get_500_and_the_server_goes_on() {
    let server = faults_server("timeout_ms = 2000");
    for path in [
        "/trap",
        "/recurse",
        "/divide_by_zero",
        "/load_out_of_bounds",
        "/pointer_out_of_bounds",
        "/absurd_length",
        "/negative_length",
        "/write_out_of_bounds",
    ] {
        let response = server.get(path);
        assert_eq!(response.status, 500, "{path}");
        let id = response.header("x-request-id").expect("request id");
        assert!(
            response.text().contains(id),
            "{path}: error body names the request id"
        );
        assert_eq!(
            server.get("/ok").text(),
            "11",
            "server still answers after {path}"
        );
    }
    let log = server.wait_for_log("call stack exhausted");
    assert!(log.contains("call stack exhausted"), "{log}");
    assert!(log.contains("outside its 65536-byte memory"), "{log}");
}

#[test]
fn endless_loop_gets_504_within_the_deadline() {
    let server = faults_server("timeout_ms = 500");
    let started = Instant::now();
    let response = server.get("/spin");
    let elapsed = started.elapsed();
    assert_eq!(response.status, 504);
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn spinning_guests_do_not_starve_others() {
    let server = faults_server("timeout_ms = 1500");
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let addr = server.addr;
            std::thread::spawn(move || {
                crate::harness::http_request(addr, "GET", "/spin", &[], b"").status
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(server.get("/ok").status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    for spinner in spinners {
        assert_eq!(spinner.join().expect("spinner thread"), 504);
    }
}

#[test]
fn memory_growth_stops_at_the_limit() {
    let server = faults_server("memory_limit_mb = 2");
    let response = server.get("/grow");
    assert_eq!(response.status, 200);
    let pages = u32::from_le_bytes(response.body[..4].try_into().expect("4-byte body"));
    assert_eq!(
        pages,
        2 * 1024 * 1024 / 65536,
        "pages held equal the limit exactly"
    );
    assert_eq!(server.get("/ok").status, 200);
}
