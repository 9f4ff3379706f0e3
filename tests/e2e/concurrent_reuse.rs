//! `concurrent_reuse`: one WASI 0.3 instance serving several requests at
//! once, each with its own deadline, a trap failing only the requests on
//! its instance; and the configs that cannot have it.

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::config_errors::check;
use crate::harness::{HttpResponse, TestServer, cargo_guest, http_request, single_app};
use crate::standard_guests::probe_component;

fn probe_p3() -> String {
    let dir = cargo_guest("tests/guests/rust", "wasm32-wasip2", Some("probe-p3"));
    dir.join("probe_p3.wasm").display().to_string()
}

/// Serves `config` with its app loaded ahead (`--preload`), so that the
/// timings below are the instance's, not a first compilation's.
fn loaded(config: &str) -> TestServer {
    let server = TestServer::try_start_with(config, &["--preload"])
        .unwrap_or_else(|log| panic!("server did not start:\n{log}"));
    // A first compilation by a debug build on a busy machine can take long.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !server.log().contains("preloaded 1 apps") {
        assert!(
            Instant::now() < deadline,
            "not preloaded:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// Sends a GET in the background, after `delay`.
fn get_later(
    server: &TestServer,
    delay_ms: u64,
    path: &str,
) -> JoinHandle<(HttpResponse, Duration)> {
    let (addr, path) = (server.addr, path.to_string());
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(delay_ms));
        let sent = Instant::now();
        let response = http_request(addr, "GET", &path, &[], b"");
        (response, sent.elapsed())
    })
}

/// `/hold` answers "<nth request of its instance> <most at once on it>".
fn hold_answer(response: &HttpResponse) -> (u32, u32) {
    assert_eq!(response.status, 200, "{}", response.text());
    let text = response.text();
    let mut numbers = text
        .split_whitespace()
        .map(|n| n.parse().expect("a number"));
    (numbers.next().expect("nth"), numbers.next().expect("peak"))
}

#[test]
fn concurrent_requests_share_one_instance() {
    let server = loaded(&single_app(
        &probe_p3(),
        "name = \"shared\"\nreuse = 100\nconcurrent_reuse = 4",
    ));
    // The first makes the instance; the others come while it holds.
    let requests: Vec<_> = [0, 300, 350, 400]
        .into_iter()
        .map(|delay| get_later(&server, delay, "/hold/1000"))
        .collect();
    let mut answers: Vec<(u32, u32)> = requests
        .into_iter()
        .map(|request| hold_answer(&request.join().expect("client").0))
        .collect();
    answers.sort();
    // One instance took all four, and ran them at once.
    assert_eq!(
        answers.iter().map(|a| a.0).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(answers.last().expect("four").1, 4, "{answers:?}");

    // Its output is logged under a request it serves.
    let id = server
        .get("/stdio")
        .header("x-request-id")
        .expect("id")
        .to_string();
    let log = server.wait_for_log(&id);
    assert!(
        log.lines()
            .any(|l| l.contains("a line on stdout") && l.contains(&id)),
        "{log}"
    );
}

#[test]
fn a_trap_fails_only_the_requests_on_its_instance() {
    let server = loaded(&single_app(
        &probe_p3(),
        "reuse = 100\nconcurrent_reuse = 2\ntimeout_ms = 10000",
    ));
    // Two requests fill instance A; the third starts instance B, which the
    // fourth joins and where it traps.
    let a = [
        get_later(&server, 0, "/hold/1500"),
        get_later(&server, 200, "/hold/1500"),
    ];
    let b = get_later(&server, 400, "/hold/1500");
    let trap = get_later(&server, 600, "/trap/100");
    let (trapped, _) = trap.join().expect("client");
    assert_eq!(trapped.status, 500, "{}", trapped.text());
    let (b, _) = b.join().expect("client");
    assert_eq!(b.status, 500, "the trap's instance-mate: {}", b.text());
    let mut on_a: Vec<(u32, u32)> = a
        .into_iter()
        .map(|request| hold_answer(&request.join().expect("client").0))
        .collect();
    on_a.sort();
    assert_eq!(on_a, [(1, 2), (2, 2)]);
    // The app goes on serving.
    assert_eq!(server.get("/ok").text(), "ok\n");
    let log = server.log();
    assert!(log.contains("asked to trap"), "{log}");
}

#[test]
fn a_late_request_times_out_while_its_instance_mates_complete() {
    let server = loaded(&single_app(
        &probe_p3(),
        "reuse = 100\nconcurrent_reuse = 4\ntimeout_ms = 800",
    ));
    let late = get_later(&server, 0, "/hold/5000");
    let quick = [
        get_later(&server, 150, "/hold/300"),
        get_later(&server, 200, "/hold/300"),
    ];
    let mut quick: Vec<(u32, u32)> = quick
        .into_iter()
        .map(|request| hold_answer(&request.join().expect("client").0))
        .collect();
    quick.sort();
    // They ran beside the late one, on its instance.
    assert_eq!(quick, [(2, 3), (3, 3)]);
    let (late, took) = late.join().expect("client");
    assert_eq!(late.status, 504, "{}", late.text());
    assert!(took < Duration::from_millis(2000), "{took:?}");
    assert_eq!(server.get("/ok").text(), "ok\n");
}

#[test]
fn concurrent_reuse_is_refused_where_it_cannot_apply() {
    let app = |module: &str, extra: &str| {
        format!(
            "[[applications]]\nname = \"x\"\nfile_path = \"{module}\"\nmethod = \"GET\"\nurl_path = \"/a\"\n{extra}\n"
        )
    };
    // A WASI 0.2 component: its handler serves one request at a time.
    let (code, stderr, path) = check(&app(&probe_component(), "reuse = 8\nconcurrent_reuse = 4"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("{path}:1: app `x`"))
                && l.contains("`concurrent_reuse = 4` applies only to WASI 0.3 components")
                && l.contains("WASI 0.2")),
        "{stderr}"
    );
    // More at once than in all.
    let (code, stderr, path) = check(&app(&probe_p3(), "concurrent_reuse = 4"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with(&format!("{path}:6:"))
            && l.contains("concurrent_reuse")
            && l.contains("need `reuse`")),
        "{stderr}"
    );
    let (code, stderr, path) = check(&app(&probe_p3(), "concurrent_reuse = 0"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with(&format!("{path}:6:"))
            && l.contains("concurrent_reuse")
            && l.contains("must be between 1")),
        "{stderr}"
    );
    // Accepted on a 0.3 component.
    let (code, stderr, _) = check(&app(&probe_p3(), "reuse = 8\nconcurrent_reuse = 4"));
    assert_eq!(code, Some(0), "{stderr}");
}
