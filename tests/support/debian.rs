//! Installing the Debian packages a test needs (redis-server, chromium, nginx) when
//! the machine lacks them, as the suite installs its other tools. Shared by
//! `#[path]`; its user declares it beside itself.

use std::process::{Command, Stdio};
use std::sync::Mutex;

/// Makes sure `command --version` runs, installing `package` with apt-get
/// if it does not; once per package and process.
pub fn ensure(command: &str, package: &str) {
    ensure_probed(command, "--version", package);
}

/// The same, for a command that knows another option than `--version`
/// (nginx has only `-v`).
pub fn ensure_probed(command: &str, probe: &str, package: &str) {
    static DONE: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if done.iter().any(|installed| installed == package) {
        return;
    }
    let present = || {
        Command::new(command)
            .arg(probe)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if !present() {
        eprintln!("{command} is missing; installing {package} with apt-get");
        let apt = |args: &[&str]| {
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        if !apt(&["install", "-y", "-q", package]) {
            apt(&["update", "-q"]);
            apt(&["install", "-y", "-q", package]);
        }
        assert!(
            present(),
            "{command} is not installed and `apt-get install -y {package}` failed"
        );
    }
    done.push(package.to_owned());
}
