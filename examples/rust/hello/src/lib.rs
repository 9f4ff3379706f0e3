//! `hello`: answers every request with a fixed greeting, and logs a line.
//!
//! The same guest written by hand in WebAssembly text is `examples/hello.wat`.

use serverless_wasm_sdk::{log, response};

/// The entry point, called once per request on a fresh instance. The status
/// is left at its default, 200.
#[unsafe(no_mangle)]
pub extern "C" fn handle() {
    log("hello: sending a greeting");
    response::set_header("content-type", "text/plain; charset=utf-8");
    response::set_body("Hello from serverless-wasm!\n");
}
