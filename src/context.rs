//! [`AppContext`]: what a running guest may know about and reach of its app,
//! whatever its ABI. The apps ([`crate::app`]) build it; the ABIs
//! ([`crate::abi`]) read it, so neither needs the other to know it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Limits;
use crate::kv::AppStores;
use crate::metrics::AppMetrics;
use crate::outbound::AllowedHosts;
use crate::router::Route;

/// What a running guest may know about its app.
#[derive(Debug)]
pub struct AppContext {
    pub name: String,
    pub env: Vec<(String, String)>,
    /// Values a component reads through wasi:config and Spin's variables
    /// interfaces: for a Spin component its resolved `variables`, for other
    /// apps their `env`.
    pub variables: Vec<(String, String)>,
    /// A WAGI guest's command line with `${SCRIPT_NAME}` and `${ARGS}` to
    /// fill in (Spin's `argv`); `None`: the app's name alone.
    pub argv: Option<String>,
    pub limits: Limits,
    pub allowed_outbound_hosts: AllowedHosts,
    pub route: Route,
    pub files: Vec<(String, PathBuf)>,
    /// The key-value stores the app may open.
    pub stores: AppStores,
    /// Its counters: faults, instantiation times, refused memory.
    pub metrics: Arc<AppMetrics>,
}

impl AppContext {
    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl Default for AppContext {
    fn default() -> Self {
        AppContext {
            name: String::new(),
            env: Vec::new(),
            variables: Vec::new(),
            argv: None,
            limits: Limits::default(),
            allowed_outbound_hosts: AllowedHosts::default(),
            route: Route::Prefix(String::new()),
            files: Vec::new(),
            stores: AppStores::unavailable(),
            metrics: Arc::default(),
        }
    }
}
