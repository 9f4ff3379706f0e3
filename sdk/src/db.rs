//! The app's private key-value store: values that outlive the request,
//! kept by the server in its embedded database or in Redis, as its config
//! says. Other apps cannot see these keys.
//!
//! [`get`] reads the app's `env` table first (see [`env`](crate::env)), so a
//! configured value shadows a stored one; `env` keys cannot be set or deleted.
//!
//! ```no_run
//! use serverless_wasm_sdk::{db, response};
//!
//! #[unsafe(no_mangle)]
//! pub extern "C" fn handle() {
//!     let visits = db::get("visits").ok().flatten()
//!         .and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok())
//!         .unwrap_or(0) + 1;
//!     if let Err(error) = db::set("visits", visits.to_string()) {
//!         response::set_status(503, "Service Unavailable");
//!         response::set_body(format!("{error}\n"));
//!         return;
//!     }
//!     response::set_body(format!("visit number {visits}\n"));
//! }
//! ```
//! (For a counter that many requests raise at once, prefer a wasi:http
//! component and `wasi:keyvalue/atomics.increment`: get-then-set is not atomic.)

use std::fmt;

use crate::sys;

/// Why a store call did not happen; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The key is longer than 1 KiB, not UTF-8, or (for [`set`]) contains `\n`.
    InvalidKey,
    /// The value is larger than the store's `max_value_bytes` (1 MiB by default).
    ValueTooLarge,
    /// The app's `max_keys` is reached.
    QuotaExceeded,
    /// The store cannot be reached now; the call may succeed later.
    Unavailable,
    /// The key is defined by the app's `env`, which is read-only.
    ReadOnly,
    /// A code this SDK does not know, from a newer server.
    Other(i64),
}

impl Error {
    fn from_code(code: i64) -> Error {
        match code {
            -2 => Error::InvalidKey,
            -3 => Error::ValueTooLarge,
            -4 => Error::QuotaExceeded,
            -5 => Error::Unavailable,
            -6 => Error::ReadOnly,
            other => Error::Other(other),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidKey => f.write_str("invalid key"),
            Error::ValueTooLarge => f.write_str("value too large"),
            Error::QuotaExceeded => f.write_str("the app's key quota is reached"),
            Error::Unavailable => f.write_str("the store is unavailable"),
            Error::ReadOnly => f.write_str("the key is set by the app's env and is read-only"),
            Error::Other(code) => write!(f, "store error {code}"),
        }
    }
}

impl std::error::Error for Error {}

/// The value of `key`: from the app's `env` if it has one, else from the
/// store; `Ok(None)` when neither has it.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    match sys::db_get_status(key.as_bytes()) {
        Ok(value) => Ok(Some(value)),
        Err(-1) => Ok(None),
        Err(code) => Err(Error::from_code(code)),
    }
}

/// Stores `value` under `key`, durably, before it returns.
pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
    match sys::db_set(key.as_bytes(), value.as_ref()) {
        0 => Ok(()),
        code => Err(Error::from_code(code)),
    }
}

/// Deletes `key`; whether it was there.
pub fn delete(key: &str) -> Result<bool, Error> {
    match sys::db_delete(key.as_bytes()) {
        1 => Ok(true),
        0 => Ok(false),
        code => Err(Error::from_code(code)),
    }
}

/// The stored keys that begin with `prefix` (`""`: all of them), sorted.
pub fn list(prefix: &str) -> Result<Vec<String>, Error> {
    let listing = sys::db_list(prefix.as_bytes()).map_err(Error::from_code)?;
    Ok(String::from_utf8_lossy(&listing)
        .split_terminator('\n')
        .map(str::to_owned)
        .collect())
}
