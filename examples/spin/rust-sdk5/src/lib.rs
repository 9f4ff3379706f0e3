//! `kv-vars`: a Spin component written with the Spin Rust SDK 5 (a
//! `wasi:http/incoming-handler@0.2.0` handler), using every function of
//! `fermyon:spin/key-value@2.0.0` and `fermyon:spin/variables@2.0.0`.
//!
//! Routes (spin.toml sends `/counter`, `/kv/...` and `/info/...` here):
//!
//! - `GET|POST /counter[?key=K]`: adds one to the number under `K` (default
//!   `counter`) and answers `200` `N\n` with `x-counter-key: K`.
//! - `GET /kv` (or `/kv/`): `get-keys`: the keys, sorted, one per line, and
//!   `x-key-count`.
//! - `GET /kv/K`: `get`: `200` with the value's bytes
//!   (`application/octet-stream`), or `404` `not found\n`.
//! - `GET /kv/K?exists`: `exists`: `200` `true\n` or `false\n`.
//! - `PUT|POST /kv/K`: `set` to the request body: `200` `stored\n`.
//! - `DELETE /kv/K`: `delete`: `200` `deleted\n`.
//! - any other method on `/kv/K`: `405`.
//! - `/info/...`: `200`, the lines
//!   `method: M`, `uri: U` (the URI the component got), `body-length: N`,
//!   `var greeting: ...`, `var literal: ...`, `var not_declared: error
//!   undefined: ...`, `var Bad-Name: error invalid-name: ...`, then every
//!   `spin-*` request header as `name: value`, sorted.
//!
//! `K` is percent-decoded. `/counter` and `/kv` take `?store=LABEL` (default
//! `default`). A key-value error answers `500` with `x-kv-error: KIND` and
//! `error: KIND\n` (`error: KIND (opening "LABEL")\n` when `open` failed),
//! KIND being the WIT case: `access-denied`, `no-such-store`,
//! `store-table-full` or `other: MESSAGE`.

use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::{Error, Store};
use spin_sdk::variables;

#[http_component]
fn handle_kv_vars(req: Request) -> anyhow::Result<impl IntoResponse> {
    let path = req.path().to_string();
    let query = req.query().to_string();

    if path == "/info" || path.starts_with("/info/") {
        return Ok(info(&req));
    }

    let label = query_param(&query, "store").unwrap_or_else(|| "default".into());
    let store = match Store::open(&label) {
        Ok(store) => store,
        Err(e) => {
            let kind = error_kind(&e);
            return Ok(reply(
                500,
                &[("x-kv-error", &kind)],
                format!("error: {kind} (opening {label:?})\n"),
            ));
        }
    };

    let result = if path == "/kv" || path == "/kv/" {
        list(&store, req.method())
    } else if let Some(key) = path.strip_prefix("/kv/") {
        item(
            &store,
            req.method(),
            &decode(key, false),
            &query,
            req.body(),
        )
    } else {
        let key = query_param(&query, "key").unwrap_or_else(|| "counter".into());
        count(&store, &key)
    };

    Ok(result.unwrap_or_else(|e| {
        let kind = error_kind(&e);
        reply(500, &[("x-kv-error", &kind)], format!("error: {kind}\n"))
    }))
}

fn count(store: &Store, key: &str) -> Result<Response, Error> {
    let current = store
        .get(key)?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let next = current + 1;
    store.set(key, next.to_string().as_bytes())?;
    Ok(reply(200, &[("x-counter-key", key)], format!("{next}\n")))
}

fn list(store: &Store, method: &Method) -> Result<Response, Error> {
    if *method != Method::Get {
        return Ok(reply(405, &[], "use GET on /kv\n".into()));
    }
    let mut keys = store.get_keys()?;
    keys.sort();
    let body: String = keys.iter().map(|k| format!("{k}\n")).collect();
    Ok(reply(
        200,
        &[("x-key-count", &keys.len().to_string())],
        body,
    ))
}

fn item(
    store: &Store,
    method: &Method,
    key: &str,
    query: &str,
    body: &[u8],
) -> Result<Response, Error> {
    Ok(match method {
        Method::Get if has_param(query, "exists") => {
            reply(200, &[], format!("{}\n", store.exists(key)?))
        }
        Method::Get => match store.get(key)? {
            Some(value) => Response::builder()
                .status(200)
                .header("content-type", "application/octet-stream")
                .body(value)
                .build(),
            None => reply(404, &[], "not found\n".into()),
        },
        Method::Put | Method::Post => {
            store.set(key, body)?;
            reply(200, &[], "stored\n".into())
        }
        Method::Delete => {
            store.delete(key)?;
            reply(200, &[], "deleted\n".into())
        }
        _ => reply(405, &[], "use GET, PUT, POST or DELETE on /kv/KEY\n".into()),
    })
}

/// The variables and what Spin told the component about the request.
fn info(req: &Request) -> Response {
    let mut body = format!(
        "method: {}\nuri: {}\nbody-length: {}\n",
        req.method(),
        req.uri(),
        req.body().len()
    );
    for name in ["greeting", "literal", "not_declared", "Bad-Name"] {
        let value = match variables::get(name) {
            Ok(value) => value,
            Err(e) => format!("error {}", variable_error(&e)),
        };
        body.push_str(&format!("var {name}: {value}\n"));
    }
    let mut headers: Vec<(String, String)> = req
        .headers()
        .filter(|(name, _)| name.starts_with("spin-"))
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    headers.sort();
    for (name, value) in headers {
        body.push_str(&format!("{name}: {value}\n"));
    }
    reply(200, &[], body)
}

fn error_kind(e: &Error) -> String {
    match e {
        Error::StoreTableFull => "store-table-full".into(),
        Error::NoSuchStore => "no-such-store".into(),
        Error::AccessDenied => "access-denied".into(),
        Error::Other(message) => format!("other: {message}"),
    }
}

fn variable_error(e: &variables::Error) -> String {
    match e {
        variables::Error::InvalidName(m) => format!("invalid-name: {m}"),
        variables::Error::Undefined(m) => format!("undefined: {m}"),
        variables::Error::Provider(m) => format!("provider: {m}"),
        variables::Error::Other(m) => format!("other: {m}"),
    }
}

fn reply(status: u16, headers: &[(&str, &str)], body: String) -> Response {
    let mut builder = Response::builder();
    builder
        .status(status)
        .header("content-type", "text/plain; charset=utf-8");
    for (name, value) in headers {
        builder.header(*name, *value);
    }
    builder.body(body).build()
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
