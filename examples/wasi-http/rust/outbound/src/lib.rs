//! `outbound`: makes an HTTP request of its own. For every request it GETs
//! the URL in the environment variable `BACKEND_URL` (e.g.
//! `http://127.0.0.1:8181/some/path`) through `wasi:http/outgoing-handler`
//! and answers:
//!
//! - `200`, with `x-upstream-status: <the upstream's status>` and the
//!   upstream's body, streamed through;
//! - `500` `BACKEND_URL is not set\n` when the variable is missing (and a
//!   500 that says so when it is not an `http://` or `https://` URL);
//! - `502` `outbound request failed: <error code>\n` when the request fails,
//!   e.g. because the host does not allow it or nothing listens there.
//!
//! The host decides which requests a component may make. With
//! `wasmtime serve`, give the variable with `--env BACKEND_URL=...`, and
//! `-S cli`: environment variables (`wasi:cli/environment`) are not part of
//! the wasi:http/proxy world, and `-S cli` provides them.

use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, IncomingResponse, OutgoingBody,
    OutgoingRequest, OutgoingResponse, ResponseOutparam, Scheme, StatusCode,
};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

struct Outbound;

wasi::http::proxy::export!(Outbound);

impl wasi::exports::http::incoming_handler::Guest for Outbound {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let Ok(url) = std::env::var("BACKEND_URL") else {
            return respond(response_out, 500, b"BACKEND_URL is not set\n");
        };
        let Some(request) = get_request(&url) else {
            let message = format!("BACKEND_URL is not set to an http(s) URL: {url}\n");
            return respond(response_out, 500, message.as_bytes());
        };
        match send(request) {
            Ok(upstream) => forward(upstream, response_out),
            Err(code) => {
                // ErrorCode's Debug text, e.g. `ErrorCode::HttpRequestDenied`.
                let message = format!("outbound request failed: {code:?}\n");
                respond(response_out, 502, message.as_bytes());
            }
        }
    }
}

/// A GET request for `url` (`http://authority/path?query` or `https://...`),
/// or `None` when `url` is not of that form.
fn get_request(url: &str) -> Option<OutgoingRequest> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return None;
    };
    // The authority (host and port) ends where the path or query begins.
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };

    // A new request is a GET with no headers; the URL is set in parts.
    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&scheme)).ok()?;
    request.set_authority(Some(authority)).ok()?;
    request.set_path_with_query(Some(&path)).ok()?;
    Some(request)
}

/// Sends `request` and waits for the upstream's status and headers (the body
/// is read later, as a stream).
fn send(request: OutgoingRequest) -> Result<IncomingResponse, ErrorCode> {
    // The host may refuse the request at once (e.g. `HttpRequestDenied`)...
    let future = outgoing_handler::handle(request, None)?;
    // ...or fail later (e.g. `ConnectionRefused`): wait for either outcome.
    future.subscribe().block();
    future
        .get()
        .expect("the response is ready once its pollable is")
        .expect("the response is taken only once")
}

/// Answers 200 with the upstream's status in a header and its body.
fn forward(upstream: IncomingResponse, response_out: ResponseOutparam) {
    let headers = Fields::new();
    let status = upstream.status().to_string();
    headers
        .append("x-upstream-status", status.as_bytes())
        .expect("valid header");
    let response = OutgoingResponse::new(headers);
    let out_body = response.body().expect("the body is taken only once");
    ResponseOutparam::set(response_out, Ok(response));

    let in_body = upstream.consume().expect("the body is consumed only once");
    let copied = {
        let input = in_body.stream().expect("the stream is taken only once");
        let output = out_body.write().expect("the stream is taken only once");
        copy(&input, &output)
    };
    drop(IncomingBody::finish(in_body));
    match copied {
        Ok(()) => OutgoingBody::finish(out_body, None).expect("finish the body"),
        // Not finishing the body makes the host abort the response.
        Err(_) => drop(out_body),
    }
}

/// Answers with `status`, a plain-text `body`, and nothing else.
fn respond(response_out: ResponseOutparam, status: StatusCode, body: &[u8]) {
    let headers = Fields::new();
    headers
        .append("content-type", b"text/plain; charset=utf-8")
        .expect("valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let out_body = response.body().expect("the body is taken only once");
    ResponseOutparam::set(response_out, Ok(response));
    let output = out_body.write().expect("the stream is taken only once");
    write_all(&output, body).expect("write the body");
    drop(output);
    OutgoingBody::finish(out_body, None).expect("finish the body");
}

/// Copies `input` to `output` until the input ends (see the `echo` example).
fn copy(input: &InputStream, output: &OutputStream) -> Result<(), StreamError> {
    loop {
        match input.blocking_read(64 * 1024) {
            Ok(chunk) => write_all(output, &chunk)?,
            Err(StreamError::Closed) => return Ok(()),
            Err(error) => return Err(error),
        }
    }
}

/// Writes `bytes` in pieces of at most 4096 bytes, the most one call of
/// `blocking-write-and-flush` accepts.
fn write_all(output: &OutputStream, bytes: &[u8]) -> Result<(), StreamError> {
    for piece in bytes.chunks(4096) {
        output.blocking_write_and_flush(piece)?;
    }
    Ok(())
}
