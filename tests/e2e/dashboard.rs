//! The admin dashboard in a real browser: Debian's Chromium (installed with
//! apt-get if missing), driven by playwright-core from npm
//! (tests/browser/dashboard.mjs), reads the numbers the page shows while
//! traffic goes to the public port. The busiest moment's screenshot is kept
//! as target/dashboard.png.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Once, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::admin::{admin_config, admin_url};
use crate::harness::{TestServer, repo_path};

/// How long the script may watch the page; it stops when its stdin closes.
const WATCH_SECONDS: u64 = 120;
/// How long traffic runs once the page shows its first numbers.
const TRAFFIC: Duration = Duration::from_secs(5);
/// How long the page is watched after the traffic: a few of its polls.
const SETTLE: Duration = Duration::from_millis(3500);

#[test]
fn the_dashboard_shows_the_traffic_as_it_happens() {
    crate::debian::ensure("/usr/bin/chromium", "chromium");
    let script_dir = install_playwright();
    let server = TestServer::start(&admin_config(
        "",
        &[
            ("hello", "/hello", "state.wat", "handle"),
            ("broken", "/broken", "faults.wat", "trap"),
        ],
    ));
    let screenshot = artifact("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let mut browser = Command::new("node")
        .arg("dashboard.mjs")
        .arg(admin_url(&server, "/"))
        .arg(&screenshot)
        .arg(WATCH_SECONDS.to_string())
        .current_dir(&script_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (the tests need node and npm on the PATH)");
    let stop = browser.stdin.take().expect("piped stdin");
    let stdout = browser.stdout.take().expect("piped stdout");
    let mut stderr = browser.stderr.take().expect("piped stderr");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    // Traffic starts once the page is up, so that the first samples are idle.
    let mut samples = Vec::new();
    match lines.recv_timeout(Duration::from_secs(90)) {
        Ok(line) => samples.push(line),
        Err(_) => {
            let _ = browser.kill();
            let _ = browser.wait();
            panic!(
                "the dashboard script printed nothing:\n{}",
                errors.join().unwrap_or_default()
            );
        }
    }
    let (mut hellos, mut traps) = (0, 0);
    let started = Instant::now();
    while started.elapsed() < TRAFFIC {
        assert_eq!(server.get("/hello").status, 200);
        hellos += 1;
        if hellos % 4 == 0 {
            assert_eq!(server.get("/broken").status, 500);
            traps += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(SETTLE);
    drop(stop);
    let status = browser.wait().expect("wait for node");
    samples.extend(lines.try_iter());
    let errors = errors.join().unwrap_or_default();
    assert!(status.success(), "dashboard.mjs failed:\n{errors}");

    let samples: Vec<Value> = samples
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let field = |sample: &Value, app: &str, field: &str| -> Option<f64> {
        sample["apps"][app][field]["value"].as_str()?.parse().ok()
    };
    let first = samples.first().expect("a sample");
    let last = samples.last().expect("a sample");
    assert_eq!(first["status"], "ready", "{first}");
    assert_eq!(field(first, "hello", "requests"), Some(0.0), "{first}");

    let busiest = samples
        .iter()
        .filter_map(|sample| field(sample, "hello", "rps"))
        .fold(0.0, f64::max);
    assert!(
        busiest > 5.0,
        "requests/s went up while traffic ran (at most {busiest}); samples:\n{samples:#?}"
    );
    let latency_shown = samples.iter().any(|sample| {
        field(sample, "hello", "p50").is_some_and(|ms| ms > 0.0)
            && field(sample, "hello", "p99").is_some_and(|ms| ms > 0.0)
            && sample["apps"]["hello"]["p50"]["text"]
                .as_str()
                .is_some_and(|text| text.ends_with(" ms") || text.ends_with(" s"))
    });
    assert!(latency_shown, "p50/p99 shown as numbers: {samples:#?}");
    // The page has caught up with everything sent by its last sample.
    assert_eq!(field(last, "hello", "requests"), Some(f64::from(hellos)));
    assert_eq!(field(last, "broken", "requests"), Some(f64::from(traps)));
    assert_eq!(field(last, "broken", "5xx"), Some(f64::from(traps)));
    assert_eq!(field(last, "broken", "trap"), Some(f64::from(traps)));
    assert_eq!(field(last, "hello", "5xx"), Some(0.0));
    // Idle again by the end: the rate is over the last second only.
    assert_eq!(field(last, "hello", "rps"), Some(0.0), "{last}");
    assert_eq!(last["apps"]["hello"]["p50"]["text"], "–", "{last}");
    assert_eq!(
        last["totals"]["requests"]["value"].as_str(),
        Some((hellos + traps).to_string().as_str())
    );

    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG"),
        "{} is a PNG",
        screenshot.display()
    );
}

/// A test artifact's path in the target directory, which outlives the test.
fn artifact(name: &str) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join(name)
}

/// playwright-core, pinned in tests/browser/package-lock.json, installed
/// with `npm ci` when node_modules is missing. It never downloads a
/// browser: the script launches /usr/bin/chromium.
fn install_playwright() -> PathBuf {
    let dir = repo_path("tests/browser");
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if dir
            .join("node_modules/playwright-core/package.json")
            .exists()
        {
            return;
        }
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .output()
            .expect("run npm (the tests need node and npm on the PATH)");
        assert!(
            output.status.success(),
            "npm ci in tests/browser failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
    dir
}
