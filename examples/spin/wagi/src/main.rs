//! A WAGI guest: the request comes as CGI environment variables, arguments
//! and stdin; the response goes to stdout as CGI headers, an empty line and
//! the body. What it answers depends on `PATH_INFO` (the part of the path
//! that the route's `/...` matched):
//!
//! - `/echo`: `200`, the request body byte for byte, with `Content-Type` the
//!   request's (`CONTENT_TYPE`), else `application/octet-stream`.
//! - `/status`: `Status: 201 Created`, `X-Cgi: yes`, body `created\n`.
//! - `/redirect`: only `Location: /static` (so a WAGI host answers `302`).
//! - `/file`: `200`, the file `/message.txt` (spin.toml maps `assets/` to
//!   `/`), or `Status: 500` `cannot read /message.txt: ...` without it.
//! - `/fail`: writes to stderr and exits with status 1, printing nothing.
//! - anything else: `200`, `Content-Type: text/plain; charset=utf-8`,
//!   `X-Cgi-Who: $WHO`, and the report: the lines `who: $WHO`,
//!   `args: [...]` (the arguments, Rust's `{:?}` of a `Vec<String>`), every
//!   environment variable as `NAME=value` sorted by name, then `body:` and
//!   the request body as it came (UTF-8, lossily).
//!
//! CGI lines end in `\n`.

use std::io::{Read, Write};

fn main() {
    let path_info = std::env::var("PATH_INFO").unwrap_or_default();
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("cannot read stdin: {e}");
    }

    let mut out = Vec::new();
    match path_info.as_str() {
        "/echo" => {
            let content_type = std::env::var("CONTENT_TYPE")
                .ok()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "application/octet-stream".into());
            out.extend_from_slice(format!("Content-Type: {content_type}\n\n").as_bytes());
            out.extend_from_slice(&body);
        }
        "/status" => out.extend_from_slice(
            b"Status: 201 Created\nContent-Type: text/plain\nX-Cgi: yes\n\ncreated\n",
        ),
        "/redirect" => out.extend_from_slice(b"Location: /static\n\n"),
        "/file" => match std::fs::read("/message.txt") {
            Ok(contents) => {
                out.extend_from_slice(b"Content-Type: text/plain\n\n");
                out.extend_from_slice(&contents);
            }
            Err(e) => out.extend_from_slice(
                format!("Status: 500\nContent-Type: text/plain\n\ncannot read /message.txt: {e}\n")
                    .as_bytes(),
            ),
        },
        "/fail" => {
            eprintln!("failing on purpose");
            std::process::exit(1);
        }
        _ => {
            let who = std::env::var("WHO").unwrap_or_default();
            let args: Vec<String> = std::env::args().collect();
            let mut vars: Vec<(String, String)> = std::env::vars().collect();
            vars.sort();
            let mut text = format!(
                "Content-Type: text/plain; charset=utf-8\nX-Cgi-Who: {who}\n\nwho: {who}\nargs: {args:?}\n"
            );
            for (name, value) in vars {
                text.push_str(&format!("{name}={value}\n"));
            }
            text.push_str("body: ");
            text.push_str(&String::from_utf8_lossy(&body));
            out.extend_from_slice(text.as_bytes());
        }
    }

    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        std::process::exit(1);
    }
}
