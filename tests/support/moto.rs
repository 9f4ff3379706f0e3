//! A real S3 for the tests: moto's server, started on a free loopback port
//! and stopped (killed by process id) when dropped. Shared, by `#[path]`, by
//! the unit tests of `src/sources` and the end-to-end tests.
//!
//! `moto_server` is looked for in `$MOTO_SERVER`, then on `PATH`, then in
//! `.venv/bin` next to the crate's Cargo.toml; if it is nowhere, it is
//! installed there from PyPI (`moto[server]`, about 80 s, once), as the
//! suite installs its other tools.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

fn install_hint() -> String {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv");
    format!(
        "moto_server not found (looked in $MOTO_SERVER, on PATH and in {venv}/bin); \
         install it with:\n  python3 -m venv {venv} && {venv}/bin/pip install 'moto[server]'",
        venv = venv.display()
    )
}

/// Where `moto_server` is; panics with the install command if nowhere.
pub fn moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|candidate| candidate.is_file())
    });
    let in_venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if let Some(path) = on_path.or_else(|| in_venv.is_file().then(|| in_venv.clone())) {
        return path;
    }
    install();
    assert!(in_venv.is_file(), "{}", install_hint());
    in_venv
}

/// Makes `.venv` next to Cargo.toml and installs moto's server into it.
fn install() {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv");
    if venv.join("bin/moto_server").is_file() {
        return;
    }
    eprintln!(
        "moto_server is missing; installing moto[server] into {}",
        venv.display()
    );
    let run = |program: &std::path::Path, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let made = run(
        "python3".as_ref(),
        &["-m", "venv", venv.to_str().expect("utf-8 path")],
    );
    let pip = venv.join("bin/pip");
    assert!(
        made && run(&pip, &["install", "--quiet", "moto[server]"]),
        "{}",
        install_hint()
    );
}

impl Moto {
    pub async fn start() -> Moto {
        let program = moto_server();
        // Port 0 cannot be handed to moto; take a free port from the OS.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot run {}: {error}\n{}",
                    program.display(),
                    install_hint()
                )
            });
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if client.get(&moto.endpoint).send().await.is_ok() {
                return moto;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited at start-up ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates `bucket` (moto accepts unsigned requests).
    pub async fn create_bucket(&self, bucket: &str) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// Kills the server by its process id and reaps it: its port refuses
    /// connections from then on.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}
