//! `native-hello [ADDR]`: the native baseline of bench/run.sh.
//!
//! Answers every request with `200`, `content-type: text/plain;
//! charset=utf-8` and `Hello from serverless-wasm!\n`, the same bytes as
//! examples/hello.wat, so the benchmark compares the cost of running a guest
//! and nothing else. It is built the way a fair baseline should be: the same
//! hyper and tokio (same Cargo.lock) and the same runtime shape as
//! serverless-wasm (multi-thread tokio, one task per connection, HTTP/1.1
//! keep-alive, `TCP_NODELAY`), and no logging, so it is the ceiling a hyper
//! server can reach on the machine.
//!
//! Listens on ADDR (default `127.0.0.1:0`, any free port) and prints
//! `listening on http://IP:PORT` to stderr once it accepts connections, like
//! serverless-wasm does. Runs until killed.

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const BODY: &[u8] = b"Hello from serverless-wasm!\n";
const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

fn main() -> ExitCode {
    let address = match std::env::args().nth(1).as_deref() {
        Some("-h" | "--help") => {
            eprintln!("usage: native-hello [ADDR]   (default 127.0.0.1:0)");
            return ExitCode::SUCCESS;
        }
        Some(address) => address.to_owned(),
        None => "127.0.0.1:0".to_owned(),
    };
    // The same runtime serverless-wasm builds: multi-thread, one worker per core.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("native-hello: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(&address)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("native-hello: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(address: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(address).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: pause rather than spin,
                // as serverless-wasm does.
                eprintln!("native-hello: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            // Keep-alive is hyper's default; a client hanging up mid-request
            // is not worth a message.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}

async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    Ok(response)
}
