//! `echo`: sends the request back. The body is the request's body, byte for
//! byte; headers say what the method, path and query were:
//!
//! - `x-echo-method`: the request method;
//! - `x-echo-path`: the path, without the query string;
//! - `x-echo-query`: the query string without `?`, only when the URI has a
//!   `?` (empty when it is the URI's last character);
//! - `content-type`: the request's own, else `application/octet-stream`.
//!
//! The same guest written by hand in WebAssembly text is `examples/echo.wat`.

use serverless_wasm_sdk::{request, response};

#[unsafe(no_mangle)]
pub extern "C" fn handle() {
    response::set_header("x-echo-method", request::method());
    response::set_header("x-echo-path", request::path());
    if let Some(query) = request::query() {
        response::set_header("x-echo-query", query);
    }
    // The bytes as sent: a content-type need not be UTF-8.
    let content_type = request::header_bytes("content-type");
    response::set_header(
        "content-type",
        content_type
            .as_deref()
            .unwrap_or(b"application/octet-stream"),
    );
    response::set_body(request::body());
}
