//! `probe-spin3`: a wasi:http 0.3 component that drives Spin's async
//! interfaces `spin:key-value/key-value@3.0.0` and
//! `spin:variables/variables@3.0.0` from HTTP requests, the way a Spin 4 SDK
//! component calls them.
//!
//! Paths may start with one extra segment, the route an app is mounted at
//! (`/<app>/kv/...`). Every response body is `text/plain`.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /kv/<label>/<key>` | 200 value, 404 `absent` |
//! | `PUT /kv/<label>/<key>/<value>` | 200 `ok` |
//! | `DELETE /kv/<label>/<key>` | 200 `ok` |
//! | `GET /exists/<label>/<key>` | 200 `true` / `false` |
//! | `POST /fill/<label>/<n>` | sets `k0000`... `k<n-1>` to `v<i>`; 200 `ok` |
//! | `GET /keys/<label>` | every key of the `get-keys` stream + `\n`, then the future's outcome |
//! | `GET /keys/<label>/<n>` | the first `n` keys, then drops the stream; then the future's outcome |
//! | `GET /var/<name>` | 200 value |
//!
//! `get-keys` answers end with a line `outcome: ok` or `outcome: <error>`.
//! Key-value errors: `access-denied` 403, `no-such-store` 404,
//! `store-table-full` 503, `other: <message>` 500. Variables errors:
//! `invalid-name: <message>` 400, `undefined: <message>` 404,
//! `provider: <message>` and `other: <message>` 500.

mod bindings {
    // Import-only bindings from the vendored, unchanged Spin WIT in /wit
    // (see wit/README.md); the world itself is inline.
    wit_bindgen::generate!({
        inline: "
            package serverless-wasm:probe-spin3;

            world probe {
                import spin:key-value/key-value@3.0.0;
                import spin:variables/variables@3.0.0;
            }
        ",
        path: [
            "../../../../wit/spin-key-value-3.0.0",
            "../../../../wit/spin-variables-3.0.0",
        ],
        // The interfaces come from other packages than the inline one.
        generate_all,
        world: "serverless-wasm:probe-spin3/probe",
    });
}

use bindings::spin::key_value::key_value::{self, Store};
use bindings::spin::variables::variables;
use wasip3::http::types::{ErrorCode, Fields, Method, Request, Response};
use wasip3::{wit_future, wit_stream};

struct Probe;

wasip3::http::service::export!(Probe);

impl wasip3::exports::http::handler::Guest for Probe {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let (status, body) = match route(&request).await {
            Ok(reply) | Err(reply) => reply,
        };
        respond(status, body.into_bytes())
    }
}

/// Status and body.
type Reply = (u16, String);

/// `Err` carries a finished error reply, so handlers can use `?`.
type Answer = Result<Reply, Reply>;

fn ok(body: impl Into<String>) -> Answer {
    Ok((200, body.into()))
}

fn store_error(error: key_value::Error) -> Reply {
    match error {
        key_value::Error::AccessDenied => (403, "access-denied".into()),
        key_value::Error::NoSuchStore => (404, "no-such-store".into()),
        key_value::Error::StoreTableFull => (503, "store-table-full".into()),
        key_value::Error::Other(message) => (500, format!("other: {message}")),
    }
}

fn variables_error(error: variables::Error) -> Reply {
    match error {
        variables::Error::InvalidName(message) => (400, format!("invalid-name: {message}")),
        variables::Error::Undefined(message) => (404, format!("undefined: {message}")),
        variables::Error::Provider(message) => (500, format!("provider: {message}")),
        variables::Error::Other(message) => (500, format!("other: {message}")),
    }
}

async fn open(label: &str) -> Result<Store, Reply> {
    Store::open(label.to_string()).await.map_err(store_error)
}

async fn route(request: &Request) -> Answer {
    let path_with_query = request.get_path_with_query().unwrap_or_default();
    let path = path_with_query.split('?').next().unwrap_or_default();
    let mut segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    const OPERATIONS: [&str; 5] = ["kv", "exists", "fill", "keys", "var"];
    if segments.len() > 1 && !OPERATIONS.contains(&segments[0]) {
        segments.remove(0);
    }
    let method = request.get_method();
    match (segments.as_slice(), method) {
        (["kv", label, key], Method::Get) => {
            match open(label).await?.get(key.to_string()).await.map_err(store_error)? {
                Some(value) => ok(String::from_utf8_lossy(&value)),
                None => Err((404, "absent".into())),
            }
        }
        (["kv", label, key, value], Method::Put) => {
            let store = open(label).await?;
            store.set(key.to_string(), value.as_bytes().to_vec()).await.map_err(store_error)?;
            ok("ok")
        }
        (["kv", label, key], Method::Delete) => {
            open(label).await?.delete(key.to_string()).await.map_err(store_error)?;
            ok("ok")
        }
        (["exists", label, key], Method::Get) => {
            let found = open(label).await?.exists(key.to_string()).await.map_err(store_error)?;
            ok(if found { "true" } else { "false" })
        }
        (["fill", label, n], Method::Post) => {
            let n: u32 = n.parse().map_err(|_| (400, format!("bad request: count {n:?}")))?;
            let store = open(label).await?;
            for i in 0..n {
                let value = format!("v{i}").into_bytes();
                store.set(format!("k{i:04}"), value).await.map_err(store_error)?;
            }
            ok("ok")
        }
        (["keys", label], Method::Get) => keys(label, None).await,
        (["keys", label, n], Method::Get) => {
            let n: usize = n.parse().map_err(|_| (400, format!("bad request: count {n:?}")))?;
            keys(label, Some(n)).await
        }
        (["var", name], Method::Get) => {
            ok(variables::get(name.to_string()).await.map_err(variables_error)?)
        }
        _ => Err((404, "no route".into())),
    }
}

/// Reads the `get-keys` stream (all of it, or its first `first` keys and
/// then drops it), then awaits the future: the keys, one a line, and a
/// last line `outcome: ...`.
async fn keys(label: &str, first: Option<usize>) -> Answer {
    let store = open(label).await?;
    let (mut stream, outcome) = store.get_keys().await;
    let mut body = String::new();
    let mut read = 0;
    while first.is_none_or(|n| read < n) {
        let Some(key) = stream.next().await else {
            break;
        };
        body.push_str(&key);
        body.push('\n');
        read += 1;
    }
    drop(stream);
    match outcome.await {
        Ok(()) => body.push_str("outcome: ok\n"),
        Err(error) => body.push_str(&format!("outcome: {}\n", store_error(error).1)),
    }
    ok(body)
}

fn respond(status: u16, body: Vec<u8>) -> Result<Response, ErrorCode> {
    let headers =
        Fields::from_list(&[("content-type".to_string(), b"text/plain; charset=utf-8".to_vec())])
            .map_err(|e| ErrorCode::InternalError(Some(format!("{e:?}"))))?;
    let (mut body_tx, body_rx) = wit_stream::new();
    let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
    drop(trailers_tx);
    let (response, _sent) = Response::new(headers, Some(body_rx), trailers_rx);
    response
        .set_status_code(status)
        .map_err(|()| ErrorCode::InternalError(Some(format!("status {status}"))))?;
    wasip3::spawn_local(async move {
        let _unwritten = body_tx.write_all(body).await;
    });
    Ok(response)
}
