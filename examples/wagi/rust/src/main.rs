//! `echo`, as a WAGI guest: a CGI program compiled to WebAssembly. The
//! server runs it once per request, with the request in environment
//! variables and its body on stdin; the program writes a CGI response to
//! stdout: header lines, a blank line, then the body.
//!
//! The response is `200 OK` with the request's body, byte for byte, and
//! these headers:
//!
//! - `x-echo-method`: the request method (`REQUEST_METHOD`);
//! - `x-echo-path`: the full path, without the query string: `SCRIPT_NAME`
//!   (the route's part) followed by `PATH_INFO` (the rest);
//! - `x-echo-query`: the query string (`QUERY_STRING`), only when not empty;
//! - `content-type`: the request's (`CONTENT_TYPE`), else
//!   `application/octet-stream`.
//!
//! Other request headers arrive as `HTTP_<NAME>` variables (`HTTP_ACCEPT`,
//! `HTTP_USER_AGENT`, ...); this program does not need them.

use std::env;
use std::ffi::OsString;
use std::io::{self, BufWriter, Read, Write};
// Environment variables are bytes, not necessarily UTF-8: keep them so.
use std::os::wasi::ffi::OsStringExt;

fn main() -> io::Result<()> {
    let method = var("REQUEST_METHOD");
    let mut path = var("SCRIPT_NAME");
    path.extend_from_slice(&var("PATH_INFO"));
    let query = var("QUERY_STRING");
    let mut content_type = var("CONTENT_TYPE");
    if content_type.is_empty() {
        content_type = b"application/octet-stream".to_vec();
    }

    // Buffer stdout: the body is copied in large pieces, not line by line.
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());

    // The CGI header block. `Status` is the status line's code and reason;
    // the server turns the other lines into response headers.
    out.write_all(b"Status: 200 OK\n")?;
    header(&mut out, "x-echo-method", &method)?;
    header(&mut out, "x-echo-path", &path)?;
    if !query.is_empty() {
        header(&mut out, "x-echo-query", &query)?;
    }
    header(&mut out, "Content-Type", &content_type)?;
    // A blank line ends the headers; the body follows.
    out.write_all(b"\n")?;

    // The body: CONTENT_LENGTH bytes of stdin when the variable says how
    // many, else all of it. Raw bytes throughout, so binary bodies survive.
    let mut stdin = io::stdin().lock();
    let length = String::from_utf8(var("CONTENT_LENGTH"))
        .ok()
        .and_then(|n| n.trim().parse::<u64>().ok());
    match length {
        Some(n) => io::copy(&mut stdin.take(n), &mut out)?,
        None => io::copy(&mut stdin, &mut out)?,
    };
    out.flush()
}

/// The value of an environment variable as bytes; empty when unset.
fn var(name: &str) -> Vec<u8> {
    env::var_os(name)
        .map(OsString::into_vec)
        .unwrap_or_default()
}

/// Writes one `name: value` header line.
fn header(out: &mut impl Write, name: &str, value: &[u8]) -> io::Result<()> {
    out.write_all(name.as_bytes())?;
    out.write_all(b": ")?;
    out.write_all(value)?;
    out.write_all(b"\n")
}
