//! Bad configs are refused by `check` and `serve` with the file, line and
//! key of every problem, and a non-zero exit.

use crate::harness::{TestServer, guest, run_binary};

/// Runs `check` on `config` and returns (exit code, stderr).
pub fn check(config: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, config).expect("write config");
    let output = run_binary(&["check", path.to_str().expect("utf-8 path")]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr, path.display().to_string())
}

fn assert_refused(config: &str, line: usize, key: &str, message: &str) {
    let (code, stderr, path) = check(config);
    assert_eq!(code, Some(1), "{stderr}");
    let location = format!("{path}:{line}:");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(&location) && l.contains(key) && l.contains(message)),
        "expected `{location}` with `{key}` and `{message}` in:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn app(extra: &str) -> String {
    format!(
        "[[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/a\"\n{extra}\n",
        guest("state.wat")
    )
}

#[test]
fn unknown_key_with_suggestion() {
    let config = format!(
        "[[applications]]\nfile_path = \"{}\"\nmethdo = \"GET\"\nurl_path = \"/a\"\n",
        guest("state.wat")
    );
    assert_refused(&config, 3, "methdo", "did you mean `method`");
}

#[test]
fn unknown_top_level_key() {
    assert_refused(
        &format!("listen_adress = \"127.0.0.1:1\"\n{}", app("")),
        1,
        "listen_adress",
        "listen_address",
    );
}

#[test]
fn wrong_type() {
    assert_refused(&app("timeout_ms = \"5\""), 5, "timeout_ms", "");
}

#[test]
fn missing_required_key() {
    let config = "[[applications]]\nmethod = \"GET\"\nurl_path = \"/a\"\n";
    assert_refused(config, 1, "file_path", "");
}

#[test]
fn invalid_values() {
    assert_refused(&app("memory_limit_mb = 0"), 5, "memory_limit_mb", "");
    assert_refused(&app("timeout_ms = 0"), 5, "timeout_ms", "");
    assert_refused(&app("reuse = 0"), 5, "reuse", "must be between 1");
    assert_refused(
        &app("allowed_outbound_hosts = [\"no-port\"]"),
        5,
        "allowed_outbound_hosts",
        "no-port",
    );
    let bad_route = format!(
        "[[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"nope\"\n",
        guest("state.wat")
    );
    assert_refused(&bad_route, 4, "url_path", "");
    let bad_method = format!(
        "[[applications]]\nfile_path = \"{}\"\nmethod = \"G T\"\nurl_path = \"/a\"\n",
        guest("state.wat")
    );
    assert_refused(&bad_method, 3, "method", "");
}

#[test]
fn duplicate_names() {
    let config = format!(
        "{}\n[[applications]]\nname = \"same\"\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/b\"\n",
        app("name = \"same\""),
        guest("state.wat")
    );
    assert_refused(&config, 8, "name", "same");
}

#[test]
fn two_apps_on_one_route() {
    let config = format!(
        "{}\n[[applications]]\nfile_path = \"{}\"\nmethod = [\"POST\", \"GET\"]\nurl_path = \"/a\"\n",
        app(""),
        guest("env.wat")
    );
    assert_refused(&config, 10, "url_path", "/a");
}

#[test]
fn every_problem_is_listed() {
    let config = format!(
        "{}\n[[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/a\"\nmemory_limit_mb = 99999\n",
        app("timeout_ms = 0"),
        guest("state.wat")
    );
    let (code, stderr, _) = check(&config);
    assert_eq!(code, Some(1));
    for needle in ["timeout_ms", "memory_limit_mb", "url_path"] {
        assert!(stderr.contains(needle), "missing {needle} in:\n{stderr}");
    }
}

#[test]
fn syntax_error_names_the_line() {
    let (code, stderr, path) = check("listen_address = \"x\"\n[[applications]\n");
    assert_eq!(code, Some(1));
    assert!(stderr.contains(&format!("{path}:2")), "{stderr}");
}

#[test]
fn module_problems_are_refused_at_load_by_name() {
    let config = format!(
        "[[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/a\"\n\n\
         [[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/b\"\n\n\
         [[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/c\"\n\n\
         [[applications]]\nfile_path = \"{}\"\nmethod = \"GET\"\nurl_path = \"/d\"\n\n\
         [[applications]]\nfile_path = \"/does/not/exist.wasm\"\nmethod = \"GET\"\nurl_path = \"/e\"\n",
        guest("bad_import.wat"),
        guest("wrong_import_type.wat"),
        guest("no_handle.wat"),
        guest("huge_memory.wat"),
    );
    let (code, stderr, path) = check(&config);
    assert_eq!(code, Some(1));
    let expected = [
        (
            1,
            "import `env.launch_missiles` (function (i32) -> (i32)) is not provided",
        ),
        (
            6,
            "import `env.log` has type (i32, i32) -> (), but the host provides (i32, i64) -> ()",
        ),
        (
            11,
            "no export `handle`; it exports: `memory` (memory), `serve` (function () -> ())",
        ),
        (
            16,
            "initial memory (196608000 bytes) exceeds memory_limit_mb",
        ),
        (21, "cannot read /does/not/exist.wasm"),
    ];
    for (line, message) in expected {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("{path}:{line}: app `")) && l.contains(message)),
            "expected line {line}: {message} in:\n{stderr}"
        );
    }
}

#[test]
fn reuse_is_refused_for_core_modules() {
    let (code, stderr, path) = check(&app("reuse = 10"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("{path}:1: app `"))
                && l.contains("`reuse = 10` applies only to wasi:http components")
                && l.contains("classic")),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_a_bad_config_without_a_backtrace() {
    let error = TestServer::try_start(&app("methdo = 1"))
        .err()
        .expect("server must not start");
    assert!(error.contains("methdo"), "{error}");
    assert!(
        !error.contains("panicked") && !error.contains("stack backtrace"),
        "{error}"
    );
}
