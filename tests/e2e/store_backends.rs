//! The two key-value backends as test configs: the same test runs once on
//! the embedded store and once on a real Redis started for it.

use crate::redis_server::RedisServer;

/// Where a test's stores live.
pub enum Backend {
    Embedded,
    Redis(RedisServer),
}

impl Backend {
    pub fn redis() -> Backend {
        Backend::Redis(RedisServer::start())
    }

    /// A `[key_value_stores.<label>]` table on this backend, with `extra` lines.
    pub fn table(&self, label: &str, extra: &str) -> String {
        match self {
            Backend::Embedded => {
                format!("[key_value_stores.{label}]\ntype = \"embedded\"\n{extra}")
            }
            Backend::Redis(redis) => format!(
                "[key_value_stores.{label}]\ntype = \"redis\"\nurl = \"{}\"\n{extra}",
                redis.url()
            ),
        }
    }

    /// The top-level lines that put every app's default store here.
    pub fn stores(&self, max_value_bytes: Option<u64>) -> String {
        let limit = max_value_bytes.map_or(String::new(), |n| format!("max_value_bytes = {n}\n"));
        match self {
            Backend::Embedded if limit.is_empty() => String::new(),
            _ => self.table("default", &limit),
        }
    }

    /// The Redis server, if this is Redis.
    pub fn redis_server(&mut self) -> Option<&mut RedisServer> {
        match self {
            Backend::Embedded => None,
            Backend::Redis(redis) => Some(redis),
        }
    }
}
