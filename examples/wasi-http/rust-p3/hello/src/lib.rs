//! `hello`: answers every request with `200 OK`, `content-type:
//! text/plain; charset=utf-8` and a fixed body.
//!
//! A WASI 0.3 (`wasi:http@0.3.0`) service: it exports the async
//! `wasi:http/handler` interface. `handle` returns the response at once, with
//! the read end of a body stream; a spawned task writes the body into the
//! other end after `handle` has returned, and the host streams it to the
//! client as it comes.

use wasip3::http::types::{ErrorCode, Fields, Request, Response};
use wasip3::{wit_future, wit_stream};

const BODY: &[u8] = b"Hello from a Rust wasi:http 0.3 component!\n";

struct Hello;

wasip3::http::service::export!(Hello);

impl wasip3::exports::http::handler::Guest for Hello {
    async fn handle(_request: Request) -> Result<Response, ErrorCode> {
        let headers = Fields::from_list(&[(
            "content-type".to_string(),
            b"text/plain; charset=utf-8".to_vec(),
        )])
        .map_err(|e| ErrorCode::InternalError(Some(format!("{e:?}"))))?;

        // The body: a stream of bytes, and a future for the trailers (none).
        // Dropping the trailers' writer sends the default, `Ok(None)`, which
        // ends the body once the stream is closed.
        let (mut body_tx, body_rx) = wit_stream::new();
        let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
        drop(trailers_tx);

        // Status 200 is the default. The second value, a future for the
        // outcome of sending the response, is not needed.
        let (response, _sent) = Response::new(headers, Some(body_rx), trailers_rx);

        wasip3::spawn_local(async move {
            // What is left unwritten if the client went away: nothing to do.
            let _unwritten = body_tx.write_all(BODY.to_vec()).await;
            // Dropping `body_tx` closes the stream: the body is complete.
        });
        Ok(response)
    }
}
