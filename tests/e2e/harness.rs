//! What every end-to-end test uses: the real binary started on port 0 with a
//! config written to a temp dir, a plain HTTP/1.1 client over loopback, and
//! the guest modules built from source.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_serverless-wasm");
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A path inside the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(REPO).join(relative)
}

/// A test guest from tests/guests, as an absolute path for configs.
pub fn guest(name: &str) -> String {
    repo_path(&format!("tests/guests/{name}"))
        .display()
        .to_string()
}

/// A running `serverless-wasm` process, killed on drop.
pub struct TestServer {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Writes `config` (its `listen_address` is replaced) and serves it.
    pub fn start(config: &str) -> TestServer {
        Self::try_start(config).unwrap_or_else(|log| panic!("server did not start:\n{log}"))
    }

    /// Like [`start`](Self::start), but returns the log when the server exits instead.
    pub fn try_start(config: &str) -> Result<TestServer, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).expect("write config");
        Self::spawn(
            &[
                "serve",
                path.to_str().expect("utf-8 path"),
                "--listen",
                "127.0.0.1:0",
            ],
            dir,
        )
    }

    /// Serves an existing config file.
    pub fn serve_file(config: &Path) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let args = [
            "serve",
            config.to_str().expect("utf-8 path"),
            "--listen",
            "127.0.0.1:0",
        ];
        Self::spawn(&args, dir).unwrap_or_else(|log| panic!("server did not start:\n{log}"))
    }

    fn spawn(args: &[&str], dir: tempfile::TempDir) -> Result<TestServer, String> {
        let mut child = Command::new(BINARY)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serverless-wasm");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(address) = line.split("listening on http://").nth(1) {
                    let _ = address_tx.send(address.trim().to_string());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        match address_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(address) => Ok(TestServer {
                child,
                addr: address.parse().expect("listening address"),
                log,
                _dir: dir,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(log.lock().unwrap().clone())
            }
        }
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        self.request("GET", path, &[], b"")
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        http_request(self.addr, method, path, headers, body)
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle` (logs arrive asynchronously).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect to server");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let framed = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !framed("content-length") && !framed("transfer-encoding") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    // The server may answer (413) before reading a large body.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_response(&raw, method == "HEAD")
}

fn parse_response(raw: &[u8], head_only: bool) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let reason = parts.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = raw[split + 4..].to_vec();
    let response = HttpResponse {
        status,
        reason,
        headers,
        body,
    };
    if !head_only && let Some(length) = response.header("content-length") {
        assert_eq!(
            length.parse::<usize>().ok(),
            Some(response.body.len()),
            "content-length matches body"
        );
    }
    response
}

/// Runs the binary to completion with `args`.
pub fn run_binary(args: &[&str]) -> std::process::Output {
    Command::new(BINARY)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run serverless-wasm")
}

/// Builds the Rust example guests (examples/rust) once per test run and
/// returns the directory holding the `.wasm` files. Installs the wasm target
/// first, so `cargo test` alone sets up a fresh machine.
pub fn rust_examples() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let installed = Command::new("rustup")
            .args(["target", "add", "wasm32-unknown-unknown"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(installed, Ok(status) if status.success()) {
            eprintln!("could not run `rustup target add wasm32-unknown-unknown`; building anyway");
        }
        let workspace = repo_path("examples/rust");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--quiet"])
            .current_dir(&workspace)
            // Keep the outer test build's settings out of the guest build.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .status()
            .expect("run cargo for the example guests");
        assert!(
            status.success(),
            "building examples/rust failed; it needs the wasm target: rustup target add wasm32-unknown-unknown"
        );
        workspace.join("target/wasm32-unknown-unknown/release")
    })
}

/// A one-app config for `module`, plus `extra` lines in the app table.
pub fn single_app(module: &str, extra: &str) -> String {
    format!(
        "listen_address = \"127.0.0.1:0\"\n\n[[applications]]\nfile_path = \"{module}\"\nmethod = \"*\"\nurl_path = \"/...\"\n{extra}\n"
    )
}
