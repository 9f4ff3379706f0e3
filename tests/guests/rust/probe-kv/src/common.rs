//! The HTTP API shared by `probe-kv` (wasi:keyvalue@0.2.0-draft2) and
//! `probe-kv-draft` (wasi:keyvalue@0.2.0-draft): both crates compile this
//! file (`probe-kv-draft` through `#[path]`). What differs between the two
//! WIT versions lives in each crate's `version` module: the list-keys cursor
//! type (`string` or `u64`), the integer type of `increment` (`s64` or
//! `u64`), and compare-and-swap (draft2 only).
//!
//! Paths may start with one extra segment, the route an app is mounted at
//! (`/<app>/kv/...`), so that several apps can run the probe on one server.
//!
//! Every response has a `text/plain` body. Path segments (and query values)
//! are percent-decoded; `+` is kept as is.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /kv/<store>/<key>` | 200 value, 404 `absent` |
//! | `PUT /kv/<store>/<key>` (body = value) | 200 `ok` |
//! | `DELETE /kv/<store>/<key>` | 200 `ok` |
//! | `GET /exists/<store>/<key>` | 200 `true` / `false` |
//! | `GET /list/<store>` | every key + `\n`, all cursor pages; `x-pages: N` |
//! | `GET /list/<store>?cursor=C` | that one page; `x-cursor` if the host gave a next one |
//! | `GET /list/<store>?single` | the first page only, same headers as `?cursor` |
//! | `POST /incr/<store>/<key>?by=N` | 200 the new value (N defaults to 1) |
//! | `POST /cas-incr/<store>/<key>` | CAS loop adding 1; 200 the new value, `x-retries` |
//! | `POST /cas/<store>/<key>?expect=V` (body = new) | 200 `swapped`, 409 `conflict: <current or absent>` |
//! | `POST /batch/set/<store>` (body lines `k=v`) | 200 `ok` |
//! | `GET /batch/get/<store>?keys=a,b` | `k=v\n`, or `k\n` when absent, per key in order |
//! | `POST /batch/delete/<store>?keys=a,b` | 200 `ok` |
//! | `GET /config/<key>` | 200 value, 404 `absent` |
//! | `GET /config` | `k=v\n` per pair, sorted by key |
//! | `GET /opens/<store>` | opens the store twice, 200 `ok` |
//!
//! Store errors: `no-such-store` 404, `access-denied` 403, `other` 500, with
//! the body `<variant>` or `<variant>: <message>`. Config errors: 500
//! `upstream: <message>` or `io: <message>`. Problems the probe itself finds
//! (bad input, a host answer that breaks the interface's contract) use 400 or
//! 500 with a `bad request:` or `probe:` prefix; an unknown path is 404
//! `no route`, a known path with another method 405.

use crate::bindings::wasi::config::store as config;
use crate::bindings::wasi::keyvalue::{batch, store};
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse,
    ResponseOutparam,
};

/// The largest request body read (values, batch lines): 16 MiB.
const MAX_BODY: usize = 16 << 20;
/// `GET /list/<store>` gives up after this many pages (a host that never
/// stops handing out cursors).
const MAX_PAGES: u32 = 100_000;

pub struct Probe;

wasi::http::proxy::export!(Probe);

impl wasi::exports::http::incoming_handler::Guest for Probe {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let reply = route(&request).unwrap_or_else(|reply| reply);
        send(response_out, reply);
    }
}

/// A response: status, extra headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply { status, headers: Vec::new(), body: body.into() }
    }

    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(200, body)
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// `Err` carries a finished error reply, so handlers can use `?`.
pub type Answer = Result<Reply, Reply>;

pub fn bad_request(message: impl std::fmt::Display) -> Reply {
    Reply::new(400, format!("bad request: {message}"))
}

/// A broken promise of the host (the probe's own finding), as 500.
pub fn probe_error(message: impl std::fmt::Display) -> Reply {
    Reply::new(500, format!("probe: {message}"))
}

/// A `wasi:keyvalue/store.error` as status and body.
pub fn store_error(error: store::Error) -> Reply {
    match error {
        store::Error::NoSuchStore => Reply::new(404, "no-such-store"),
        store::Error::AccessDenied => Reply::new(403, "access-denied"),
        store::Error::Other(message) => Reply::new(500, format!("other: {message}")),
    }
}

/// A `wasi:config/store.error` as status and body.
fn config_error(error: config::Error) -> Reply {
    match error {
        config::Error::Upstream(message) => Reply::new(500, format!("upstream: {message}")),
        config::Error::Io(message) => Reply::new(500, format!("io: {message}")),
    }
}

/// A value or key as text for a body: lossy UTF-8.
pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The request, split into what the routes need.
pub struct Request<'a> {
    pub query: Vec<(String, String)>,
    incoming: &'a IncomingRequest,
}

impl Request<'_> {
    /// The first value of a query parameter (`Some("")` for `?name`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Reads the whole request body.
    pub fn body(&self) -> Result<Vec<u8>, Reply> {
        let body = self
            .incoming
            .consume()
            .map_err(|()| probe_error("the request body was already taken"))?;
        let mut bytes = Vec::new();
        {
            let stream = body.stream().map_err(|()| probe_error("no request body stream"))?;
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
                        return Err(probe_error(format!(
                            "reading the request body: {}",
                            e.to_debug_string()
                        )));
                    }
                }
            }
        }
        IncomingBody::finish(body);
        Ok(bytes)
    }
}

fn route(incoming: &IncomingRequest) -> Answer {
    let method = incoming.method();
    let path_with_query = incoming.path_with_query().unwrap_or_default();
    let (path, query) = match path_with_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_with_query.as_str(), None),
    };
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect::<Result<_, _>>()
        .map_err(bad_request)?;
    let query = parse_query(query.unwrap_or("")).map_err(bad_request)?;
    let request = Request { query, incoming };
    let mut segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    // Several apps run this probe on one server, each mounted at its own
    // `/<app>/...`: a first segment that names no operation is that mount.
    const OPERATIONS: [&str; 9] =
        ["kv", "exists", "list", "incr", "cas-incr", "cas", "batch", "config", "opens"];
    if segments.len() > 1 && !OPERATIONS.contains(&segments[0]) {
        segments.remove(0);
    }

    use Method::{Delete, Get, Post, Put};
    match (segments.as_slice(), method) {
        (["kv", store, key], Get) => kv_get(store, key),
        (["kv", store, key], Put) => kv_set(store, key, &request),
        (["kv", store, key], Delete) => kv_delete(store, key),
        (["exists", store, key], Get) => exists(store, key),
        (["list", store], Get) => list(store, &request),
        (["incr", store, key], Post) => crate::version::increment(&open(store)?, key, request.param("by")),
        (["cas-incr", store, key], Post) => crate::version::cas_increment(store, key),
        (["cas", store, key], Post) => {
            let new = request.body()?;
            crate::version::compare_and_swap(store, key, request.param("expect"), new)
        }
        (["batch", "set", store], Post) => batch_set(store, &request),
        (["batch", "get", store], Get) => batch_get(store, &request),
        (["batch", "delete", store], Post) => batch_delete(store, &request),
        (["config", key], Get) => config_get(key),
        (["config"], Get) => config_all(),
        (["opens", store], Get) => opens(store),
        (
            ["kv", _, _] | ["exists", _, _] | ["list", _] | ["incr", _, _] | ["cas-incr", _, _]
            | ["cas", _, _] | ["batch", "set" | "get" | "delete", _] | ["config", _] | ["config"]
            | ["opens", _],
            _,
        ) => Err(Reply::new(405, "method not allowed")),
        _ => Err(Reply::new(404, "no route")),
    }
}

pub fn open(name: &str) -> Result<store::Bucket, Reply> {
    store::open(name).map_err(store_error)
}

fn kv_get(name: &str, key: &str) -> Answer {
    match open(name)?.get(key).map_err(store_error)? {
        Some(value) => Ok(Reply::ok(value)),
        None => Ok(Reply::new(404, "absent")),
    }
}

fn kv_set(name: &str, key: &str, request: &Request) -> Answer {
    let value = request.body()?;
    open(name)?.set(key, &value).map_err(store_error)?;
    Ok(Reply::ok("ok"))
}

fn kv_delete(name: &str, key: &str) -> Answer {
    open(name)?.delete(key).map_err(store_error)?;
    Ok(Reply::ok("ok"))
}

fn exists(name: &str, key: &str) -> Answer {
    let found = open(name)?.exists(key).map_err(store_error)?;
    Ok(Reply::ok(if found { "true" } else { "false" }))
}

fn list(name: &str, request: &Request) -> Answer {
    let bucket = open(name)?;
    let single = match request.param("cursor") {
        Some(text) => Some(Some(crate::version::parse_cursor(text).map_err(bad_request)?)),
        None if request.param("single").is_some() => Some(None),
        None => None,
    };
    if let Some(cursor) = single {
        let page = crate::version::list_keys(&bucket, cursor.as_ref()).map_err(store_error)?;
        let body: String = page.keys.iter().map(|key| format!("{key}\n")).collect();
        let mut reply = Reply::ok(body).header("x-pages", "1");
        if let Some(next) = &page.cursor {
            reply = reply.header("x-cursor", crate::version::show_cursor(next));
        }
        return Ok(reply);
    }
    let mut body = String::new();
    let mut cursor = None;
    let mut pages = 0u32;
    loop {
        if pages == MAX_PAGES {
            return Err(probe_error(format!("list-keys gave more than {MAX_PAGES} pages")));
        }
        let page = crate::version::list_keys(&bucket, cursor.as_ref()).map_err(store_error)?;
        pages += 1;
        for key in &page.keys {
            body.push_str(key);
            body.push('\n');
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(Reply::ok(body).header("x-pages", pages.to_string()))
}

/// The `keys` query parameter, split on commas (`keys=` is no key at all).
fn keys_param(request: &Request) -> Result<Vec<String>, Reply> {
    let keys = request.param("keys").ok_or_else(|| bad_request("missing keys="))?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(keys.split(',').map(str::to_string).collect())
}

fn batch_set(name: &str, request: &Request) -> Answer {
    let body = request.body()?;
    let text = String::from_utf8(body).map_err(|_| bad_request("the body is not UTF-8"))?;
    let mut pairs = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        let (key, value) =
            line.split_once('=').ok_or_else(|| bad_request(format!("no '=' in line {line:?}")))?;
        pairs.push((key.to_string(), value.as_bytes().to_vec()));
    }
    batch::set_many(&open(name)?, &pairs).map_err(store_error)?;
    Ok(Reply::ok("ok"))
}

fn batch_get(name: &str, request: &Request) -> Answer {
    let keys = keys_param(request)?;
    let entries = crate::get_many(&open(name)?, &keys).map_err(store_error)?;
    if entries.len() != keys.len() {
        return Err(probe_error(format!(
            "get-many gave {} entries for {} keys",
            entries.len(),
            keys.len()
        )));
    }
    let mut body = String::new();
    for (index, (asked, entry)) in keys.iter().zip(entries).enumerate() {
        match entry {
            Some((key, value)) if key == *asked => body.push_str(&format!("{key}={}\n", show(&value))),
            Some((key, _)) => {
                return Err(probe_error(format!(
                    "get-many entry {index} is for key {key:?}, asked for {asked:?}"
                )));
            }
            None => body.push_str(&format!("{asked}\n")),
        }
    }
    Ok(Reply::ok(body))
}

fn batch_delete(name: &str, request: &Request) -> Answer {
    let keys = keys_param(request)?;
    batch::delete_many(&open(name)?, &keys).map_err(store_error)?;
    Ok(Reply::ok("ok"))
}

fn config_get(key: &str) -> Answer {
    match config::get(key).map_err(config_error)? {
        Some(value) => Ok(Reply::ok(value)),
        None => Ok(Reply::new(404, "absent")),
    }
}

fn config_all() -> Answer {
    let mut pairs = config::get_all().map_err(config_error)?;
    pairs.sort();
    Ok(Reply::ok(pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>()))
}

fn opens(name: &str) -> Answer {
    let first = open(name)?;
    let second = open(name)?;
    drop((first, second));
    Ok(Reply::ok("ok"))
}

/// Decodes `%XX` escapes; the result must be UTF-8.
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

fn parse_query(query: &str) -> Result<Vec<(String, String)>, String> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            Ok((percent_decode(key)?, percent_decode(value)?))
        })
        .collect()
}

fn send(response_out: ResponseOutparam, reply: Reply) {
    let mut headers = vec![(
        "content-type".to_string(),
        b"text/plain; charset=utf-8".to_vec(),
    )];
    let plain = headers.clone();
    headers.extend(reply.headers.into_iter().map(|(k, v)| (k, v.into_bytes())));
    // A header the host gave us (a cursor) may not be a valid header value.
    let (fields, status, body) = match Fields::from_list(&headers) {
        Ok(fields) => (fields, reply.status, reply.body),
        Err(error) => (
            Fields::from_list(&plain).expect("valid content-type"),
            500,
            format!("probe: cannot send the headers {headers:?}: {error:?}").into_bytes(),
        ),
    };
    let response = OutgoingResponse::new(fields);
    response.set_status_code(status).expect("valid status");
    let outgoing = response.body().expect("body");
    ResponseOutparam::set(response_out, Ok(response));
    let stream = outgoing.write().expect("stream");
    for chunk in body.chunks(4096) {
        stream.blocking_write_and_flush(chunk).expect("write");
    }
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finish");
}
