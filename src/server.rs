//! The HTTP front: accepts connections (HTTP/1.1 and h2c), turns each request
//! into a routed guest call, writes the access log, and shuts down gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tracing::Instrument as _;

use crate::abi::{BoxError, ConnectionInfo, RequestBody, ResponseBody, full_body};
use crate::app::{App, Apps};
use crate::deployment::{Current, Deployment};
use crate::router::Lookup;

/// How long in-flight requests may take to finish once shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

const REQUEST_ID: &str = "x-request-id";

/// Everything needed to answer a request: the deployment in force.
pub struct Service {
    current: Current,
    request_ids: RequestIds,
}

impl Service {
    pub fn new(apps: Apps) -> Service {
        Service {
            current: Current::new(Deployment::new(apps)),
            request_ids: RequestIds::new(),
        }
    }

    /// The apps new requests see.
    pub fn current(&self) -> Arc<Deployment> {
        self.current.get()
    }

    /// Serves `apps` from now on; requests in flight finish on the old ones.
    pub fn replace(&self, apps: Apps) {
        self.current.replace(Deployment::new(apps));
    }

    /// Answers one request; never fails, every error becomes a status.
    pub async fn handle(&self, request: Request<RequestBody>) -> Response<ResponseBody> {
        let started = Instant::now();
        let id = self.request_ids.for_request(&request);
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let deployment = self.current.get();
        let (app, mut response) = match deployment.lookup(&method, &path) {
            Ok(app) => (
                app.context.name.as_str(),
                self.call(app, request, &id).await,
            ),
            Err(Lookup::MethodNotAllowed { allow }) => {
                let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
                response.headers_mut().insert(ALLOW, allow);
                ("-", response)
            }
            Err(_) => ("-", plain(StatusCode::NOT_FOUND, "not found\n")),
        };
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        tracing::info!(
            target: "access",
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            duration_ms = format_args!("{:.3}", started.elapsed().as_secs_f64() * 1000.0),
            app = %app,
            request_id = %id,
        );
        response
    }

    async fn call(
        &self,
        app: &App,
        request: Request<RequestBody>,
        id: &str,
    ) -> Response<ResponseBody> {
        let span = tracing::info_span!("request", id, app = %app.context.name);
        async {
            match app.handle(request).await {
                Ok(response) => response,
                Err(error) => {
                    if error.is_guest_fault() {
                        tracing::error!("{error}");
                    } else {
                        tracing::info!("{error}");
                    }
                    // The client learns what it did wrong, not the guest's internals.
                    let status = error.status();
                    let detail = if error.is_guest_fault() {
                        String::new()
                    } else {
                        format!("{error}\n")
                    };
                    plain(status, &format!("{status}\n{detail}request id: {id}\n"))
                }
            }
        }
        .instrument(span)
        .await
    }
}

fn plain(status: StatusCode, body: &str) -> Response<ResponseBody> {
    let mut response = Response::new(full_body(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Request ids: a client's own `x-request-id` when it is short and plain,
/// else one made from a per-process prefix and a counter.
struct RequestIds {
    prefix: u32,
    counter: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self {
            prefix: nanos ^ std::process::id().rotate_left(16),
            counter: AtomicU64::new(0),
        }
    }

    fn for_request<B>(&self, request: &Request<B>) -> String {
        let given = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok());
        match given {
            Some(id) if is_plain_id(id) => id.to_string(),
            _ => format!(
                "{:08x}{:08x}",
                self.prefix,
                self.counter.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }
}

/// Ids go into logs, so only short strings of safe characters are kept.
fn is_plain_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// What an HTTP/2 client without TLS or upgrade (h2c with prior knowledge)
/// sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether a new connection speaks HTTP/2, told by peeking at its first
/// bytes. Choosing a protocol up front, rather than serving through hyper's
/// protocol-detecting connection, measured 5 KB less per open connection.
async fn opens_with_h2_preface(stream: &TcpStream) -> bool {
    let mut start = [0; H2_PREFACE.len()];
    // A client sends the preface in one write; if only part of it has
    // arrived, give the rest a few milliseconds (peek cannot wait for more).
    for _ in 0..50 {
        let seen = match stream.peek(&mut start).await {
            Ok(seen) => seen,
            Err(_) => return false,
        };
        if seen == 0 || start[..seen] != H2_PREFACE[..seen] {
            return false;
        }
        if seen == H2_PREFACE.len() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}

/// A bound listener with the service behind it.
pub struct Server {
    listener: TcpListener,
    service: Arc<Service>,
}

impl Server {
    pub async fn bind(address: &str, service: Arc<Service>) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        Ok(Server { listener, service })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets
    /// in-flight requests finish for up to [`SHUTDOWN_GRACE`].
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, remote) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: pause rather than spin.
                        tracing::warn!("accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            // A connection reset before this point is the client's loss, not the server's.
            let Ok(local) = stream.local_addr() else {
                continue;
            };
            let connection = ConnectionInfo { local, remote };
            let service = self.service.clone();
            let handler = service_fn(move |request: Request<Incoming>| {
                let service = service.clone();
                let mut request = request.map(|body| body.map_err(BoxError::from).boxed_unsync());
                request.extensions_mut().insert(connection);
                // Boxed: hyper keeps room for one request's future in every
                // connection, busy or idle, and a guest call's is kilobytes.
                Box::pin(async move { Ok::<_, Infallible>(service.handle(request).await) })
            });
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let served = if opens_with_h2_preface(&stream).await {
                    let http2 = http2::Builder::new(TokioExecutor::new());
                    watcher
                        .watch(http2.serve_connection(TokioIo::new(stream), handler))
                        .await
                } else {
                    let http1 = http1::Builder::new();
                    watcher
                        .watch(http1.serve_connection(TokioIo::new(stream), handler))
                        .await
                };
                if let Err(error) = served {
                    tracing::debug!("connection closed with error: {error}");
                }
            });
        }
        drop(self.listener);
        tracing::info!("shutting down: waiting for in-flight requests");
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "in-flight requests still running after {} s, closing",
                SHUTDOWN_GRACE.as_secs()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_request_ids_are_kept_only_when_plain() {
        assert!(is_plain_id("abc-123_x.y:z"));
        assert!(!is_plain_id(""));
        assert!(!is_plain_id("has space"));
        assert!(!is_plain_id(&"a".repeat(129)));
    }

    #[test]
    fn generated_request_ids_differ() {
        let ids = RequestIds::new();
        let request = Request::new(());
        assert_ne!(ids.for_request(&request), ids.for_request(&request));
    }
}
