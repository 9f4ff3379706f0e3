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

use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

struct Echo;

wasi::http::proxy::export!(Echo);

impl wasi::exports::http::incoming_handler::Guest for Echo {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let headers = echo_headers(&request);
        let response = OutgoingResponse::new(headers); // 200 OK
        let out_body = response.body().expect("the body is taken only once");
        // Send the status and headers now; the body follows as it is read.
        ResponseOutparam::set(response_out, Ok(response));

        let in_body = request.consume().expect("the body is consumed only once");
        let copied = {
            // The streams are children of their bodies: drop them (at the
            // end of this block) before finishing the bodies.
            let input = in_body.stream().expect("the stream is taken only once");
            let output = out_body.write().expect("the stream is taken only once");
            copy(&input, &output)
        };
        // The request's trailers, if any, are not needed.
        drop(IncomingBody::finish(in_body));

        match copied {
            // Finishing the body completes the response.
            Ok(()) => OutgoingBody::finish(out_body, None).expect("finish the body"),
            // The status has gone already, so there is no error response to
            // send. Dropping the body without finishing it tells the host
            // that the response is incomplete, and the host aborts it.
            Err(_) => drop(out_body),
        }
    }
}

/// The response headers: what the request's method, path and query were,
/// and its content-type.
fn echo_headers(request: &IncomingRequest) -> Fields {
    let headers = Fields::new();
    let add = |name: &str, value: &[u8]| {
        headers.append(name, value).expect("valid header");
    };

    add("x-echo-method", method_name(&request.method()).as_bytes());

    // An incoming request always has a path (with its query, if any).
    let path_with_query = request.path_with_query().unwrap_or_default();
    let (path, query) = match path_with_query.split_once('?') {
        Some((path, query)) => (path, query),
        None => (path_with_query.as_str(), ""),
    };
    add("x-echo-path", path.as_bytes());
    if !query.is_empty() {
        add("x-echo-query", query.as_bytes());
    }

    // Header values are bytes, not necessarily UTF-8. A header sent several
    // times has several values: join them as HTTP allows.
    let content_type = request.headers().get("content-type");
    if content_type.is_empty() {
        add("content-type", b"application/octet-stream");
    } else {
        add("content-type", &content_type.join(&b", "[..]));
    }
    headers
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

/// Copies `input` to `output` until the input ends, one chunk at a time.
fn copy(input: &InputStream, output: &OutputStream) -> Result<(), StreamError> {
    loop {
        // Waits until some bytes are there (at most 64 KiB), the stream
        // ends (`Closed`), or it fails.
        match input.blocking_read(64 * 1024) {
            Ok(chunk) => write_all(output, &chunk)?,
            Err(StreamError::Closed) => return Ok(()),
            Err(error) => return Err(error),
        }
    }
}

/// Writes `bytes` to `output`. `blocking-write-and-flush` takes at most 4096
/// bytes per call (wasi:io says so, and wasmtime traps on more), so a chunk
/// goes out in pieces of that size. Each call waits until `check-write`
/// allows the piece, writes it and waits for the flush: a slow client slows
/// the copy down instead of piling bytes up in the host.
fn write_all(output: &OutputStream, bytes: &[u8]) -> Result<(), StreamError> {
    for piece in bytes.chunks(4096) {
        output.blocking_write_and_flush(piece)?;
    }
    Ok(())
}
