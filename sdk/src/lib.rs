//! Write serverless-wasm guests in Rust.
//!
//! A guest is a WebAssembly module that the server instantiates afresh for
//! every request it routes to it, calling its exported entry point (`handle`
//! unless the app's config says otherwise) once. The guest reads the request
//! with [`request`], builds the response with [`response`], and may read its
//! app's configuration with [`env`](mod@env), keep state in its key-value
//! store with [`db`], talk to allowed hosts with
//! [`net::TcpStream`] and write to the server's log with [`log()`] or
//! [`log!`]. This crate wraps the host functions of the classic `env` ABI
//! in safe Rust; the README.md that comes with it describes that ABI
//! precisely, for those who write guests in other languages.
//!
//! # Example
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "greet"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! serverless-wasm-sdk = { path = "../sdk" }
//!
//! [profile.release]
//! opt-level = "s"
//! lto = true
//! strip = true
//! panic = "abort"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! use serverless_wasm_sdk::{env, log, request, response};
//!
//! /// The entry point: called once per request, on a fresh instance.
//! #[unsafe(no_mangle)]
//! pub extern "C" fn handle() {
//!     let greeting = env::get("greeting").unwrap_or_else(|| "Hello".to_string());
//!     let Some(name) = request::query().filter(|q| !q.is_empty()) else {
//!         response::set_status(400, "Bad Request");
//!         response::set_body("usage: /greet?NAME\n");
//!         return;
//!     };
//!     log!("{} {} from {name}", request::method(), request::path());
//!     response::set_header("content-type", "text/plain; charset=utf-8");
//!     response::set_body(format!("{greeting}, {name}!\n"));
//! }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-unknown-unknown` and
//! route to it in the server's config:
//!
//! ```toml
//! [[applications]]
//! file_path = "./target/wasm32-unknown-unknown/release/greet.wasm"
//! method = "GET"
//! url_path = "/greet"
//! env = { greeting = "Howdy" }
//! ```
//!
//! The module may export its memory (rustc's default) or import it as
//! `env.memory` (link with `-C link-arg=--import-memory`); the server takes
//! either.
//!
//! # Outside serverless-wasm
//!
//! The host functions exist only inside the server, so they are imported
//! only when building for `wasm32`. On any other target the crate still
//! compiles (so `cargo check`, `cargo doc`, `cargo clippy` and the guest's own
//! unit tests of code that does not call it work on a normal machine), but
//! every function that would call the host panics with a message saying it
//! is "only available inside serverless-wasm".
//!
//! A panic in a guest (here or in the guest's own code) traps, and the
//! client gets a `500 Internal Server Error`.

#![warn(missing_docs)]

pub mod db;
pub mod env;
pub mod net;
pub mod request;
pub mod response;
mod sys;

/// Writes `message` as one line of the server's log, attributed to the guest.
pub fn log(message: &str) {
    sys::log(message.as_bytes());
}

/// Formats its arguments like [`format!`] and writes the result with
/// [`log()`](fn@log).
///
/// ```no_run
/// # use serverless_wasm_sdk::log;
/// let n = 3;
/// log!("{n} items in the cart");
/// ```
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log(&::std::format!($($arg)*))
    };
}
