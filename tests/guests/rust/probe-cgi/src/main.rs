//! A CGI (WAGI) command that reports on its environment or misbehaves,
//! depending on `PATH_INFO`: `/trap` panics, `/spin` never returns,
//! `/exit` exits with status 3, `/garbage` prints no CGI headers,
//! `/redirect` answers with only a Location; anything else answers with its
//! environment variables (sorted) and then its stdin.

use std::io::{Read, Write};

fn main() {
    let path_info = std::env::var("PATH_INFO").unwrap_or_default();
    let mut out = std::io::stdout().lock();
    match path_info.as_str() {
        "/trap" => panic!("asked to trap"),
        "/spin" => loop {
            std::hint::black_box(());
        },
        "/exit" => std::process::exit(3),
        "/garbage" => {
            let _ = out.write_all(b"this is not a CGI response");
        }
        "/redirect" => {
            let _ = out.write_all(b"Location: /elsewhere\n\n");
        }
        _ => {
            let mut variables: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}\n")).collect();
            variables.sort();
            let mut stdin = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut stdin);
            eprintln!("probe-cgi read {} bytes", stdin.len());
            let _ = out.write_all(b"Content-Type: text/plain\nX-Probe: cgi\n\n");
            let _ = out.write_all(variables.concat().as_bytes());
            let _ = out.write_all(b"--\n");
            let _ = out.write_all(&stdin);
        }
    }
}
