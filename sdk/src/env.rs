//! The app's configuration values: the `env` table of its entry in the
//! server's config file, for example
//!
//! ```toml
//! [[applications]]
//! file_path = "./backend.wasm"
//! method = "GET"
//! url_path = "/backend"
//! env = { "/env/backend" = "127.0.0.1:8181" }
//! ```
//!
//! (The import is called `db_get` for historical reasons.)

use crate::sys;

/// The value configured for `key`, or `None` when the app has none. Keys are
/// matched exactly (case-sensitively). A value of any length is read whole.
pub fn get(key: &str) -> Option<String> {
    sys::db_get(key.as_bytes()).map(|v| String::from_utf8_lossy(&v).into_owned())
}
