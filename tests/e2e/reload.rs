//! Live reload: `SIGHUP` and `--watch` swap in what changed and keep the
//! rest; a broken config or module keeps the old apps serving; and 100
//! reloads under 64 busy connections fail no request.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::TestServer;

/// A classic module answering `text`.
pub fn greeting(text: &str) -> String {
    format!(
        r#"(module
  (import "env" "response_set_body" (func $body (param i32 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{text}")
  (func (export "handle") (call $body (i32.const 0) (i64.const {}))))
"#,
        text.len()
    )
}

/// A config and its modules in a directory of their own.
struct Deployment {
    dir: tempfile::TempDir,
}

impl Deployment {
    fn new() -> Deployment {
        Deployment {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `name` as an editor does: a new file renamed over the old.
    fn write(&self, name: &str, content: &str) {
        let temporary = self.path(&format!(".{name}.tmp"));
        std::fs::write(&temporary, content).expect("write");
        std::fs::rename(&temporary, self.path(name)).expect("rename");
    }

    /// The config: one app per `(name, module)`, at `/<name>`.
    fn config(&self, apps: &[(&str, &str)]) {
        let config: String = apps
            .iter()
            .map(|(name, module)| {
                format!(
                    "[[applications]]\nname = \"{name}\"\nfile_path = \"{module}\"\n\
                     method = \"GET\"\nurl_path = \"/{name}\"\n"
                )
            })
            .collect();
        self.write("config.toml", &config);
    }

    fn serve(&self, extra_args: &[&str]) -> TestServer {
        TestServer::serve_file_with(&self.path("config.toml"), extra_args)
    }
}

fn reloads(server: &TestServer) -> usize {
    server.log().matches("reloaded (").count()
}

/// The lines that end a reload, in order.
fn outcomes(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| {
            line.contains("reloaded (SIGHUP)") || line.contains("reload (SIGHUP) failed")
        })
        .collect()
}

/// Sends SIGHUP and waits for the reload's outcome line; returns it.
pub fn reload(server: &TestServer) -> String {
    let before = outcomes(&server.log()).len();
    server.hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.log();
        let lines = outcomes(&log);
        if lines.len() > before {
            return lines[before..].join("\n");
        }
        assert!(Instant::now() < deadline, "no reload logged:\n{log}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn body(server: &TestServer, path: &str) -> (u16, String) {
    let response = server.get(path);
    (response.status, response.text())
}

#[test]
fn sighup_swaps_what_changed_and_keeps_the_rest() {
    let deployment = Deployment::new();
    deployment.write("a.wat", &greeting("a1"));
    deployment.write("b.wat", &greeting("b"));
    deployment.config(&[("a", "a.wat"), ("b", "b.wat")]);
    let server = deployment.serve(&[]);
    assert_eq!(body(&server, "/a"), (200, "a1".into()));

    deployment.write("a.wat", &greeting("a2"));
    let outcome = reload(&server);
    assert!(
        outcome.contains("0 added, 0 removed, 1 changed, 1 unchanged"),
        "{outcome}"
    );
    assert_eq!(body(&server, "/a"), (200, "a2".into()));
    assert_eq!(body(&server, "/b"), (200, "b".into()));

    deployment.write("c.wat", &greeting("c"));
    deployment.config(&[("c", "c.wat"), ("a", "a.wat")]);
    let outcome = reload(&server);
    assert!(
        outcome.contains("1 added, 1 removed, 0 changed, 1 unchanged"),
        "{outcome}"
    );
    assert_eq!(body(&server, "/c"), (200, "c".into()));
    assert_eq!(body(&server, "/b").0, 404);
    assert_eq!(body(&server, "/a"), (200, "a2".into()));
}

#[test]
fn a_broken_reload_keeps_the_old_apps_serving() {
    let deployment = Deployment::new();
    deployment.write("a.wat", &greeting("old"));
    deployment.config(&[("a", "a.wat")]);
    let server = deployment.serve(&[]);

    deployment.write(
        "config.toml",
        "[[applications]]\nname = \"a\"\nfile_path = \"a.wat\"\nmethdo = \"GET\"\nurl_path = \"/a\"\n",
    );
    let outcome = reload(&server);
    assert!(outcome.contains("reload (SIGHUP) failed"), "{outcome}");
    let log = server.log();
    assert!(
        log.contains("config.toml:4: `applications[1].methdo`: unknown key"),
        "{log}"
    );
    assert_eq!(body(&server, "/a"), (200, "old".into()));

    // A module that does not link: it imports what the host does not have.
    deployment.config(&[("a", "a.wat")]);
    deployment.write(
        "a.wat",
        "(module (import \"env\" \"no_such_function\" (func)) (memory (export \"memory\") 1) (func (export \"handle\")))",
    );
    let outcome = reload(&server);
    assert!(outcome.contains("reload (SIGHUP) failed"), "{outcome}");
    assert!(
        server.log().contains("no_such_function"),
        "{}",
        server.log()
    );
    assert_eq!(body(&server, "/a"), (200, "old".into()));

    deployment.write("a.wat", &greeting("new"));
    let outcome = reload(&server);
    assert!(outcome.contains("reloaded (SIGHUP)"), "{outcome}");
    assert_eq!(body(&server, "/a"), (200, "new".into()));
}

/// One GET on a connection of its own: status and body, or why it failed.
fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    Ok((status, body.to_string()))
}

#[test]
fn a_hundred_reloads_under_load_fail_no_request() {
    const RELOADS: usize = 100;
    const CLIENTS: usize = 64;
    let deployment = Deployment::new();
    deployment.write("v1.wat", &greeting("v1"));
    deployment.write("v2.wat", &greeting("v2"));
    deployment.write("extra.wat", &greeting("extra"));
    deployment.config(&[("v", "v1.wat")]);
    let server = deployment.serve(&[]);
    let addr = server.addr;

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let seen_v2 = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, answered, seen_v2) = (stop.clone(), answered.clone(), seen_v2.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match get(addr, "/v") {
                        Ok((200, body)) if body == "v1" || body == "v2" => {
                            answered.fetch_add(1, Ordering::Relaxed);
                            if body == "v2" {
                                seen_v2.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        other => failures.push(format!("{other:?}")),
                    }
                }
                failures
            })
        })
        .collect();

    let started = Instant::now();
    for i in 0..RELOADS {
        let module = if i % 2 == 0 { "v2.wat" } else { "v1.wat" };
        if i % 4 < 2 {
            deployment.config(&[("v", module), ("extra", "extra.wat")]);
        } else {
            deployment.config(&[("v", module)]);
        }
        let outcome = reload(&server);
        assert!(
            outcome.contains("reloaded (SIGHUP)"),
            "reload {i}: {outcome}"
        );
        // Spread the reloads over about 20 s of load.
        let due = started + Duration::from_millis(200 * (i as u64 + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients
        .into_iter()
        .flat_map(|client| client.join().expect("client thread"))
        .collect();
    let answered = answered.load(Ordering::Relaxed);
    eprintln!(
        "{RELOADS} reloads in {:.1} s under {CLIENTS} clients: {answered} requests answered, {} failed",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(answered > 1000, "only {answered} requests");
    assert!(seen_v2.load(Ordering::Relaxed) > 0);
    assert_eq!(reloads(&server), RELOADS);
}

#[test]
fn watch_reloads_when_a_module_is_edited() {
    let deployment = Deployment::new();
    deployment.write("a.wat", &greeting("before"));
    deployment.config(&[("a", "a.wat")]);
    let server = deployment.serve(&["--watch"]);
    let log = server.wait_for_log("watching");
    assert!(log.contains("watching 2 files"), "{log}");

    deployment.write("a.wat", &greeting("after"));
    let edited = Instant::now();
    while body(&server, "/a") != (200, "after".into()) {
        assert!(
            edited.elapsed() < Duration::from_secs(2),
            "no reload 2 s after the edit:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // One burst of edits, one reload.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(reloads(&server), 1, "{}", server.log());
    // A file beside them that no app uses changes nothing.
    deployment.write("unrelated.txt", "x");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(reloads(&server), 1, "{}", server.log());
    assert!(Path::new(&deployment.path("a.wat")).exists());
}
