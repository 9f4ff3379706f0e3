//! What wasi:keyvalue@0.2.0-draft2 has that 0.2.0-draft does not: a
//! `string` cursor, a signed `s64` increment, and compare-and-swap.

use crate::bindings::wasi::keyvalue::atomics;
use crate::bindings::wasi::keyvalue::store::{Bucket, Error, KeyResponse};
use crate::common::{Answer, Reply, bad_request, open, probe_error, show, store_error};

/// `POST /cas-incr` gives up after this many `cas-failed` answers.
const MAX_RETRIES: u32 = 10_000;

pub type Cursor = String;

pub fn parse_cursor(text: &str) -> Result<Cursor, String> {
    Ok(text.to_string())
}

pub fn list_keys(bucket: &Bucket, cursor: Option<&Cursor>) -> Result<KeyResponse, Error> {
    bucket.list_keys(cursor.map(String::as_str))
}

pub fn show_cursor(cursor: &Cursor) -> String {
    cursor.clone()
}

pub fn increment(bucket: &Bucket, key: &str, by: Option<&str>) -> Answer {
    let delta = match by {
        None => 1,
        Some(text) => text.parse::<i64>().map_err(|_| bad_request(format!("by={text:?} is not an s64")))?,
    };
    let value = atomics::increment(bucket, key, delta).map_err(store_error)?;
    Ok(Reply::ok(value.to_string()))
}

/// The current value of a CAS handle as a counter: absent is 0.
fn counter(cas: &atomics::Cas) -> Result<i64, Reply> {
    match cas.current().map_err(store_error)? {
        None => Ok(0),
        Some(bytes) => show(&bytes)
            .trim()
            .parse::<i64>()
            .map_err(|_| Reply::new(409, format!("conflict: not a number: {}", show(&bytes)))),
    }
}

/// `cas.new`, `current`, `swap(current + 1)`; on `cas-failed` it goes on
/// with the handle the host returned (which must see the newer value).
pub fn cas_increment(store: &str, key: &str) -> Answer {
    let bucket = open(store)?;
    let mut cas = atomics::Cas::new(&bucket, key).map_err(store_error)?;
    let mut retries = 0u32;
    loop {
        let next = counter(&cas)?
            .checked_add(1)
            .ok_or_else(|| probe_error("the counter overflows s64"))?;
        match atomics::swap(cas, next.to_string().as_bytes()) {
            Ok(()) => return Ok(Reply::ok(next.to_string()).header("x-retries", retries.to_string())),
            Err(atomics::CasError::StoreError(error)) => return Err(store_error(error)),
            Err(atomics::CasError::CasFailed(newer)) => {
                retries += 1;
                if retries > MAX_RETRIES {
                    return Err(Reply::new(409, format!("conflict: gave up after {MAX_RETRIES} retries")));
                }
                cas = newer;
            }
        }
    }
}

/// Swaps in `new` only if the current value is `expect` (`None`: absent).
pub fn compare_and_swap(store: &str, key: &str, expect: Option<&str>, new: Vec<u8>) -> Answer {
    let bucket = open(store)?;
    let cas = atomics::Cas::new(&bucket, key).map_err(store_error)?;
    let current = cas.current().map_err(store_error)?;
    if current.as_deref() != expect.map(str::as_bytes) {
        return Err(conflict(current));
    }
    match atomics::swap(cas, &new) {
        Ok(()) => Ok(Reply::ok("swapped")),
        Err(atomics::CasError::StoreError(error)) => Err(store_error(error)),
        Err(atomics::CasError::CasFailed(newer)) => Err(conflict(newer.current().map_err(store_error)?)),
    }
}

fn conflict(current: Option<Vec<u8>>) -> Reply {
    let shown = current.map_or_else(|| "absent".to_string(), |value| show(&value));
    Reply::new(409, format!("conflict: {shown}"))
}
