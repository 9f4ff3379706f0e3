//! A wasi:http component that misbehaves or reports on its environment,
//! depending on the last segment of the request path:
//! `/trap` panics, `/spin` never returns, `/grow` allocates without end,
//! `/env` answers with its environment variables, `/stdio` writes a line to
//! stdout and stderr, `/file` answers with `/static/hello.txt`,
//! `/no-response` returns without setting a response, `/tcp` opens a TCP
//! connection (WASI sockets) to `$TCP_ADDR`, `/sleep` waits two seconds
//! (on a WASI clock, so the host can run others meanwhile), `/count`
//! answers how many requests this instance has served, anything else `ok`.

use std::sync::atomic::{AtomicU32, Ordering};

use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Probe;

/// Requests this instance has handled: more than 1 only when the host reuses it.
static SERVED: AtomicU32 = AtomicU32::new(0);

wasi::http::proxy::export!(Probe);

impl wasi::exports::http::incoming_handler::Guest for Probe {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
        let path = request.path_with_query().unwrap_or_default();
        let last = path.rsplit('/').next().unwrap_or("").split('?').next().unwrap_or("");
        let body = match last {
            "trap" => panic!("asked to trap"),
            "spin" => spin(),
            "grow" => grow(),
            "env" => environment(),
            "stdio" => {
                println!("a line on stdout");
                eprintln!("a line on stderr");
                "written\n".to_string()
            }
            "file" => std::fs::read_to_string("/static/hello.txt").unwrap_or_else(|e| format!("error: {e}\n")),
            "no-response" => return,
            "tcp" => tcp_connect(),
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(2));
                "slept\n".to_string()
            }
            "count" => format!("{served}\n"),
            _ => "ok\n".to_string(),
        };
        respond(response_out, body.as_bytes());
    }
}

fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

fn grow() -> String {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        held.push(vec![1; 1 << 20]);
        std::hint::black_box(&held);
    }
}

fn tcp_connect() -> String {
    let address = std::env::var("TCP_ADDR").unwrap_or_default();
    match std::net::TcpStream::connect(&address) {
        Ok(_) => format!("connected to {address}\n"),
        Err(error) => format!("refused: {error}\n"),
    }
}

fn environment() -> String {
    let mut variables: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}\n")).collect();
    variables.sort();
    variables.concat()
}

fn respond(response_out: ResponseOutparam, body: &[u8]) {
    let response = OutgoingResponse::new(Fields::new());
    let outgoing = response.body().expect("body");
    ResponseOutparam::set(response_out, Ok(response));
    let stream = outgoing.write().expect("stream");
    for chunk in body.chunks(4096) {
        stream.blocking_write_and_flush(chunk).expect("write");
    }
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finish");
}
