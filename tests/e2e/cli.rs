//! `check`, `run` and `cache` as a user types them.

use crate::harness::{TestServer, guest, repo_path, run_binary, single_app};
use crate::lazy_loading::cache_lookups;

#[test]
fn check_prints_the_route_table() {
    let config = repo_path("examples/config.toml");
    let output = run_binary(&["check", config.to_str().expect("utf-8 path")]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for route in ["/hello", "/echo/...", "/backend"] {
        assert!(stdout.contains(route), "{route} missing from:\n{stdout}");
    }
}

#[test]
fn run_prints_the_response() {
    let echo = repo_path("examples/echo.wat");
    let output = run_binary(&[
        "run",
        echo.to_str().expect("utf-8 path"),
        "--method",
        "POST",
        "--path",
        "/x?y=1",
        "--header",
        "Content-Type: text/x-test",
        "--body",
        "ping",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("HTTP/1.1 200 OK\r\n"), "{stdout}");
    for line in [
        "x-echo-method: POST",
        "x-echo-path: /x",
        "x-echo-query: y=1",
        "content-type: text/x-test",
    ] {
        assert!(stdout.contains(line), "{line} missing from:\n{stdout}");
    }
    assert!(stdout.ends_with("\r\n\r\nping"), "{stdout}");
}

#[test]
fn run_reads_body_file_env_and_function() {
    let dir = tempfile::tempdir().expect("temp dir");
    let body = dir.path().join("body.bin");
    std::fs::write(&body, b"from a file").expect("write body");
    let echo = repo_path("examples/echo.wat");
    let output = run_binary(&[
        "run",
        echo.to_str().expect("utf-8"),
        "--body-file",
        body.to_str().expect("utf-8"),
    ]);
    assert!(String::from_utf8_lossy(&output.stdout).ends_with("from a file"));

    let output = run_binary(&["run", &guest("env.wat"), "--env", "greeting=hi there"]);
    assert!(String::from_utf8_lossy(&output.stdout).ends_with("hi |hi there|-"));

    let output = run_binary(&["run", &guest("status.wat"), "--function", "handle"]);
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("HTTP/1.1 201 Made It\r\n"));
}

#[test]
fn run_exits_non_zero_on_trap_and_timeout() {
    let faults = guest("faults.wat");
    let trap = run_binary(&["run", &faults, "--function", "trap"]);
    assert_eq!(trap.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&trap.stderr).contains("unreachable"));

    let spin = run_binary(&["run", &faults, "--function", "spin", "--timeout-ms", "200"]);
    assert_eq!(spin.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&spin.stderr).contains("504"));
}

#[test]
fn run_refuses_a_missing_export_by_name() {
    let output = run_binary(&["run", &guest("faults.wat")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no export `handle`") && stderr.contains("`trap`"),
        "{stderr}"
    );
}

#[test]
fn no_config_is_a_usage_error() {
    let output = run_binary(&[]);
    assert_ne!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("config"));
}

#[test]
fn a_second_start_loads_compiled_modules_from_the_cache() {
    let cache = tempfile::tempdir().expect("temp dir");
    let cache_dir = cache.path().to_str().expect("utf-8 path");
    let hello = repo_path("examples/hello.wat");
    let config = with_admin(&single_app(hello.to_str().expect("utf-8 path"), ""));
    // The first request loads the app: (cache hits, compilations, log).
    let start = || {
        let server = TestServer::try_start_with(&config, &["--cache-dir", cache_dir])
            .unwrap_or_else(|log| panic!("server did not start:\n{log}"));
        assert_eq!(server.get("/").status, 200);
        let (hits, misses) = cache_lookups(&server);
        (hits, misses, server.log())
    };
    let (hits, misses, cold) = start();
    assert_eq!((hits, misses), (0, 1), "{cold}");
    let (hits, misses, warm) = start();
    assert_eq!((hits, misses), (1, 0), "{warm}");

    // A damaged entry is noticed, recompiled and replaced.
    for entry in std::fs::read_dir(cache.path()).expect("cache dir") {
        let path = entry.expect("entry").path();
        let mut bytes = std::fs::read(&path).expect("read entry");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(&path, bytes).expect("write entry");
    }
    let (hits, misses, repaired) = start();
    assert!(repaired.contains("is corrupt"), "{repaired}");
    assert_eq!((hits, misses), (0, 1), "{repaired}");
    assert_eq!(start().0, 1);
}

#[test]
fn no_cache_compiles_every_time() {
    let hello = repo_path("examples/hello.wat");
    let config = with_admin(&single_app(hello.to_str().expect("utf-8 path"), ""));
    for _ in 0..2 {
        let server = TestServer::try_start_with(&config, &["--no-cache"])
            .unwrap_or_else(|log| panic!("server did not start:\n{log}"));
        assert_eq!(server.get("/").status, 200);
        assert_eq!(cache_lookups(&server), (0, 1));
    }
}

fn with_admin(config: &str) -> String {
    format!("admin_address = \"127.0.0.1:0\"\n{config}")
}

#[test]
fn cache_shows_and_prunes_the_compile_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().to_str().expect("utf-8 path");
    let config = repo_path("examples/config.toml");
    let checked = run_binary(&[
        "check",
        config.to_str().expect("utf-8"),
        "--cache-dir",
        cache,
    ]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let shown = run_binary(&["cache", "--cache-dir", cache]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(text.contains(": 3 entries,"), "{text}");
    assert_eq!(text.matches(".module").count(), 3, "{text}");

    let pruned = run_binary(&[
        "cache",
        "--prune",
        "--cache-max-mb",
        "0",
        "--cache-dir",
        cache,
    ]);
    let text = String::from_utf8_lossy(&pruned.stdout);
    assert!(text.contains("removed 3 entries"), "{text}");
    assert!(text.contains(": 0 entries,"), "{text}");

    // A cache limited to 0 MiB keeps nothing it writes.
    let limited = ["--cache-dir", cache, "--cache-max-mb", "0"];
    let checked = run_binary(&[&["check", config.to_str().expect("utf-8")][..], &limited].concat());
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let text =
        String::from_utf8_lossy(&run_binary(&["cache", "--cache-dir", cache]).stdout).into_owned();
    assert!(text.contains(": 0 entries,"), "{text}");
}
