//! `db_get`, `db_set`, `db_delete` and `db_list`: the classic face of the
//! app's key-value store. `db_get` reads the app's `env` first (read-only,
//! as the original ABI had it), then its private `default` store; the others
//! act on the store alone. Every pointer is checked before the store is
//! touched, so a call that traps has written nothing.

use wasmtime::{Caller, Linker};

use super::{HostState, copy_out, guest_memory, guest_range};
use crate::kv::{KvError, MAX_KEY_BYTES};

/// The key-value results a guest can tell apart; the reason goes to the log.
/// -1 is "absent", as for every getter.
#[repr(i64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbStatus {
    /// Too long, not UTF-8, or (for `db_set`) containing `\n`.
    InvalidKey = -2,
    ValueTooLarge = -3,
    /// The app's `max_keys` is reached.
    QuotaExceeded = -4,
    /// The store's backend cannot be reached; the call may succeed later.
    Unavailable = -5,
    /// The key is defined by the app's `env`, which guests cannot change.
    ReadOnly = -6,
}

/// How many keys `db_list` asks the backend for at a time.
const LIST_PAGE: usize = 1000;

pub fn define(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.func_wrap_async(
        "env",
        "db_get",
        |caller, (key_ptr, key_size, ptr, size): (i32, i64, i32, i64)| {
            Box::new(get(caller, key_ptr, key_size, ptr, size))
        },
    )?;
    linker.func_wrap_async(
        "env",
        "db_set",
        |caller, (key_ptr, key_size, ptr, size): (i32, i64, i32, i64)| {
            Box::new(set(caller, key_ptr, key_size, ptr, size))
        },
    )?;
    linker.func_wrap_async(
        "env",
        "db_delete",
        |caller, (key_ptr, key_size): (i32, i64)| Box::new(delete(caller, key_ptr, key_size)),
    )?;
    linker.func_wrap_async(
        "env",
        "db_list",
        |caller, (prefix_ptr, prefix_size, ptr, size): (i32, i64, i32, i64)| {
            Box::new(list(caller, prefix_ptr, prefix_size, ptr, size))
        },
    )?;
    Ok(())
}

async fn get(
    mut caller: Caller<'_, HostState>,
    key_ptr: i32,
    key_size: i64,
    ptr: i32,
    size: i64,
) -> wasmtime::Result<i64> {
    let (memory, state) = guest_memory(&mut caller)?;
    guest_range(memory, ptr, size)?;
    let key = memory[guest_range(memory, key_ptr, key_size)?].to_vec();
    if let Some(value) = state.app.env_value(&String::from_utf8_lossy(&key)) {
        return copy_out(memory, ptr, size, Some(value.as_bytes().into()));
    }
    let Ok(key) = store_key(&key) else {
        return Ok(DbStatus::InvalidKey as i64);
    };
    let store = state.app.stores.default_store().clone();
    let value = match store.get(&key).await {
        Ok(value) => value,
        Err(error) => return Ok(status(&error, "db_get")),
    };
    let (memory, _) = guest_memory(&mut caller)?;
    copy_out(memory, ptr, size, value.map(Into::into))
}

async fn set(
    mut caller: Caller<'_, HostState>,
    key_ptr: i32,
    key_size: i64,
    ptr: i32,
    size: i64,
) -> wasmtime::Result<i64> {
    let (memory, state) = guest_memory(&mut caller)?;
    let key = memory[guest_range(memory, key_ptr, key_size)?].to_vec();
    let value = memory[guest_range(memory, ptr, size)?].to_vec();
    let key = match store_key(&key) {
        Ok(key) if !key.contains('\n') => key,
        _ => return Ok(DbStatus::InvalidKey as i64),
    };
    if state.app.env_value(&key).is_some() {
        return Ok(DbStatus::ReadOnly as i64);
    }
    let store = state.app.stores.default_store().clone();
    Ok(match store.set(&key, value).await {
        Ok(()) => 0,
        Err(error) => status(&error, "db_set"),
    })
}

async fn delete(
    mut caller: Caller<'_, HostState>,
    key_ptr: i32,
    key_size: i64,
) -> wasmtime::Result<i64> {
    let (memory, state) = guest_memory(&mut caller)?;
    let key = memory[guest_range(memory, key_ptr, key_size)?].to_vec();
    let Ok(key) = store_key(&key) else {
        return Ok(DbStatus::InvalidKey as i64);
    };
    if state.app.env_value(&key).is_some() {
        return Ok(DbStatus::ReadOnly as i64);
    }
    let store = state.app.stores.default_store().clone();
    Ok(match store.delete(&key).await {
        Ok(deleted) => i64::from(deleted),
        Err(error) => status(&error, "db_delete"),
    })
}

async fn list(
    mut caller: Caller<'_, HostState>,
    prefix_ptr: i32,
    prefix_size: i64,
    ptr: i32,
    size: i64,
) -> wasmtime::Result<i64> {
    let (memory, state) = guest_memory(&mut caller)?;
    guest_range(memory, ptr, size)?;
    let prefix = memory[guest_range(memory, prefix_ptr, prefix_size)?].to_vec();
    let Ok(prefix) = String::from_utf8(prefix) else {
        return Ok(DbStatus::InvalidKey as i64);
    };
    let store = state.app.stores.default_store().clone();
    let mut listing = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = match store.list(&prefix, after.as_deref(), LIST_PAGE).await {
            Ok(page) => page,
            Err(error) => return Ok(status(&error, "db_list")),
        };
        for key in &page {
            listing.extend_from_slice(key.as_bytes());
            listing.push(b'\n');
        }
        if page.len() < LIST_PAGE {
            break;
        }
        after = page.into_iter().next_back();
    }
    let (memory, _) = guest_memory(&mut caller)?;
    copy_out(memory, ptr, size, Some(listing.into()))
}

/// A key as the stores take it: UTF-8, at most [`MAX_KEY_BYTES`].
fn store_key(bytes: &[u8]) -> Result<String, ()> {
    if bytes.len() > MAX_KEY_BYTES {
        return Err(());
    }
    String::from_utf8(bytes.to_vec()).map_err(drop)
}

/// The guest's code for a store error, logged where the guest cannot show it.
fn status(error: &KvError, function: &str) -> i64 {
    let code = match error {
        KvError::KeyTooLarge(_) => DbStatus::InvalidKey,
        KvError::ValueTooLarge { .. } => DbStatus::ValueTooLarge,
        KvError::QuotaExceeded(_) => DbStatus::QuotaExceeded,
        KvError::Unavailable(_)
        | KvError::AccessDenied(_)
        | KvError::NoSuchStore(_)
        | KvError::NotAnInteger(_) => DbStatus::Unavailable,
    };
    if code == DbStatus::Unavailable {
        tracing::warn!(target: "guest", "{function}: {error}");
    } else {
        tracing::debug!(target: "guest", "{function}: {error}");
    }
    code as i64
}
