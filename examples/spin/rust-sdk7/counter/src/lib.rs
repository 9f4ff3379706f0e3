//! `counter`: a Spin component (Spin Rust SDK 7, wasi:http@0.3.0) that uses
//! the key-value store its manifest grants it (`key_value_stores =
//! ["default"]`) through every function of `spin:key-value/key-value@3.0.0`.
//!
//! Routes (spin.toml sends `/counter` and `/kv/...` here; the component
//! dispatches on the request's path):
//!
//! - `GET|POST /counter[?key=K]`: adds one to the number stored under `K`
//!   (default `counter`; a missing key counts as 0) and answers `200` with
//!   the new number and a newline, e.g. `1\n`, and `x-counter-key: K`.
//! - `GET /kv` (or `/kv/`): `get-keys`: the keys, sorted, one per line, and
//!   `x-key-count`.
//! - `GET /kv/K`: `get`: `200` with the value's bytes
//!   (`application/octet-stream`), or `404` `not found\n`.
//! - `GET /kv/K?exists`: `exists`: `200` `true\n` or `false\n`.
//! - `PUT|POST /kv/K`: `set` to the request body: `200` `stored\n`.
//! - `DELETE /kv/K`: `delete`: `200` `deleted\n` (also when it was absent).
//! - any other method on `/kv/K`: `405`.
//!
//! `K` is percent-decoded. Every route takes `?store=LABEL` (default
//! `default`) to open another store. A key-value error answers `500` with
//! `x-kv-error: KIND` and the body `error: KIND\n`, KIND being the error
//! case's WIT name: `access-denied`, `no-such-store`, `store-table-full` or
//! `other: MESSAGE`; for a failed `open` the body is
//! `error: KIND (opening "LABEL")\n`.

use bytes::Bytes;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{FullBody, IntoResponse, Method, Request, Response, StatusCode};
use spin_sdk::http_service;
use spin_sdk::key_value::{Error, Store};

type Reply = Response<FullBody<Bytes>>;

#[http_service]
async fn handle_counter(req: Request) -> anyhow::Result<impl IntoResponse> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let label = query_param(&query, "store").unwrap_or_else(|| "default".into());

    let store = match Store::open(&label).await {
        Ok(store) => store,
        Err(e) => {
            let kind = error_kind(&e);
            return Ok(reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &[("x-kv-error", &kind)],
                format!("error: {kind} (opening {label:?})\n"),
            ));
        }
    };

    let result = if path == "/kv" || path == "/kv/" {
        list(&store, req.method()).await
    } else if let Some(key) = path.strip_prefix("/kv/") {
        let key = decode(key, false);
        let method = req.method().clone();
        let body = req.into_body().bytes().await?;
        item(&store, &method, &key, &query, body).await
    } else {
        let key = query_param(&query, "key").unwrap_or_else(|| "counter".into());
        count(&store, &key).await
    };

    Ok(result.unwrap_or_else(|e| {
        let kind = error_kind(&e);
        reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &[("x-kv-error", &kind)],
            format!("error: {kind}\n"),
        )
    }))
}

/// `/counter`: read, add one, write back.
async fn count(store: &Store, key: &str) -> Result<Reply, Error> {
    let current = store
        .get(key)
        .await?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let next = current + 1;
    store.set(key, next.to_string()).await?;
    Ok(reply(
        StatusCode::OK,
        &[("x-counter-key", key)],
        format!("{next}\n"),
    ))
}

/// `/kv`: every key, through `get-keys`' stream.
async fn list(store: &Store, method: &Method) -> Result<Reply, Error> {
    if method != Method::GET {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            &[],
            "use GET on /kv\n",
        ));
    }
    let mut keys = store.get_keys().await.collect().await?;
    keys.sort();
    let body: String = keys.iter().map(|k| format!("{k}\n")).collect();
    Ok(reply(
        StatusCode::OK,
        &[("x-key-count", &keys.len().to_string())],
        body,
    ))
}

/// `/kv/KEY`: one key.
async fn item(
    store: &Store,
    method: &Method,
    key: &str,
    query: &str,
    body: Bytes,
) -> Result<Reply, Error> {
    Ok(match *method {
        Method::GET if has_param(query, "exists") => {
            let exists = store.exists(key).await?;
            reply(StatusCode::OK, &[], format!("{exists}\n"))
        }
        Method::GET => match store.get(key).await? {
            Some(value) => Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/octet-stream")
                .body(FullBody::new(Bytes::from(value)))
                .unwrap(),
            None => reply(StatusCode::NOT_FOUND, &[], "not found\n"),
        },
        Method::PUT | Method::POST => {
            store.set(key, &body).await?;
            reply(StatusCode::OK, &[], "stored\n")
        }
        Method::DELETE => {
            store.delete(key).await?;
            reply(StatusCode::OK, &[], "deleted\n")
        }
        _ => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            &[],
            "use GET, PUT, POST or DELETE on /kv/KEY\n",
        ),
    })
}

/// The error case's name in the WIT (`spin:key-value/key-value@3.0.0`).
fn error_kind(e: &Error) -> String {
    match e {
        Error::StoreTableFull => "store-table-full".into(),
        Error::NoSuchStore => "no-such-store".into(),
        Error::AccessDenied => "access-denied".into(),
        Error::Other(message) => format!("other: {message}"),
    }
}

fn reply(status: StatusCode, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(FullBody::new(body.into())).unwrap()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k, true) == name).then(|| decode(v, true))
    })
}

fn has_param(query: &str, name: &str) -> bool {
    query
        .split('&')
        .any(|pair| decode(pair.split_once('=').map_or(pair, |(k, _)| k), true) == name)
}

/// `%XX` escapes to bytes (invalid ones stay as they are); in a query
/// string `+` also stands for a space.
fn decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i + 1..i + 3) {
            Some(&[hi, lo]) if bytes[i] == b'%' => hex(hi).zip(hex(lo)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
