//! `hello`: the smallest useful `wasi:http/proxy` component. Every request
//! gets `200 OK`, `content-type: text/plain; charset=utf-8` and the body
//! `Hello from a Rust wasi:http component!\n`.
//!
//! A wasi:http component exports one function, `handle`, which the host
//! calls once per request with the request and an *outparam*: a slot into
//! which the component puts its response (status and headers), after which
//! it writes the response body as a stream.

use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

// Generates the component's export of `wasi:http/incoming-handler`, which
// calls `Hello::handle`.
wasi::http::proxy::export!(Hello);

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let headers = Fields::from_list(&[(
            "content-type".to_string(),
            b"text/plain; charset=utf-8".to_vec(),
        )])
        .expect("valid header");
        // A new response is `200 OK`; `set_status_code` changes that.
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("the body is taken only once");

        // Send the status and headers; the body follows as a stream.
        ResponseOutparam::set(response_out, Ok(response));

        let stream = body.write().expect("the stream is taken only once");
        // One call writes at most 4096 bytes: plenty for this body.
        stream
            .blocking_write_and_flush(b"Hello from a Rust wasi:http component!\n")
            .expect("write the body");
        // The stream must be dropped before its body is finished.
        drop(stream);
        // Finishing the body (without trailers) completes the response.
        OutgoingBody::finish(body, None).expect("finish the body");
    }
}
