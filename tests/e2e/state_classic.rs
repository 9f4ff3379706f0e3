//! The classic ABI's key-value functions (`db_get`, `db_set`, `db_delete`,
//! `db_list`) through the `notes` example, on both backends: round trips,
//! isolation between apps, `env` taking precedence and staying read-only,
//! the documented limits, durability across `kill -9`, and Redis going away
//! and coming back.

use std::time::{Duration, Instant};

use crate::harness::{TestServer, guest, rust_examples};
use crate::store_backends::Backend;

fn notes() -> String {
    rust_examples().join("notes.wasm").display().to_string()
}

/// `notes` at `/<route>/...` for each route, with `extra` lines per app.
fn notes_apps(routes: &[(&str, &str)]) -> String {
    routes
        .iter()
        .map(|(route, extra)| {
            format!(
                "[[applications]]\nname = \"{route}\"\nfile_path = \"{}\"\nmethod = \"*\"\nurl_path = \"/{route}/...\"\n{extra}\n",
                notes()
            )
        })
        .collect()
}

fn start(backend: &Backend, max_value_bytes: Option<u64>, apps: &str) -> TestServer {
    TestServer::start(&format!("{}\n{apps}", backend.stores(max_value_bytes)))
}

fn round_trip(backend: Backend) {
    let server = start(&backend, None, &notes_apps(&[("notes", "")]));
    for (key, value) in [
        ("b", "two"),
        ("a", "one"),
        ("c/d", "three"),
        ("c/e", "four"),
    ] {
        let response = server.request("PUT", &format!("/notes/{key}"), &[], value.as_bytes());
        assert_eq!((response.status, response.text()), (200, "stored\n".into()));
    }
    assert_eq!(server.get("/notes/a").text(), "one");
    assert_eq!(server.get("/notes/c/d").text(), "three");
    assert_eq!(server.get("/notes/").text(), "a\nb\nc/d\nc/e\n");
    assert_eq!(server.get("/notes?prefix=c/").text(), "c/d\nc/e\n");
    assert_eq!(server.get("/notes?prefix=x").text(), "");
    server.request("PUT", "/notes/a", &[], b"overwritten");
    assert_eq!(server.get("/notes/a").text(), "overwritten");
    assert_eq!(server.request("DELETE", "/notes/a", &[], b"").status, 200);
    assert_eq!(server.get("/notes/a").status, 404);
    assert_eq!(server.request("DELETE", "/notes/a", &[], b"").status, 404);
    assert_eq!(server.get("/notes/").text(), "b\nc/d\nc/e\n");
}

#[test]
fn classic_round_trip_embedded() {
    round_trip(Backend::Embedded);
}

#[test]
fn classic_round_trip_redis() {
    round_trip(Backend::redis());
}

fn isolation(backend: Backend) {
    let server = start(&backend, None, &notes_apps(&[("one", ""), ("two", "")]));
    assert_eq!(
        server.request("PUT", "/one/secret", &[], b"of one").status,
        200
    );
    assert_eq!(server.get("/two/secret").status, 404);
    assert_eq!(server.get("/two/").text(), "");
    assert_eq!(
        server.request("DELETE", "/two/secret", &[], b"").status,
        404
    );
    assert_eq!(server.get("/one/secret").text(), "of one");
}

#[test]
fn classic_apps_cannot_see_each_others_keys_embedded() {
    isolation(Backend::Embedded);
}

#[test]
fn classic_apps_cannot_see_each_others_keys_redis() {
    isolation(Backend::redis());
}

fn env_and_limits(backend: Backend) {
    let apps = notes_apps(&[("notes", "env = { greeting = \"hi\" }\nmax_keys = 2\n")]);
    let server = start(&backend, Some(16), &apps);
    // `env` answers first and cannot be changed.
    assert_eq!(server.get("/notes/greeting").text(), "hi");
    assert_eq!(
        server.request("PUT", "/notes/greeting", &[], b"x").status,
        403
    );
    assert_eq!(
        server.request("DELETE", "/notes/greeting", &[], b"").status,
        403
    );
    // A value over max_value_bytes: 413, nothing written.
    let too_large = server.request("PUT", "/notes/big", &[], &[b'v'; 17]);
    assert_eq!(too_large.status, 413, "{}", too_large.text());
    assert_eq!(server.get("/notes/big").status, 404);
    assert_eq!(
        server.request("PUT", "/notes/big", &[], &[b'v'; 16]).status,
        200
    );
    // A key over 1 KiB, or holding a newline: 400, nothing written.
    let long_key = "k".repeat(1025);
    assert_eq!(
        server
            .request("PUT", &format!("/notes/{long_key}"), &[], b"v")
            .status,
        400
    );
    assert_eq!(
        server
            .request("PUT", "/notes/two%0Alines", &[], b"v")
            .status,
        400
    );
    assert_eq!(server.get("/notes/").text(), "big\n");
    // max_keys = 2: a third key is refused, overwriting is not.
    assert_eq!(
        server.request("PUT", "/notes/second", &[], b"v").status,
        200
    );
    let third = server.request("PUT", "/notes/third", &[], b"v");
    assert_eq!(third.status, 507, "{}", third.text());
    assert_eq!(
        server.request("PUT", "/notes/second", &[], b"w").status,
        200
    );
    assert_eq!(server.request("DELETE", "/notes/big", &[], b"").status, 200);
    assert_eq!(server.request("PUT", "/notes/third", &[], b"v").status, 200);
    assert_eq!(server.get("/notes/").text(), "second\nthird\n");
}

#[test]
fn classic_env_is_read_only_and_limits_hold_embedded() {
    env_and_limits(Backend::Embedded);
}

#[test]
fn classic_env_is_read_only_and_limits_hold_redis() {
    env_and_limits(Backend::redis());
}

#[test]
fn classic_ranges_outside_memory_trap_before_writing() {
    let config = format!(
        "[[applications]]\nfile_path = \"{}\"\nmethod = \"*\"\nurl_path = \"/...\"\n",
        guest("db_bounds.wat")
    );
    let server = TestServer::start(&config);
    for path in ["/value-oob", "/key-oob", "/get-oob", "/negative"] {
        assert_eq!(server.get(path).status, 500, "{path}");
    }
    assert_eq!(server.get("/read").text(), "absent");
    let log = server.wait_for_log("outside its");
    assert!(log.contains("outside its"), "{log}");
    assert!(log.contains("negative length"), "{log}");
}

#[test]
fn classic_writes_survive_kill_9() {
    const NOTES: usize = 64;
    let data = tempfile::tempdir().expect("temp dir");
    let config = format!(
        "data_dir = \"{}\"\n{}",
        data.path().display(),
        notes_apps(&[("notes", "")])
    );
    let mut server = TestServer::start(&config);
    let addr = server.addr;
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            std::thread::spawn(move || {
                for i in (writer..NOTES).step_by(8) {
                    let response = crate::harness::http_request(
                        addr,
                        "PUT",
                        &format!("/notes/n{i:03}"),
                        &[],
                        format!("note {i}").as_bytes(),
                    );
                    assert_eq!(response.status, 200, "{}", response.text());
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
    server.kill();
    let server = TestServer::start(&config);
    let listed = server.get("/notes/").text();
    assert_eq!(listed.lines().count(), NOTES, "{listed}");
    for i in 0..NOTES {
        assert_eq!(
            server.get(&format!("/notes/n{i:03}")).text(),
            format!("note {i}")
        );
    }
}

#[test]
fn classic_redis_down_is_an_error_to_the_guest_and_recovers() {
    let mut backend = Backend::redis();
    let hello = crate::harness::repo_path("examples/hello.wat");
    let apps = format!(
        "{}[[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/hello\"\n",
        notes_apps(&[("notes", "")]),
        hello.display()
    );
    let server = start(&backend, None, &apps);
    assert_eq!(server.request("PUT", "/notes/a", &[], b"1").status, 200);
    let Backend::Redis(redis) = &mut backend else {
        unreachable!()
    };
    redis.stop();
    let started = Instant::now();
    let failed = server.request("PUT", "/notes/b", &[], b"2");
    assert_eq!(failed.status, 503, "{}", failed.text());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.get("/notes/a").status, 503);
    assert_eq!(server.get("/hello").status, 200);
    let log = server.wait_for_log("unavailable");
    assert!(log.contains("unavailable"), "{log}");

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = server.request("PUT", "/notes/b", &[], b"2");
        if response.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the store did not recover: {}",
            response.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.get("/notes/b").text(), "2");
}
