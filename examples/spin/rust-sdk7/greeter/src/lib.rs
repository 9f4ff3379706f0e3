//! `greeter`: a Spin component (Spin Rust SDK 7, wasi:http@0.3.0) that reads
//! its variables (`spin:variables/variables@3.0.0`) and shows what Spin told
//! it about the request: the URI it got and the `spin-*` headers.
//!
//! Routes (see spin.toml): `/hello/:name`, `/greet/...`, `/users/:userid/...`
//! answer the report below; `/greeter/kv` tries to open a key-value store,
//! which this component is not granted.
//!
//! The report: `200`, `content-type: text/plain; charset=utf-8`, lines
//!
//! ```text
//! {greeting}, {name}!
//! method: GET
//! uri: http://127.0.0.1:3000/hello/ann?x=1
//! body-length: 0
//! var greeting: Hello
//! var message: Hello from serverless-wasm
//! var literal: just a literal
//! var api_token: ...
//! var not_declared: error undefined: ...
//! var Bad-Name: error invalid-name: ...
//! spin-base-path: /
//! spin-client-addr: 127.0.0.1:50312
//! ...every request header whose name starts with `spin-`, sorted, one line each
//! ```
//!
//! where `{name}` is the `spin-path-match-name` header, else
//! `spin-path-match-userid`, else `world`, and a variable that cannot be read
//! shows `error KIND: MESSAGE` (KIND being the WIT case: `invalid-name`,
//! `undefined`, `provider`, `other`). The same facts come as response
//! headers: `x-greeting` (the `greeting` variable, or `error ...`),
//! `x-request-uri`, and `x-echo-spin-...` for each `spin-...` request header.
//!
//! `/greeter/kv[?store=LABEL]` opens the store LABEL (default `default`):
//! `500` with `x-kv-error: KIND` and the body `error: KIND\n` when that fails
//! (`access-denied` here, as the manifest grants this component no store;
//! `no-such-store` for a label the host does not know), else `200`
//! `opened LABEL\n`.

use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{IntoResponse, Request, Response, StatusCode};
use spin_sdk::http_service;
use spin_sdk::{key_value, variables};

/// The variables the report reads, in order: the first four are declared in
/// spin.toml; the last two are not (`Bad-Name` is not even a valid name).
const VARIABLES: [&str; 6] = [
    "greeting",
    "message",
    "literal",
    "api_token",
    "not_declared",
    "Bad-Name",
];

#[http_service]
async fn handle_greeter(req: Request) -> anyhow::Result<impl IntoResponse> {
    if req.uri().path() == "/greeter/kv" {
        return Ok(kv_probe(req.uri().query().unwrap_or("")).await);
    }

    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let name = header("spin-path-match-name")
        .or_else(|| header("spin-path-match-userid"))
        .unwrap_or_else(|| "world".into());
    let uri = req.uri().to_string();
    let method = req.method().to_string();

    let mut spin_headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("spin-"))
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    spin_headers.sort();

    let body_length = req.into_body().bytes().await?.len();

    let mut values = Vec::new();
    for variable in VARIABLES {
        let value = match variables::get(variable).await {
            Ok(value) => value,
            Err(e) => format!("error {}", variable_error(&e)),
        };
        values.push((variable, value));
    }
    let greeting = &values[0].1;

    let mut body =
        format!("{greeting}, {name}!\nmethod: {method}\nuri: {uri}\nbody-length: {body_length}\n");
    for (variable, value) in &values {
        body.push_str(&format!("var {variable}: {value}\n"));
    }
    for (name, value) in &spin_headers {
        body.push_str(&format!("{name}: {value}\n"));
    }

    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain; charset=utf-8")
        .header("x-greeting", greeting.as_str())
        .header("x-request-uri", uri.as_str());
    for (name, value) in &spin_headers {
        response = response.header(format!("x-echo-{name}"), value.as_str());
    }
    Ok(response.body(body)?)
}

/// Opens a store this component has not been granted.
async fn kv_probe(query: &str) -> Response<String> {
    let label = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("store="))
        .unwrap_or("default")
        .to_string();
    let (status, kind, body) = match key_value::Store::open(&label).await {
        Ok(_) => (StatusCode::OK, None, format!("opened {label}\n")),
        Err(e) => {
            let kind = match e {
                key_value::Error::StoreTableFull => "store-table-full".to_string(),
                key_value::Error::NoSuchStore => "no-such-store".to_string(),
                key_value::Error::AccessDenied => "access-denied".to_string(),
                key_value::Error::Other(message) => format!("other: {message}"),
            };
            let body = format!("error: {kind}\n");
            (StatusCode::INTERNAL_SERVER_ERROR, Some(kind), body)
        }
    };
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8");
    if let Some(kind) = kind {
        response = response.header("x-kv-error", kind);
    }
    response.body(body).unwrap()
}

/// `KIND: MESSAGE`, KIND being the case's name in the WIT.
fn variable_error(e: &variables::Error) -> String {
    match e {
        variables::Error::InvalidName(m) => format!("invalid-name: {m}"),
        variables::Error::Undefined(m) => format!("undefined: {m}"),
        variables::Error::Provider(m) => format!("provider: {m}"),
        variables::Error::Other(m) => format!("other: {m}"),
    }
}
