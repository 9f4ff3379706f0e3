//! The admin listener (`admin_address`): `/metrics` counts the traffic sent
//! to the public port, `/healthz` and `/readyz` follow the process through
//! a SIGTERM drain, `admin_token` guards every path, `/apps` describes the
//! apps, and `POST /reload` reloads or says why not.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::harness::{HttpResponse, TestServer, guest, http_request};

const TOKEN: &str = "s3cret-admin-token-0123";

/// One app per `(name, path, module, function)`, the admin listener on a
/// free port, and `top` lines at the top level.
pub fn admin_config(top: &str, apps: &[(&str, &str, &str, &str)]) -> String {
    let mut config =
        format!("listen_address = \"127.0.0.1:0\"\nadmin_address = \"127.0.0.1:0\"\n{top}\n");
    for (name, path, module, function) in apps {
        config.push_str(&format!(
            "[[applications]]\nname = \"{name}\"\nfile_path = \"{}\"\nfunction = \"{function}\"\n\
             method = \"GET\"\nurl_path = \"{path}\"\ntimeout_ms = 3000\n\n",
            guest(module)
        ));
    }
    config
}

/// `ok` answers 200, `trap` traps (500), `spin` loops until its 3 s deadline.
fn three_apps(top: &str) -> String {
    admin_config(
        top,
        &[
            ("ok", "/ok", "state.wat", "handle"),
            ("trap", "/trap", "faults.wat", "trap"),
            ("spin", "/spin", "faults.wat", "spin"),
        ],
    )
}

fn admin_get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http_request(server.admin_addr(), "GET", path, headers, b"")
}

fn apps_json(server: &TestServer) -> Value {
    let response = admin_get(server, "/apps", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    serde_json::from_slice(&response.body).expect("/apps is JSON")
}

fn app<'a>(apps: &'a Value, name: &str) -> &'a Value {
    apps["apps"]
        .as_array()
        .and_then(|apps| apps.iter().find(|app| app["name"] == name))
        .unwrap_or_else(|| panic!("no app {name} in {apps:#}"))
}

fn scrape(server: &TestServer) -> prometheus_parse::Scrape {
    let response = admin_get(server, "/metrics", &[]);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = response.text();
    prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
        .expect("/metrics parses")
}

/// The value of the sample `metric` whose labels include `labels`.
fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value::{Counter, Gauge, Untyped};
    let found = scrape.samples.iter().find(|sample| {
        sample.metric == metric
            && labels
                .iter()
                .all(|(name, value)| sample.labels.get(name) == Some(value))
    });
    match found.map(|sample| &sample.value) {
        Some(Counter(value) | Gauge(value) | Untyped(value)) => *value,
        other => panic!("{metric}{labels:?}: {other:?}"),
    }
}

/// The `+Inf` bucket of the histogram `metric` of `app`.
fn histogram_total(scrape: &prometheus_parse::Scrape, metric: &str, app: &str) -> f64 {
    let found = scrape
        .samples
        .iter()
        .find(|sample| sample.metric == metric && sample.labels.get("app") == Some(app));
    match found.map(|sample| &sample.value) {
        Some(prometheus_parse::Value::Histogram(buckets)) => buckets
            .iter()
            .find(|bucket| bucket.less_than.is_infinite())
            .map(|bucket| bucket.count)
            .expect("a +Inf bucket"),
        other => panic!("{metric} of {app}: {other:?}"),
    }
}

#[test]
fn metrics_count_the_traffic_sent_to_the_public_port() {
    let server = TestServer::start(&three_apps(""));
    for _ in 0..5 {
        assert_eq!(server.get("/ok").status, 200);
    }
    for _ in 0..2 {
        assert_eq!(server.get("/trap").status, 500);
    }
    let scrape = scrape(&server);
    let requests = |app: &str, status: &str| {
        sample(
            &scrape,
            "serverless_wasm_requests_total",
            &[("app", app), ("method", "GET"), ("status", status)],
        )
    };
    assert_eq!(requests("ok", "200"), 5.0);
    assert_eq!(requests("trap", "500"), 2.0);
    let duration = "serverless_wasm_request_duration_seconds";
    assert_eq!(histogram_total(&scrape, duration, "ok"), 5.0);
    assert_eq!(histogram_total(&scrape, duration, "trap"), 2.0);
    let count = format!("{duration}_count");
    assert_eq!(sample(&scrape, &count, &[("app", "ok")]), 5.0);
    assert_eq!(sample(&scrape, &count, &[("app", "trap")]), 2.0);
    let faults = "serverless_wasm_guest_faults_total";
    assert_eq!(
        sample(&scrape, faults, &[("app", "trap"), ("kind", "trap")]),
        2.0
    );
    assert_eq!(
        sample(&scrape, faults, &[("app", "ok"), ("kind", "trap")]),
        0.0
    );
    assert_eq!(
        sample(
            &scrape,
            "serverless_wasm_requests_in_flight",
            &[("app", "ok")]
        ),
        0.0
    );
}

#[test]
fn readyz_fails_from_sigterm_on_while_the_admin_listener_answers_the_drain() {
    let mut server = TestServer::start(&three_apps(""));
    let health = admin_get(&server, "/healthz", &[]);
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    assert_eq!(admin_get(&server, "/readyz", &[]).status, 200);

    // A request that holds the drain open until its 3 s deadline.
    let public = server.addr;
    let slow = std::thread::spawn(move || http_request(public, "GET", "/spin", &[], b""));
    wait_until("the slow request to run", || {
        app(&apps_json(&server), "spin")["stats"]["in_flight"] == 1
    });
    // The process figures see the request too: its connection, its instance.
    let process = apps_json(&server)["process"].clone();
    assert!(process["connections_open"].as_i64() >= Some(1), "{process}");
    assert!(
        process["pool_slots_in_use"].as_i64() >= Some(1),
        "{process}"
    );
    let signalled = Instant::now();
    server.terminate();
    wait_until("/readyz to fail", || {
        admin_get(&server, "/readyz", &[]).status == 503
    });
    assert!(
        !slow.is_finished() && signalled.elapsed() < Duration::from_secs(2),
        "/readyz failed only after the drain"
    );
    let ready = admin_get(&server, "/readyz", &[]);
    assert_eq!(ready.text(), "draining\n");
    assert_eq!(admin_get(&server, "/healthz", &[]).status, 200);
    assert_eq!(admin_get(&server, "/metrics", &[]).status, 200);
    assert_eq!(apps_json(&server)["process"]["draining"], true);

    assert_eq!(slow.join().expect("slow request").status, 504);
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        TcpStream::connect(server.admin_addr()).is_err(),
        "the admin listener stops with the server"
    );
}

#[test]
fn with_a_shutdown_delay_new_connections_are_served_while_readyz_fails() {
    let mut server = TestServer::start(&three_apps("shutdown_delay_ms = 2000"));
    let signalled = Instant::now();
    server.terminate();
    wait_until("/readyz to fail", || {
        admin_get(&server, "/readyz", &[]).status == 503
    });
    // A balancer that has not yet heard still gets answers, on new
    // connections, until the delay is over.
    while signalled.elapsed() < Duration::from_millis(1500) {
        assert_eq!(server.get("/ok").status, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "exited before its delay"
    );
    assert!(server.log().contains("serving on for 2000 ms"));
}

#[test]
fn a_token_guards_every_admin_path() {
    let server = TestServer::start(&three_apps(&format!("admin_token = \"{TOKEN}\"")));
    let bearer = format!("Bearer {TOKEN}");
    for path in ["/", "/metrics", "/healthz", "/readyz", "/apps"] {
        let refused = admin_get(&server, path, &[]);
        assert_eq!(refused.status, 401, "{path} without a token");
        assert_eq!(
            refused
                .header("www-authenticate")
                .map(|value| value.starts_with("Bearer")),
            Some(true),
            "{path}"
        );
        let wrong = admin_get(&server, path, &[("Authorization", "Bearer not-the-token")]);
        assert_eq!(wrong.status, 401, "{path} with a wrong token");
        let allowed = admin_get(&server, path, &[("Authorization", &bearer)]);
        assert_eq!(allowed.status, 200, "{path} with the token");
    }
    let reload = http_request(server.admin_addr(), "POST", "/reload", &[], b"");
    assert_eq!(reload.status, 401, "POST /reload without a token");
    // The page, and only the page, takes the token from its URL.
    let page = admin_get(&server, &format!("/?token={TOKEN}"), &[]);
    assert_eq!(page.status, 200);
    assert!(
        page.text()
            .contains("<title>serverless-wasm dashboard</title>")
    );
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let apps = admin_get(&server, &format!("/apps?token={TOKEN}"), &[]);
    assert_eq!(apps.status, 401);
    // The public listener knows nothing of the token or the admin paths.
    assert_eq!(server.get("/metrics").status, 404);
}

#[test]
fn apps_describes_each_app_with_its_limits_and_counters() {
    let server = TestServer::start(&three_apps(""));
    for _ in 0..3 {
        assert_eq!(server.get("/ok").status, 200);
    }
    assert_eq!(server.get("/trap").status, 500);
    let apps = apps_json(&server);
    assert_eq!(apps["apps"].as_array().map(Vec::len), Some(3), "{apps:#}");

    let ok = app(&apps, "ok");
    assert_eq!(ok["route"], "/ok");
    assert_eq!(ok["methods"], serde_json::json!(["GET"]));
    assert_eq!(ok["kind"], "classic");
    assert_eq!(ok["source"], guest("state.wat"));
    let module = std::fs::read(guest("state.wat")).expect("read state.wat");
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&module)));
    assert_eq!(ok["digest"], digest.as_str());
    let limits = &ok["limits"];
    assert_eq!(limits["timeout_ms"], 3000);
    assert_eq!(limits["memory_limit_mb"], 128);
    assert_eq!(limits["max_request_body_bytes"], 10 << 20);
    assert!(limits["max_concurrency"].as_u64().is_some_and(|n| n >= 1));
    assert_eq!(limits["max_queued"], 100);
    assert_eq!(limits["queue_timeout_ms"], 5000);

    let stats = &ok["stats"];
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["statuses"]["2xx"], 3);
    assert_eq!(stats["in_flight"], 0);
    assert_eq!(stats["queued"], 0);
    assert_eq!(stats["duration"]["count"], 3);
    let bounds = apps["histogram_bounds_seconds"].as_array().expect("bounds");
    let buckets = stats["duration"]["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), bounds.len() + 1);
    assert_eq!(buckets.iter().filter_map(Value::as_u64).sum::<u64>(), 3);

    let trap = &app(&apps, "trap")["stats"];
    assert_eq!(trap["statuses"]["5xx"], 1);
    assert_eq!(trap["faults"]["trap"], 1);
    assert_eq!(trap["rejections"]["queue_full"], 0);
    assert_eq!(app(&apps, "spin")["stats"]["requests"], 0);

    let process = &apps["process"];
    assert_eq!(process["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(process["ready"], true);
    assert_eq!(process["draining"], false);
    assert!(process["uptime_seconds"].as_f64().is_some_and(|s| s > 0.0));
    assert!(process["pool_slots_in_use"].is_i64());
    assert!(process["connections_open"].is_i64());
}

#[test]
fn post_reload_adds_an_app_and_a_broken_config_keeps_the_old_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    let one = admin_config("", &[("ok", "/ok", "state.wat", "handle")]);
    std::fs::write(&config, &one).expect("write config");
    let server = TestServer::serve_file(&config);
    assert_eq!(server.get("/new").status, 404);

    let two = admin_config(
        "",
        &[
            ("ok", "/ok", "state.wat", "handle"),
            ("new", "/new", "status.wat", "handle"),
        ],
    );
    write_config(&config, &two);
    let reloaded = post_reload(&server);
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());
    let outcome: Value = serde_json::from_slice(&reloaded.body).expect("JSON");
    assert_eq!(outcome["reloaded"], true);
    assert_eq!(server.get("/new").status, 201);
    assert_eq!(app(&apps_json(&server), "new")["route"], "/new");

    write_config(
        &config,
        &format!("{two}\n[[applications]]\nmethdo = \"GET\"\n"),
    );
    let refused = post_reload(&server);
    assert_eq!(refused.status, 500, "{}", refused.text());
    let outcome: Value = serde_json::from_slice(&refused.body).expect("JSON");
    assert_eq!(outcome["reloaded"], false);
    let reason = outcome["error"].as_str().unwrap_or_default();
    assert!(reason.contains("methdo"), "the reason is given: {reason}");
    assert_eq!(server.get("/ok").status, 200, "the old apps still serve");
    assert_eq!(server.get("/new").status, 201);

    let wrong_method = admin_get(&server, "/reload", &[]);
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    let cross_site = http_request(
        server.admin_addr(),
        "POST",
        "/reload",
        &[("Origin", "https://elsewhere.example")],
        b"",
    );
    assert_eq!(cross_site.status, 403);
}

#[test]
fn a_taken_admin_port_stops_the_start_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let address = taken.local_addr().expect("its address");
    let config = three_apps("").replace(
        "admin_address = \"127.0.0.1:0\"",
        &format!("admin_address = \"{address}\""),
    );
    let log = match TestServer::try_start(&config) {
        Ok(_) => panic!("the server started with its admin port taken"),
        Err(log) => log,
    };
    assert!(
        log.contains(&format!("cannot bind the admin listener to {address}")),
        "{log}"
    );
}

fn post_reload(server: &TestServer) -> HttpResponse {
    http_request(server.admin_addr(), "POST", "/reload", &[], b"")
}

/// Replaces the file whole, as an editor does.
fn write_config(path: &Path, content: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, content).expect("write config");
    std::fs::rename(&temporary, path).expect("rename config");
}

pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// For the dashboard test: the admin address, when the log has it.
pub fn admin_url(server: &TestServer, path: &str) -> String {
    let address: SocketAddr = server.admin_addr();
    format!("http://{address}{path}")
}
