//! The Redis backend: how namespaces and keys map onto Redis keys, the Lua
//! scripts that make each write atomic, and how the connection comes and goes.
//!
//! Key layout. A namespace `ns` owns every Redis key beginning with
//! `sw:{len}:{ns}:`, where `len` is the byte length of `ns`; the value of `key`
//! lives at `sw:{len}:{ns}:{key}`. Because the length comes first, no
//! namespace's prefix can be a prefix of another's, whatever bytes (colons
//! included) the names contain. Beside the values, each namespace has an index
//! at `swi:{len}:{ns}`: a sorted set holding every key as a member with score
//! 0. Its different leading tag keeps it apart from all value keys; its
//! lexicographic order gives `list` sorted, bounded paging via `ZRANGEBYLEX`
//! (never a `SCAN` over the whole database) and `ZCARD` gives the key count
//! that quotas need.
//!
//! Why Lua. A write touches the value and the index and, with a quota, reads
//! the count first; a compare-and-swap must read and write without anybody in
//! between. Scripts run atomically on the server, so two writers can neither
//! overshoot a quota nor leave the index and the values disagreeing. A
//! [`redis::Script`] is hashed once and sent with `EVALSHA`, falling back to
//! loading it when the server does not know it (e.g. after a restart).
//!
//! Connections. [`Redis::open`] only parses the URL, so the server starts even
//! while Redis is down. The first operation connects; a failed connect is not
//! remembered, the next operation simply tries again. Once connected,
//! [`ConnectionManager`] reconnects by itself after I/O errors; after any
//! other failure the next operation builds a new manager, because one whose
//! reconnect failed otherwise would hand that failure out forever. Every
//! operation, connecting included, is capped at [`OP_TIMEOUT`], so an
//! unreachable or hung Redis turns into [`KvError::Unavailable`] quickly
//! rather than into stuck requests, and operations succeed again as soon as
//! Redis is back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};

use super::{Backend, KvError};

/// The longest any operation may take, connecting included, before it fails
/// as unavailable. Just above the response timeout, so a reply that is merely
/// slow still arrives through the normal path.
pub const OP_TIMEOUT: Duration = Duration::from_millis(2500);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Few retries: an operation is waiting on each attempt, and the next
/// operation starts a fresh round anyway.
const CONNECT_RETRIES: usize = 1;
/// While Redis is down every request fails; one warning per interval is
/// enough to tell, more would drown the log.
const WARN_INTERVAL_MS: u64 = 5000;
const NEVER: u64 = u64::MAX;

/// Sets a key; returns 0 instead when it would add a key beyond the quota.
/// KEYS: value, index. ARGV: key, value, max keys or "".
const SET_LUA: &str = r"
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[1]) == 0
   and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1";

/// KEYS: value, index. ARGV: key. Returns how many values it removed.
const DELETE_LUA: &str = r"
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n";

/// KEYS: value, index. ARGV: key, delta, max keys or "". Returns the new value
/// as text (Lua numbers are doubles and would round large integers), or nil
/// when the quota is full. INCRBY comes before ZADD so that its error (not an
/// integer, overflow) leaves nothing written.
const INCREMENT_LUA: &str = r"
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[1]) == 0
   and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return false
end
redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return redis.call('GET', KEYS[1])";

/// KEYS: value, index. ARGV: key, new value, max keys or "", "1" when an
/// expected value follows (else the key must be absent), expected value.
/// Returns 1 swapped, 0 not swapped, -1 quota full.
const CAS_LUA: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[4] == '1' then
  if current ~= ARGV[5] then return 0 end
else
  if current then return 0 end
  if ARGV[3] ~= '' and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
    return -1
  end
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1";

/// A key-value backend on one Redis server (see the module docs).
pub struct Redis {
    client: Client,
    /// `host:port` (never the password), for error messages and logs.
    addr: String,
    /// `None` until a connect succeeds. An async mutex so that concurrent
    /// first operations share one connect instead of each opening one.
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    /// Set after a failure that was not an I/O error. The manager reconnects
    /// by itself only after I/O errors; a reconnect that failed otherwise
    /// (authentication, `SELECT` refused while Redis loads) would be handed
    /// to every later operation, so the next operation builds a new manager.
    discard_conn: AtomicBool,
    set_script: Script,
    delete_script: Script,
    increment_script: Script,
    cas_script: Script,
    failures: AtomicU64,
    /// Milliseconds since `epoch` of the last warning, or `NEVER`.
    last_warn_ms: AtomicU64,
    /// Whether the last operation failed, so that recovery is logged once.
    degraded: AtomicBool,
    epoch: Instant,
}

impl Redis {
    /// Parses `url` (`redis://[user:password@]host[:port][/db]`, `rediss://`,
    /// `unix://`) without connecting.
    pub fn open(url: &str) -> anyhow::Result<Redis> {
        let client = Client::open(url)
            .map_err(|err| anyhow::anyhow!("invalid Redis URL `{}`: {err}", redact(url)))?;
        let addr = client.get_connection_info().addr().to_string();
        Ok(Redis {
            client,
            addr,
            conn: tokio::sync::Mutex::new(None),
            discard_conn: AtomicBool::new(false),
            set_script: Script::new(SET_LUA),
            delete_script: Script::new(DELETE_LUA),
            increment_script: Script::new(INCREMENT_LUA),
            cas_script: Script::new(CAS_LUA),
            failures: AtomicU64::new(0),
            last_warn_ms: AtomicU64::new(NEVER),
            degraded: AtomicBool::new(false),
            epoch: Instant::now(),
        })
    }

    /// How many operations have failed because Redis was unavailable.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    async fn connection(&self) -> Result<ConnectionManager, RedisError> {
        let mut slot = self.conn.lock().await;
        if self.discard_conn.swap(false, Ordering::Relaxed) {
            *slot = None;
        }
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(CONNECT_RETRIES)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `op` on a connection within [`OP_TIMEOUT`].
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, RedisError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let attempt = async { op(self.connection().await?).await };
        let result = match tokio::time::timeout(OP_TIMEOUT, attempt).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no reply within {} ms", OP_TIMEOUT.as_millis()),
            )
            .into()),
        };
        if result.is_ok() && self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!(addr = %self.addr, "redis is reachable again");
        }
        result
    }

    /// Counts and (rate-limited) logs a failure, and turns it into the error
    /// callers see.
    fn fail(&self, err: RedisError) -> KvError {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        self.degraded.store(true, Ordering::Relaxed);
        if !err.is_io_error() {
            self.discard_conn.store(true, Ordering::Relaxed);
        }
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NEVER - 1);
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        if (last == NEVER || now.saturating_sub(last) >= WARN_INTERVAL_MS)
            && self
                .last_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(addr = %self.addr, failures, "redis operation failed: {err}");
        }
        KvError::Unavailable(format!("redis at {}: {err}", self.addr))
    }
}

fn value_key(namespace: &str, key: &str) -> String {
    format!("sw:{}:{namespace}:{key}", namespace.len())
}

fn index_key(namespace: &str) -> String {
    format!("swi:{}:{namespace}", namespace.len())
}

/// `""` for "no quota": the scripts test for it instead of a magic number.
fn quota_arg(max_keys: Option<u64>) -> String {
    max_keys.map(|n| n.to_string()).unwrap_or_default()
}

/// `ZRANGEBYLEX` bounds for the keys that start with `prefix` and sort after
/// `after`. The upper bound is exclusive at the prefix's successor, so the
/// `LIMIT` counts only matching keys.
fn lex_bounds(prefix: &str, after: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let min = match after {
        Some(after) if after >= prefix => [b"(", after.as_bytes()].concat(),
        _ if prefix.is_empty() => b"-".to_vec(),
        _ => [b"[", prefix.as_bytes()].concat(),
    };
    let mut successor = prefix.as_bytes().to_vec();
    // Bytes of 0xFF cannot be incremented; drop them and carry. (UTF-8 never
    // contains 0xFF, but this keeps the function total.)
    while successor.last() == Some(&0xFF) {
        successor.pop();
    }
    let max = match successor.last_mut() {
        Some(last) => {
            *last += 1;
            [b"(", successor.as_slice()].concat()
        }
        None => b"+".to_vec(),
    };
    (min, max)
}

/// Hides the credentials of a URL that could not be parsed, for error messages.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) if scheme.is_empty() => format!("***@{}", &rest[at + 1..]),
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

fn is_not_an_integer(err: &RedisError) -> bool {
    let text = err.to_string();
    text.contains("not an integer") || text.contains("would overflow")
}

#[async_trait]
impl Backend for Redis {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let vkey = value_key(namespace, key);
        self.run(|mut conn| async move { redis::cmd("GET").arg(vkey).query_async(&mut conn).await })
            .await
            .map_err(|err| self.fail(err))
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        max_keys: Option<u64>,
    ) -> Result<(), KvError> {
        let mut call = self.set_script.prepare_invoke();
        call.key(value_key(namespace, key))
            .key(index_key(namespace))
            .arg(key)
            .arg(value)
            .arg(quota_arg(max_keys));
        let done: i64 = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await
            .map_err(|err| self.fail(err))?;
        match done {
            0 => Err(KvError::QuotaExceeded(max_keys.unwrap_or(0))),
            _ => Ok(()),
        }
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        let mut call = self.delete_script.prepare_invoke();
        call.key(value_key(namespace, key))
            .key(index_key(namespace))
            .arg(key);
        let removed: i64 = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await
            .map_err(|err| self.fail(err))?;
        Ok(removed > 0)
    }

    async fn exists(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        let vkey = value_key(namespace, key);
        self.run(
            |mut conn| async move { redis::cmd("EXISTS").arg(vkey).query_async(&mut conn).await },
        )
        .await
        .map_err(|err| self.fail(err))
    }

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, KvError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (min, max) = lex_bounds(prefix, after);
        // A negative count would mean "no limit" to Redis.
        let count = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut cmd = redis::cmd("ZRANGEBYLEX");
        cmd.arg(index_key(namespace))
            .arg(min)
            .arg(max)
            .arg("LIMIT")
            .arg(0)
            .arg(count);
        let members: Vec<Vec<u8>> = self
            .run(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
            .map_err(|err| self.fail(err))?;
        // Only this module writes the index, always from `&str` keys; a member
        // that is not UTF-8 could not be addressed through this API anyway.
        Ok(members
            .into_iter()
            .filter_map(|m| String::from_utf8(m).ok())
            .collect())
    }

    async fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        max_keys: Option<u64>,
    ) -> Result<i64, KvError> {
        let mut call = self.increment_script.prepare_invoke();
        call.key(value_key(namespace, key))
            .key(index_key(namespace))
            .arg(key)
            .arg(delta)
            .arg(quota_arg(max_keys));
        let reply: Option<String> = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await
            .map_err(|err| {
                if is_not_an_integer(&err) {
                    KvError::NotAnInteger(key.to_owned())
                } else {
                    self.fail(err)
                }
            })?;
        let Some(text) = reply else {
            return Err(KvError::QuotaExceeded(max_keys.unwrap_or(0)));
        };
        text.parse().map_err(|_| {
            KvError::Unavailable(format!(
                "redis at {}: odd INCRBY result `{text}`",
                self.addr
            ))
        })
    }

    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        max_keys: Option<u64>,
    ) -> Result<bool, KvError> {
        let mut call = self.cas_script.prepare_invoke();
        call.key(value_key(namespace, key))
            .key(index_key(namespace))
            .arg(key)
            .arg(new)
            .arg(quota_arg(max_keys))
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default());
        let outcome: i64 = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await
            .map_err(|err| self.fail(err))?;
        match outcome {
            -1 => Err(KvError::QuotaExceeded(max_keys.unwrap_or(0))),
            n => Ok(n == 1),
        }
    }
}

#[cfg(test)]
mod tests;
