//! The HTTP API of `probe-spin` (and `probe-spin-unprovided`, which compiles
//! this file through `#[path]` and adds routes in its `extra_route`).
//!
//! Paths may start with one extra segment, the route an app is mounted at
//! (`/<app>/kv/...`), so that several apps can run the probe on one server.
//! Path segments are percent-decoded. Every response body is `text/plain`.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /kv/<label>/<key>` | 200 value, 404 `absent` |
//! | `PUT /kv/<label>/<key>` (body = value) | 200 `ok` |
//! | `DELETE /kv/<label>/<key>` | 200 `ok` |
//! | `GET /exists/<label>/<key>` | 200 `true` / `false` |
//! | `GET /keys/<label>` | every key + `\n`, in the order `get-keys` gave them |
//! | `GET /var/<name>` | 200 value |
//!
//! Key-value errors: `access-denied` 403, `no-such-store` 404,
//! `store-table-full` 503, `other: <message>` 500. Variables errors:
//! `invalid-name: <message>` 400, `undefined: <message>` 404,
//! `provider: <message>` and `other: <message>` 500. An unknown path is 404
//! `no route`, a known one with another method 405.

use crate::bindings::fermyon::spin::key_value::{self, Store};
use crate::bindings::fermyon::spin::variables;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// The largest request body read: 16 MiB.
const MAX_BODY: usize = 16 << 20;

pub struct Probe;

wasi::http::proxy::export!(Probe);

impl wasi::exports::http::incoming_handler::Guest for Probe {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let reply = route(&request).unwrap_or_else(|reply| reply);
        send(response_out, reply);
    }
}

/// A response: status and body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply { status, body: body.into() }
    }

    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(200, body)
    }
}

/// `Err` carries a finished error reply, so handlers can use `?`.
pub type Answer = Result<Reply, Reply>;

fn store_error(error: key_value::Error) -> Reply {
    match error {
        key_value::Error::AccessDenied => Reply::new(403, "access-denied"),
        key_value::Error::NoSuchStore => Reply::new(404, "no-such-store"),
        key_value::Error::StoreTableFull => Reply::new(503, "store-table-full"),
        key_value::Error::Other(message) => Reply::new(500, format!("other: {message}")),
    }
}

fn variables_error(error: variables::Error) -> Reply {
    match error {
        variables::Error::InvalidName(message) => {
            Reply::new(400, format!("invalid-name: {message}"))
        }
        variables::Error::Undefined(message) => Reply::new(404, format!("undefined: {message}")),
        variables::Error::Provider(message) => Reply::new(500, format!("provider: {message}")),
        variables::Error::Other(message) => Reply::new(500, format!("other: {message}")),
    }
}

fn route(incoming: &IncomingRequest) -> Answer {
    let path_with_query = incoming.path_with_query().unwrap_or_default();
    let path = path_with_query.split('?').next().unwrap_or_default();
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect::<Result<_, _>>()
        .map_err(|e| Reply::new(400, format!("bad request: {e}")))?;
    let mut segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    // `sqlite` and `redis`: `probe-spin-unprovided`'s routes.
    const OPERATIONS: [&str; 6] = ["kv", "exists", "keys", "var", "sqlite", "redis"];
    if segments.len() > 1 && !OPERATIONS.contains(&segments[0]) {
        segments.remove(0);
    }
    if let Some(answer) = crate::extra_route(&segments) {
        return answer;
    }

    use Method::{Delete, Get, Put};
    match (segments.as_slice(), incoming.method()) {
        (["kv", label, key], Get) => match open(label)?.get(key).map_err(store_error)? {
            Some(value) => Ok(Reply::ok(value)),
            None => Ok(Reply::new(404, "absent")),
        },
        (["kv", label, key], Put) => {
            let value = body(incoming)?;
            open(label)?.set(key, &value).map_err(store_error)?;
            Ok(Reply::ok("ok"))
        }
        (["kv", label, key], Delete) => {
            open(label)?.delete(key).map_err(store_error)?;
            Ok(Reply::ok("ok"))
        }
        (["exists", label, key], Get) => {
            let found = open(label)?.exists(key).map_err(store_error)?;
            Ok(Reply::ok(if found { "true" } else { "false" }))
        }
        (["keys", label], Get) => {
            let keys = open(label)?.get_keys().map_err(store_error)?;
            Ok(Reply::ok(keys.iter().map(|key| format!("{key}\n")).collect::<String>()))
        }
        (["var", name], Get) => Ok(Reply::ok(variables::get(name).map_err(variables_error)?)),
        (["kv", _, _] | ["exists", _, _] | ["keys", _] | ["var", _], _) => {
            Err(Reply::new(405, "method not allowed"))
        }
        _ => Err(Reply::new(404, "no route")),
    }
}

fn open(label: &str) -> Result<Store, Reply> {
    Store::open(label).map_err(store_error)
}

/// Reads the whole request body.
fn body(incoming: &IncomingRequest) -> Result<Vec<u8>, Reply> {
    let probe = |message: String| Reply::new(500, format!("probe: {message}"));
    let body = incoming.consume().map_err(|()| probe("the body was already taken".into()))?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| probe("no body stream".into()))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > MAX_BODY {
                        return Err(Reply::new(413, "bad request: body over 16 MiB"));
                    }
                }
                Err(wasi::io::streams::StreamError::Closed) => break,
                Err(wasi::io::streams::StreamError::LastOperationFailed(e)) => {
                    return Err(probe(format!("reading the body: {}", e.to_debug_string())));
                }
            }
        }
    }
    IncomingBody::finish(body);
    Ok(bytes)
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

fn send(response_out: ResponseOutparam, reply: Reply) {
    let headers = [("content-type".to_string(), b"text/plain; charset=utf-8".to_vec())];
    let response = OutgoingResponse::new(Fields::from_list(&headers).expect("valid header"));
    response.set_status_code(reply.status).expect("valid status");
    let outgoing = response.body().expect("body");
    ResponseOutparam::set(response_out, Ok(response));
    let stream = outgoing.write().expect("stream");
    for chunk in reply.body.chunks(4096) {
        stream.blocking_write_and_flush(chunk).expect("write");
    }
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finish");
}
