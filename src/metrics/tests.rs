use std::time::Duration;

use super::*;

#[test]
fn a_scrape_shows_every_family_with_its_labels() {
    let metrics = Metrics::new();
    let app = metrics.app("hello");
    metrics.request(&app, &Method::GET, 200);
    metrics.request(&app, &Method::from_bytes(b"BREW").unwrap(), 404);
    app.answered(200, Duration::from_millis(3));
    app.fault(Fault::Trap);
    app.rejected(Rejection::QueueFull);
    let _running = app.running();
    metrics.kv_operation("default", "get", true);
    metrics.reload(false);
    metrics.compiled(true);
    let _connection = metrics.connection();
    let text = metrics.encode();
    for expected in [
        r#"serverless_wasm_requests_total{app="hello",method="GET",status="200"} 1"#,
        r#"serverless_wasm_requests_total{app="hello",method="OTHER",status="404"} 1"#,
        r#"serverless_wasm_request_duration_seconds_bucket{app="hello",le="0.005"} 1"#,
        r#"serverless_wasm_request_duration_seconds_bucket{app="hello",le="+Inf"} 1"#,
        r#"serverless_wasm_request_duration_seconds_count{app="hello"} 1"#,
        r#"serverless_wasm_guest_faults_total{app="hello",kind="trap"} 1"#,
        r#"serverless_wasm_guest_faults_total{app="hello",kind="timeout"} 0"#,
        r#"serverless_wasm_admission_rejections_total{app="hello",reason="queue_full"} 1"#,
        r#"serverless_wasm_requests_in_flight{app="hello"} 1"#,
        r#"serverless_wasm_requests_queued{app="hello"} 0"#,
        r#"serverless_wasm_kv_operations_total{store="default",operation="get",result="ok"} 1"#,
        r#"serverless_wasm_reloads_total{result="failed"} 1"#,
        r#"serverless_wasm_compile_cache_lookups_total{result="hit"} 1"#,
        "serverless_wasm_connections_open 1",
        "serverless_wasm_instance_pool_slots_in_use 0",
        "process_open_fds ",
        "process_resident_memory_bytes ",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
}

#[test]
fn an_apps_counters_outlive_a_reload_but_not_its_removal() {
    let metrics = Metrics::new();
    metrics.app("kept").fault(Fault::Timeout);
    metrics.app("dropped").fault(Fault::Timeout);
    metrics.retain_apps(["kept"]);
    assert_eq!(metrics.app("kept").stats().faults[1], ("timeout", 1));
    assert_eq!(metrics.app("dropped").stats().faults[1], ("timeout", 0));
}
