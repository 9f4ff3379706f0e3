//! What every end-to-end test uses: the real binary started on port 0 with a
//! config written to a temp dir, a plain HTTP/1.1 client over loopback, and
//! the guest modules built from source.

use std::collections::HashMap;
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
        Self::try_start_with(config, &[])
    }

    /// Like [`start`](Self::start), with more environment variables.
    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).expect("write config");
        Self::serve_in(&path, &[], dir, env)
            .unwrap_or_else(|log| panic!("server did not start:\n{log}"))
    }

    /// Like [`try_start`](Self::try_start), with more command-line arguments.
    pub fn try_start_with(config: &str, extra_args: &[&str]) -> Result<TestServer, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).expect("write config");
        Self::serve_in(&path, extra_args, dir, &[])
    }

    /// Serves an existing config file.
    pub fn serve_file(config: &Path) -> TestServer {
        Self::serve_file_with(config, &[])
    }

    /// Serves an existing config file, with more command-line arguments.
    pub fn serve_file_with(config: &Path, extra_args: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::serve_in(config, extra_args, dir, &[])
            .unwrap_or_else(|log| panic!("server did not start:\n{log}"))
    }

    /// Serves an existing config file or spin.toml with more environment
    /// variables and arguments, its data directory in a temp dir (not beside
    /// the file); the log if it does not start.
    pub fn try_serve_file_with_env(
        config: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<TestServer, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let mut args = vec!["--data-dir", data_dir.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra_args);
        Self::serve_in(config, &args, dir, env)
    }

    /// Like [`try_serve_file_with_env`](Self::try_serve_file_with_env), its
    /// data in `data_dir`, which outlives it.
    pub fn try_serve_file_in(
        config: &Path,
        data_dir: &Path,
        env: &[(&str, &str)],
    ) -> Result<TestServer, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let args = ["--data-dir", data_dir.to_str().expect("utf-8 path")];
        Self::serve_in(config, &args, dir, env)
    }

    fn serve_in(
        config: &Path,
        extra_args: &[&str],
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> Result<TestServer, String> {
        let mut args = vec![
            "serve",
            config.to_str().expect("utf-8 path"),
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra_args);
        Self::spawn_with_env(&args, dir, env)
    }

    fn spawn_with_env(
        args: &[&str],
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> Result<TestServer, String> {
        let mut child = Command::new(BINARY)
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .env("XDG_CACHE_HOME", test_cache_home())
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
                // The admin listener's line is read by `admin_addr`.
                let address = ["listening on http://", "listening on https://"]
                    .into_iter()
                    .find_map(|prefix| line.split(prefix).nth(1));
                if let Some(address) = address
                    && !line.contains("admin listening on")
                {
                    // In a JSON log line the address ends at the quote.
                    let address = address.split(['"', ' ']).next().unwrap_or_default();
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
    /// The server's log so far, including every line of what it has done:
    /// the server writes its log in batches at least every 10 ms
    /// (`logging::FLUSH_INTERVAL`), so this first waits a few of those.
    pub fn log(&self) -> String {
        std::thread::sleep(Duration::from_millis(50));
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

    /// The admin listener's address, from its `admin listening on` line
    /// (the config needs `admin_address = "127.0.0.1:0"`).
    pub fn admin_addr(&self) -> SocketAddr {
        let log = self.wait_for_log("admin listening on http://");
        log.split("admin listening on http://")
            .nth(1)
            // The address ends the message, in text and JSON lines alike.
            .and_then(|rest| {
                rest.split(|c: char| !(c.is_ascii_alphanumeric() || ".:[]".contains(c)))
                    .next()
            })
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| panic!("no admin address in the log:\n{log}"))
    }

    /// Kills the process with SIGKILL, as a crash would, and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Sends SIGHUP: reload.
    pub fn hangup(&self) {
        self.signal("-HUP");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
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
    // The body goes from its own thread: a streaming guest answers while it
    // still reads, and a client that wrote everything first would deadlock.
    // The server may also answer (413) before reading the body at all.
    let mut writer = stream.try_clone().expect("clone stream");
    let body = body.to_vec();
    let writing = std::thread::spawn(move || {
        let _ = writer.write_all(&body);
    });
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let _ = writing.join();
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
    let mut response = HttpResponse {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    let body = &raw[split + 4..];
    response.body = if response.header("transfer-encoding") == Some("chunked") {
        decode_chunked(body)
    } else {
        body.to_vec()
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

/// Decodes a chunked body (no trailers expected).
fn decode_chunked(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// Where the servers under test keep their compile cache: one for the whole
/// run (and the next: entries are keyed by content, so sharing them is what
/// the cache is for), never the user's own.
fn test_cache_home() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache-home")
}

/// Runs the binary to completion with `args`.
pub fn run_binary(args: &[&str]) -> std::process::Output {
    Command::new(BINARY)
        .args(args)
        .env("RUST_LOG", "warn")
        .env("XDG_CACHE_HOME", test_cache_home())
        .stdin(Stdio::null())
        .output()
        .expect("run serverless-wasm")
}

/// Builds a Rust guest workspace (a path in the repository) for `target`,
/// once per test run, and returns its release output directory. Installs the
/// wasm target first, so `cargo test` alone sets up a fresh machine.
pub fn cargo_guest(workspace: &str, target: &str, package: Option<&str>) -> PathBuf {
    let key = format!("{workspace} {target} {package:?}");
    build_once(&key, || {
        let installed = Command::new("rustup")
            .args(["target", "add", target])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(installed, Ok(status) if status.success()) {
            eprintln!("could not run `rustup target add {target}`; building anyway");
        }
        let directory = repo_path(workspace);
        let mut command = Command::new(env!("CARGO"));
        command.args(["build", "--release", "--quiet", "--target", target]);
        if let Some(package) = package {
            command.args(["-p", package]);
        }
        // Keep the outer test build's settings out of the guest build.
        let output = command
            .current_dir(&directory)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .output()
            .expect("run cargo for a guest");
        assert!(
            output.status.success(),
            "building {workspace} failed (it needs `rustup target add {target}`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        directory.join("target").join(target).join("release")
    })
}

/// The classic Rust examples (examples/rust, wasm32-unknown-unknown).
pub fn rust_examples() -> PathBuf {
    cargo_guest("examples/rust", "wasm32-unknown-unknown", None)
}

/// Runs `build.sh` in an example directory once per test run (it installs
/// its own toolchain from the registries) and returns `output` in it.
pub fn script_guest(directory: &str, output: &str) -> PathBuf {
    build_once(directory, || {
        let directory = repo_path(directory);
        let result = Command::new("bash")
            .arg("build.sh")
            .current_dir(&directory)
            .output()
            .expect("run bash");
        assert!(
            result.status.success(),
            "{}/build.sh failed; see examples/README.md for the toolchain it installs:\n{}\n{}",
            directory.display(),
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        directory.join(output)
    })
}

/// Runs `build` the first time `key` is asked for; later calls wait for it
/// and share its result.
fn build_once(key: &str, build: impl FnOnce() -> PathBuf) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, Arc<OnceLock<PathBuf>>>>> = OnceLock::new();
    let cell = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_string())
        .or_default()
        .clone();
    cell.get_or_init(build).clone()
}

/// A one-app config for `module`, plus `extra` lines in the app table.
pub fn single_app(module: &str, extra: &str) -> String {
    format!(
        "listen_address = \"127.0.0.1:0\"\n\n[[applications]]\nfile_path = \"{module}\"\nmethod = \"*\"\nurl_path = \"/...\"\n{extra}\n"
    )
}
