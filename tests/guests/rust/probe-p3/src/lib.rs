//! `probe-p3`: a wasi:http 0.3 component for testing how the host shares
//! an instance between requests (`concurrent_reuse`), by the request path:
//!
//! | request | answer |
//! | --- | --- |
//! | `/hold/<ms>` | waits `<ms>` milliseconds on a WASI clock (the instance may run other requests meanwhile), then `<n> <peak>`: this request was the instance's `n`th, and `peak` requests were running on it at once so far |
//! | `/trap/<ms>` | waits `<ms>` milliseconds, then traps |
//! | `/stdio` | writes `a line on stdout` to stdout, then `written` |
//! | anything else | `ok` |

use std::cell::Cell;

use wasip3::clocks::monotonic_clock;
use wasip3::http::types::{ErrorCode, Fields, Request, Response};
use wasip3::{wit_future, wit_stream};

struct Probe;

wasip3::http::service::export!(Probe);

thread_local! {
    /// Requests this instance has started: more than 1 only when reused.
    static STARTED: Cell<u32> = const { Cell::new(0) };
    /// Requests running on this instance now, and the most at once so far.
    static RUNNING: Cell<u32> = const { Cell::new(0) };
    static PEAK: Cell<u32> = const { Cell::new(0) };
}

impl wasip3::exports::http::handler::Guest for Probe {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let started = STARTED.with(|n| {
            n.set(n.get() + 1);
            n.get()
        });
        let path = request.get_path_with_query().unwrap_or_default();
        let mut segments = path.split('?').next().unwrap_or("").rsplit('/');
        let last = segments.next().unwrap_or("");
        let verb = segments.next().unwrap_or("");
        let millis = last.parse::<u64>().ok();
        let body = match (verb, millis) {
            ("hold", Some(ms)) => {
                let running = RUNNING.with(|n| {
                    n.set(n.get() + 1);
                    n.get()
                });
                PEAK.with(|peak| peak.set(peak.get().max(running)));
                monotonic_clock::wait_for(ms * 1_000_000).await;
                RUNNING.with(|n| n.set(n.get() - 1));
                format!("{started} {}\n", PEAK.with(Cell::get))
            }
            ("trap", Some(ms)) => {
                monotonic_clock::wait_for(ms * 1_000_000).await;
                panic!("asked to trap")
            }
            _ if last == "stdio" => {
                println!("a line on stdout");
                "written\n".to_string()
            }
            _ => "ok\n".to_string(),
        };
        respond(body.into_bytes())
    }
}

fn respond(body: Vec<u8>) -> Result<Response, ErrorCode> {
    let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
        .map_err(|e| ErrorCode::InternalError(Some(format!("{e:?}"))))?;
    let (mut body_tx, body_rx) = wit_stream::new();
    let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
    drop(trailers_tx);
    let (response, _sent) = Response::new(headers, Some(body_rx), trailers_rx);
    wasip3::spawn_local(async move {
        let _unwritten = body_tx.write_all(body).await;
    });
    Ok(response)
}
