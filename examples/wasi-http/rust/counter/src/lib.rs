//! `counter`: every request opens the key-value store `default` and
//! atomically adds 1 to the key `hits`; the answer is `200 OK` with the body
//! `hits: N\n`. If the store fails, the answer is `500` with the error:
//! `no-such-store`, `access-denied` or `other: <message>`.

use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

mod bindings {
    // Import bindings for wasi:keyvalue@0.2.0-draft2 from the vendored WIT.
    // The world is declared here: it imports `atomics` (which brings in
    // `store`, whose `bucket` and `error` it uses) and nothing else.
    wit_bindgen::generate!({
        inline: "
            package serverless-wasm:counter;

            world counter {
                import wasi:keyvalue/atomics@0.2.0-draft2;
            }
        ",
        path: "../../../../wit/keyvalue-0.2.0-draft2",
        world: "serverless-wasm:counter/counter",
        generate_all,
    });
}

use bindings::wasi::keyvalue::{atomics, store};

struct Counter;

wasi::http::proxy::export!(Counter);

impl wasi::exports::http::incoming_handler::Guest for Counter {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let (status, body) = match count() {
            Ok(hits) => (200, format!("hits: {hits}\n")),
            Err(error) => (500, format!("{}\n", describe(&error))),
        };
        respond(response_out, status, body.as_bytes());
    }
}

/// Adds 1 to `hits` in the store `default` and returns the new value.
fn count() -> Result<i64, store::Error> {
    let bucket = store::open("default")?;
    atomics::increment(&bucket, "hits", 1)
}

fn describe(error: &store::Error) -> String {
    match error {
        store::Error::NoSuchStore => "no-such-store".to_string(),
        store::Error::AccessDenied => "access-denied".to_string(),
        store::Error::Other(message) => format!("other: {message}"),
    }
}

fn respond(response_out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[(
        "content-type".to_string(),
        b"text/plain; charset=utf-8".to_vec(),
    )])
    .expect("valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let outgoing = response.body().expect("the body is taken only once");
    ResponseOutparam::set(response_out, Ok(response));
    let stream = outgoing.write().expect("the stream is taken only once");
    // One call writes at most 4096 bytes: plenty for this body.
    stream.blocking_write_and_flush(body).expect("write the body");
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finish the body");
}
