//! `notes`: a tiny note store on the app's key-value store, one note per
//! key, kept across requests and restarts.
//!
//! Routed at `/notes/...`:
//! - `PUT /notes/<key>` with the note as the body stores it;
//! - `GET /notes/<key>` answers it (404 when there is none);
//! - `DELETE /notes/<key>` deletes it;
//! - `GET /notes` (or `/notes/`) lists the keys, one a line; `?prefix=P` only
//!   those beginning with `P`.
//!
//! Keys are the rest of the path after the first segment, percent-decoded.

use serverless_wasm_sdk::{db, request, response};

#[unsafe(no_mangle)]
pub extern "C" fn handle() {
    let path = request::path();
    let key = path
        .trim_start_matches('/')
        .split_once('/')
        .map(|(_, rest)| percent_decode(rest))
        .unwrap_or_default();
    let method = request::method();
    let result = match (method.as_str(), key.is_empty()) {
        ("GET", true) => list(),
        ("GET", false) => db::get(&key).map(|note| match note {
            Some(note) => (200, note),
            None => (404, b"no such note\n".to_vec()),
        }),
        ("PUT", false) => db::set(&key, request::body()).map(|()| (200, b"stored\n".to_vec())),
        ("DELETE", false) => db::delete(&key).map(|deleted| match deleted {
            true => (200, b"deleted\n".to_vec()),
            false => (404, b"no such note\n".to_vec()),
        }),
        _ => Ok((
            405,
            b"use GET, PUT or DELETE /notes/<key>, or GET /notes\n".to_vec(),
        )),
    };
    let (status, body) =
        result.unwrap_or_else(|error| (error_status(error), format!("{error}\n").into_bytes()));
    response::set_status(status, "");
    response::set_header("content-type", "text/plain; charset=utf-8");
    response::set_body(body);
}

fn list() -> Result<(u16, Vec<u8>), db::Error> {
    let prefix = request::query()
        .and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("prefix=").map(percent_decode))
        })
        .unwrap_or_default();
    let keys = db::list(&prefix)?;
    let mut body = String::new();
    for key in keys {
        body.push_str(&key);
        body.push('\n');
    }
    Ok((200, body.into_bytes()))
}

fn error_status(error: db::Error) -> u16 {
    match error {
        db::Error::InvalidKey => 400,
        db::Error::ReadOnly => 403,
        db::Error::ValueTooLarge => 413,
        db::Error::QuotaExceeded => 507,
        db::Error::Unavailable | db::Error::Other(_) => 503,
    }
}

/// `%XX` escapes decoded; an invalid escape is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
