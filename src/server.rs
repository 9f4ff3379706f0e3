//! The HTTP front: accepts connections (HTTP/1.1 and h2c), hands each
//! request to the [`Service`], and shuts down gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use http::Request;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};

use crate::abi::{BoxError, ConnectionInfo};
use crate::service::Service;

/// How long in-flight requests may take to finish once shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

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
