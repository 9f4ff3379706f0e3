//! `backend`: forwards the request body to a TCP backend and answers with
//! what the backend sends back.
//!
//! The backend's address ("host:port") is the app's `env` value
//! `/env/backend`, and must also be in its `allowed_outbound_hosts`. The
//! guest sends the request body (`hello backend\n` when it is empty), then
//! reads until the backend closes the connection, keeping at most 1 MiB, and
//! answers 200 with what it read and an `x-backend: <addr>` header.
//!
//! The ABI has no way to half-close a socket, so the backend must answer
//! (and close) without waiting for the guest's end of stream.
//!
//! Failures: 500 `no /env/backend configured` without the env value; 502
//! `cannot connect to backend <addr>`, `cannot write to backend <addr>` or
//! `cannot read from backend <addr>` when the socket fails.
//!
//! The same guest written by hand in WebAssembly text is
//! `examples/backend.wat`.

use std::io::{Read, Write};

use serverless_wasm_sdk::net::TcpStream;
use serverless_wasm_sdk::{env, request, response};

/// The most of the backend's reply that is kept.
const MAX_REPLY: u64 = 1024 * 1024;

#[unsafe(no_mangle)]
pub extern "C" fn handle() {
    let Some(addr) = env::get("/env/backend") else {
        return fail(500, "Internal Server Error", "no /env/backend configured\n");
    };
    let Ok(mut stream) = TcpStream::connect(&addr) else {
        return fail(
            502,
            "Bad Gateway",
            &format!("cannot connect to backend {addr}\n"),
        );
    };
    let mut message = request::body();
    if message.is_empty() {
        message = b"hello backend\n".to_vec();
    }
    if stream.write_all(&message).is_err() {
        return fail(
            502,
            "Bad Gateway",
            &format!("cannot write to backend {addr}\n"),
        );
    }
    let mut reply = Vec::new();
    if stream.take(MAX_REPLY).read_to_end(&mut reply).is_err() {
        return fail(
            502,
            "Bad Gateway",
            &format!("cannot read from backend {addr}\n"),
        );
    }
    response::set_header("x-backend", &addr);
    response::set_body(reply);
}

fn fail(status: u16, reason: &str, body: &str) {
    response::set_status(status, reason);
    response::set_body(body);
}
