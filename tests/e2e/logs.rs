//! The server's log: every line about a request names its request id and
//! app at every level, and `--log-format json` writes one object per line
//! with the same fields.

use crate::harness::{TestServer, guest, single_app};

fn faults_app() -> String {
    single_app(&guest("faults.wat"), "function = \"trap\"")
}

#[test]
fn a_trap_logged_at_warn_level_still_names_its_request_and_app() {
    // Warn for the request's path; info for `main` only, whose "listening
    // on" line tells the test the port.
    let filter = "warn,serverless_wasm=info,serverless_wasm::service=warn";
    let server = TestServer::start_with_env(&faults_app(), &[("RUST_LOG", filter)]);
    let response = server.request("GET", "/", &[("x-request-id", "trap-at-warn")], b"");
    assert_eq!(response.status, 500);
    let log = server.wait_for_log("trap-at-warn");
    let line = log
        .lines()
        .find(|line| line.contains("guest failed"))
        .unwrap_or_else(|| panic!("no trap line in:\n{log}"));
    assert!(line.contains("request_id=trap-at-warn"), "{line}");
    assert!(line.contains("app=faults"), "{line}");
    // Info lines, the access log among them, are filtered out.
    assert!(
        !log.contains("target: access") && !log.contains("status=500"),
        "{log}"
    );
}

#[test]
fn json_lines_carry_the_access_fields_and_the_request_on_every_line() {
    let server = TestServer::try_start_with(&faults_app(), &["--log-format", "json"])
        .unwrap_or_else(|log| panic!("server did not start:\n{log}"));
    let response = server.request("GET", "/", &[("x-request-id", "json-trap")], b"");
    assert_eq!(response.status, 500);
    let log = server.wait_for_log("\"status\":500");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let access = lines
        .iter()
        .find(|line| line["target"] == "access")
        .unwrap_or_else(|| panic!("no access line in:\n{log}"));
    assert_eq!(access["request_id"], "json-trap");
    assert_eq!(access["app"], "faults");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["path"], "/");
    assert_eq!(access["status"], 500);
    assert!(access["duration_ms"].is_string() || access["duration_ms"].is_number());
    assert!(access["timestamp"].is_string() && access["level"] == "INFO");
    let trap = lines
        .iter()
        .find(|line| line["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no error line in:\n{log}"));
    assert_eq!(trap["span"]["request_id"], "json-trap", "{trap}");
    assert_eq!(trap["span"]["app"], "faults", "{trap}");
    assert!(trap["message"].as_str().unwrap().contains("guest failed"));
}
