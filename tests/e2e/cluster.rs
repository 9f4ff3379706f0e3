//! The scale-out path as users run it: `deploy/local-cluster.sh` (S3, Redis,
//! three nodes and nginx on loopback, its five checks) run on the binary
//! this test run built, and the container image built and served when a
//! Docker daemon is there.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{BINARY, REPO, http_request, repo_path, rust_examples};
use crate::standard_guests::rust_component;

/// The script bounds each of its own waits; this is for a hang past them.
const SCRIPT_LIMIT: Duration = Duration::from_secs(300);

#[test]
fn a_three_node_cluster_behind_nginx_passes_its_checks() {
    crate::debian::ensure("redis-server", "redis-server");
    crate::debian::ensure_probed("nginx", "-v", "nginx");
    let moto = crate::moto::moto_server();
    let notes = rust_examples().join("notes.wasm");
    let counter = rust_component("counter");

    let mut script = Command::new("bash")
        .arg(repo_path("deploy/local-cluster.sh"))
        .arg(BINARY)
        .env("NOTES_WASM", &notes)
        .env("COUNTER_WASM", &counter)
        .env("MOTO_SERVER", &moto)
        // nginx is in /usr/sbin, which a non-root PATH may lack.
        .env("PATH", path_with_sbin())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bash deploy/local-cluster.sh");
    let output = read_all(script.stdout.take(), script.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = script.try_wait().expect("wait for the script") {
            break status;
        }
        if started.elapsed() > SCRIPT_LIMIT {
            // SIGTERM: its trap stops what it started.
            let _ = Command::new("kill").arg(script.id().to_string()).status();
            let _ = script.wait();
            panic!(
                "deploy/local-cluster.sh ran past {SCRIPT_LIMIT:?}:\n{}",
                output.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = output.join().unwrap();
    // What it measured, in the test's output (`--nocapture` shows it).
    eprintln!("{output}");
    assert!(
        status.success(),
        "deploy/local-cluster.sh failed ({status}):\n{output}"
    );
    assert!(output.contains("all 7 checks passed"), "{output}");
}

/// Builds the static binary and the image, runs it with the bundled
/// examples mounted as its config, and asks it for /hello; skipped (saying
/// so) when no Docker daemon answers.
#[test]
fn the_container_image_builds_and_serves() {
    let docker_up = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !docker_up {
        eprintln!("skipped: no Docker daemon answers `docker info` (see docs/cluster.md)");
        return;
    }
    let binary = musl_binary();
    let context = stage_context(&binary);
    let tag = "serverless-wasm:cluster-test";
    let built = Command::new("docker")
        .args(["build", "--quiet", "-t", tag])
        .arg(context.path())
        .output()
        .expect("run docker build");
    assert!(
        built.status.success(),
        "docker build failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let config = tempfile::tempdir().expect("temp dir");
    let port = crate::redis_server::free_port();
    let text = std::fs::read_to_string(repo_path("examples/config.toml")).unwrap();
    std::fs::write(config.path().join("config.toml"), text).unwrap();
    for module in ["hello.wat", "echo.wat", "backend.wat"] {
        std::fs::copy(
            repo_path(&format!("examples/{module}")),
            config.path().join(module),
        )
        .unwrap();
    }
    let name = format!("serverless-wasm-test-{port}");
    let run = Command::new("docker")
        .args(["run", "-d", "--rm", "--name", &name, "--network", "host"])
        .arg("-v")
        .arg(format!("{}:/config:ro", config.path().display()))
        .args([tag, "serve", "/config/config.toml", "--data-dir", "/data"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .output()
        .expect("run docker run");
    assert!(
        run.status.success(),
        "docker run failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let _stop = StopContainer(name.clone());
    let address = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(address).is_err() {
        assert!(
            Instant::now() < deadline,
            "the container did not listen in 30 s:\n{}",
            logs(&name)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let response = http_request(address, "GET", "/hello", &[], b"");
    assert_eq!(response.status, 200, "{}", logs(&name));
    assert_eq!(response.text(), "Hello from serverless-wasm!\n");
}

/// The static binary: `$SERVERLESS_WASM_MUSL` if set, else built (or found
/// up to date) with cargo in its own target directory, so that it does not
/// wait for this test run's lock.
fn musl_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SERVERLESS_WASM_MUSL").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "--locked"])
        .args(["--target", "x86_64-unknown-linux-musl"])
        .args(["--target-dir", "target/musl"])
        .current_dir(REPO)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo build --target x86_64-unknown-linux-musl");
    assert!(
        built.status.success(),
        "the musl build failed (it needs `rustup target add x86_64-unknown-linux-musl`):\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    repo_path("target/musl/x86_64-unknown-linux-musl/release/serverless-wasm")
}

/// A build context with what the Dockerfile copies, laid out as the
/// documented commands leave the repository.
fn stage_context(binary: &Path) -> tempfile::TempDir {
    let context = tempfile::tempdir().expect("temp dir");
    let copy = |from: &Path, to: &str| {
        let to = context.path().join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    };
    copy(&repo_path("Dockerfile"), "Dockerfile");
    copy(
        binary,
        "target/x86_64-unknown-linux-musl/release/serverless-wasm",
    );
    copy(
        Path::new("/etc/ssl/certs/ca-certificates.crt"),
        "target/ca-certificates.crt",
    );
    for file in ["passwd", "group"] {
        copy(
            &repo_path(&format!("deploy/docker/{file}")),
            &format!("deploy/docker/{file}"),
        );
    }
    copy(
        &repo_path("deploy/docker/data/README"),
        "deploy/docker/data/README",
    );
    context
}

struct StopContainer(String);

impl Drop for StopContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn logs(name: &str) -> String {
    Command::new("docker")
        .args(["logs", name])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stderr).into_owned())
        .unwrap_or_default()
}

fn path_with_sbin() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{path}:/usr/sbin:/sbin")
}

/// Reads the script's stdout and stderr as they come (so that neither pipe
/// fills), into one text: stdout, then stderr.
fn read_all(
    stdout: Option<std::process::ChildStdout>,
    stderr: Option<std::process::ChildStderr>,
) -> std::thread::JoinHandle<String> {
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_string(&mut text);
        }
        text + &errors.join().unwrap_or_default()
    })
}
