//! `echo`: sends the request back. The body is the request's body, byte for
//! byte, **streamed**: each chunk is written out as soon as it has been read,
//! so a large body never sits whole in the component's memory. Headers say
//! what the request was:
//!
//! - `x-echo-method`: the request method;
//! - `x-echo-path`: the path, without the query string;
//! - `x-echo-query`: the query string without `?`, only when it is present
//!   and not empty;
//! - `content-type`: the request's own, else `application/octet-stream`.
//!
//! A WASI 0.3 (`wasi:http@0.3.0`) service: it exports the async
//! `wasi:http/handler` interface. `handle` returns the response (status 200
//! and headers) before the body has been read; a spawned task then copies
//! the request's body stream into the response's.

use wasip3::http::types::{ErrorCode, Fields, Method, Request, Response};
use wasip3::wit_bindgen::StreamResult;
use wasip3::{wit_future, wit_stream};

/// The most bytes read from the request body at a time.
const CHUNK: usize = 64 * 1024;

struct Echo;

wasip3::http::service::export!(Echo);

impl wasip3::exports::http::handler::Guest for Echo {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let headers = echo_headers(&request)?;

        // Take the request's body: a stream of bytes and a future for its
        // trailers, which resolves once the stream has ended, to an error if
        // the body did not arrive whole. `request_result` tells the host how
        // handling the request ended.
        let (request_result_tx, request_result_rx) = wit_future::new(|| Ok(()));
        let (mut request_body, request_trailers) =
            Request::consume_body(request, request_result_rx);

        // The response's body: a stream that we write, and a future for its
        // trailers. A trailers error makes the host abort the response, so
        // the client sees a broken body, not a short one that looks whole.
        let (mut response_body, response_body_rx) = wit_stream::new();
        let (response_trailers, response_trailers_rx) = wit_future::new(|| Ok(None));
        // Status 200 is the default.
        let (response, _sent) =
            Response::new(headers, Some(response_body_rx), response_trailers_rx);

        wasip3::spawn_local(async move {
            let mut buf = Vec::with_capacity(CHUNK);
            loop {
                // Reads into `buf`'s spare capacity: at most CHUNK bytes,
                // whatever has arrived. `Dropped` means the body has ended.
                let (status, chunk) = request_body.read(buf).await;
                if !chunk.is_empty() {
                    let unwritten = response_body.write_all(chunk).await;
                    if !unwritten.is_empty() {
                        // The client has gone away: stop reading. Dropping
                        // the request's stream tells the host so.
                        return;
                    }
                    buf = unwritten; // empty: everything was written
                } else {
                    buf = chunk;
                }
                // Room for the next read (no new allocation when the buffer
                // already has it).
                buf.clear();
                buf.reserve(CHUNK);
                if !matches!(status, StreamResult::Complete(_)) {
                    break;
                }
            }
            // The request body's stream has ended: did the body arrive
            // whole? (The request's trailers themselves are not echoed.)
            drop(request_body);
            let outcome = request_trailers.await.map(|_trailers| None);
            let handled = outcome.as_ref().map(|_| ()).map_err(Clone::clone);
            // Closing the stream and then resolving the trailers ends the
            // response body, or after an error aborts it.
            drop(response_body);
            let _ = response_trailers.write(outcome).await;
            let _ = request_result_tx.write(handled).await;
        });
        Ok(response)
    }
}

/// The response headers: what the request's method, path and query were,
/// and its content-type.
fn echo_headers(request: &Request) -> Result<Fields, ErrorCode> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    entries.push((
        "x-echo-method".into(),
        method_name(&request.get_method()).into(),
    ));

    // An incoming request always has a path (with its query, if any).
    let path_with_query = request.get_path_with_query().unwrap_or_default();
    let (path, query) = path_with_query
        .split_once('?')
        .unwrap_or((path_with_query.as_str(), ""));
    entries.push(("x-echo-path".into(), path.into()));
    if !query.is_empty() {
        entries.push(("x-echo-query".into(), query.into()));
    }

    // Header values are bytes, not necessarily UTF-8. A header sent several
    // times has several values: join them as HTTP allows.
    let content_type = request.get_headers().get("content-type");
    let content_type = if content_type.is_empty() {
        b"application/octet-stream".to_vec()
    } else {
        content_type.join(&b", "[..])
    };
    entries.push(("content-type".into(), content_type));

    Fields::from_list(&entries).map_err(|e| ErrorCode::InternalError(Some(format!("{e:?}"))))
}

fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    }
}
