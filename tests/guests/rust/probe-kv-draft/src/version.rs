//! What wasi:keyvalue@0.2.0-draft does differently from draft2: a `u64`
//! cursor, an unsigned `u64` increment, and no compare-and-swap (so
//! `/cas-incr` and `/cas` answer 501).

use crate::bindings::wasi::keyvalue::atomics;
use crate::bindings::wasi::keyvalue::store::{Bucket, Error, KeyResponse};
use crate::common::{Answer, Reply, bad_request, store_error};

pub type Cursor = u64;

pub fn parse_cursor(text: &str) -> Result<Cursor, String> {
    text.parse().map_err(|_| format!("cursor={text:?} is not a u64"))
}

pub fn list_keys(bucket: &Bucket, cursor: Option<&Cursor>) -> Result<KeyResponse, Error> {
    bucket.list_keys(cursor.copied())
}

pub fn show_cursor(cursor: &Cursor) -> String {
    cursor.to_string()
}

pub fn increment(bucket: &Bucket, key: &str, by: Option<&str>) -> Answer {
    let delta = match by {
        None => 1,
        Some(text) => text.parse::<u64>().map_err(|_| bad_request(format!("by={text:?} is not a u64")))?,
    };
    let value = atomics::increment(bucket, key, delta).map_err(store_error)?;
    Ok(Reply::ok(value.to_string()))
}

fn no_cas() -> Answer {
    Err(Reply::new(501, "not implemented: wasi:keyvalue@0.2.0-draft has no compare-and-swap"))
}

pub fn cas_increment(_store: &str, _key: &str) -> Answer {
    no_cas()
}

pub fn compare_and_swap(_store: &str, _key: &str, _expect: Option<&str>, _new: Vec<u8>) -> Answer {
    no_cas()
}
