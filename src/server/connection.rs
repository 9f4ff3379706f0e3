//! One client connection, from accept to close: the TLS handshake (or, in
//! plain HTTP, h2c detection), HTTP/1.1 or HTTP/2 with the listener's
//! limits, and closing it when it keeps quiet too long (see
//! [`idle`](super::idle)) or the server shuts down.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::idle::{Activity, InFlight, Quiet, Watched};
use crate::abi::{BoxError, ConnectionInfo, Holding, ResponseBody};
use crate::config::ServerSettings;
use crate::service::Service;
use crate::tls::Tls;

/// HTTP/2 streams a client may reset before the server has accepted them,
/// before the connection is closed with GOAWAY: h2's own default, the
/// mitigation of the "rapid reset" attack (CVE-2023-44487).
const H2_MAX_PENDING_ACCEPT_RESETS: usize = 20;
/// HTTP/2 streams the server may reset for a client's protocol errors
/// before closing the connection: hyper's default (RUSTSEC-2024-0003),
/// set here so that it cannot silently change.
const H2_MAX_LOCAL_ERROR_RESETS: usize = 1024;
/// An HTTP/2 connection that has received nothing for this long is pinged,
/// and closed if the ping is not answered within [`H2_PING_TIMEOUT`]: a
/// peer that vanished mid-request (no FIN, no RST) does not keep its streams.
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// What an HTTP/2 client without TLS or upgrade (h2c with prior knowledge)
/// sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What every connection of a listener is served with.
pub(super) struct Connections {
    service: Arc<Service>,
    tls: Option<Arc<Tls>>,
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
}

type Answer = Pin<
    Box<dyn Future<Output = Result<Response<Holding<ResponseBody, InFlight>>, Infallible>> + Send>,
>;

impl Connections {
    pub(super) fn new(
        service: Arc<Service>,
        tls: Option<Arc<Tls>>,
        settings: &ServerSettings,
    ) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            // hyper's would also close kept-alive connections after this
            // long; `idle` enforces it (and keep_alive_timeout) instead.
            .header_read_timeout(None)
            // The head must fit in the read buffer: a larger one is
            // answered 431. max_header_size makes the limit exact.
            .max_buf_size(settings.max_header_bytes)
            .max_header_size(settings.max_header_bytes);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(settings.h2_max_concurrent_streams)
            .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
            .max_pending_accept_reset_streams(H2_MAX_PENDING_ACCEPT_RESETS)
            .max_local_error_reset_streams(H2_MAX_LOCAL_ERROR_RESETS)
            .keep_alive_interval(H2_PING_INTERVAL)
            .keep_alive_timeout(H2_PING_TIMEOUT);
        Connections {
            service,
            tls,
            http1,
            http2,
            header_read_timeout: settings.header_read_timeout,
            keep_alive_timeout: settings.keep_alive_timeout,
        }
    }

    /// Serves one accepted connection until it closes; `shutdown` changes
    /// when the server starts shutting down.
    pub(super) async fn serve(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
        shutdown: watch::Receiver<()>,
    ) {
        let _ = stream.set_nodelay(true);
        // A connection reset before this point is the client's loss, not the server's.
        let Ok(local) = stream.local_addr() else {
            return;
        };
        let info = ConnectionInfo {
            local,
            remote,
            tls: self.tls.is_some(),
        };
        // Boxed: a task's future is as large as its largest branch, and the
        // TLS stream's state would otherwise be in every plain connection's
        // (7 KB more per idle connection, measured).
        match &self.tls {
            None => self.serve_plain(stream, info, shutdown).await,
            Some(tls) => Box::pin(self.serve_tls(tls, stream, info, shutdown)).await,
        }
    }

    /// HTTP/1.1, or HTTP/2 if the client opens with its preface (h2c).
    async fn serve_plain(
        &self,
        stream: TcpStream,
        info: ConnectionInfo,
        shutdown: watch::Receiver<()>,
    ) {
        let activity = Activity::new(self.header_read_timeout, self.keep_alive_timeout);
        // A client that connects and says nothing is given no longer than
        // one that sends half a header.
        let header_due = activity.deadline().unwrap_or_else(Instant::now);
        let Ok(h2) = tokio::time::timeout_at(header_due, opens_with_h2_preface(&stream)).await
        else {
            tracing::debug!("{}: closed, sent nothing in time", info.remote);
            return;
        };
        self.serve_http(stream, h2, info, activity, shutdown).await;
    }

    /// HTTP/2 or HTTP/1.1 as agreed by ALPN (HTTP/1.1 without it).
    async fn serve_tls(
        &self,
        tls: &Tls,
        stream: TcpStream,
        info: ConnectionInfo,
        mut shutdown: watch::Receiver<()>,
    ) {
        // A client that does not finish its handshake in time, or at all,
        // must not keep the socket.
        let handshake =
            tokio::time::timeout(self.header_read_timeout, tls.acceptor().accept(stream));
        let stream = tokio::select! {
            handshake = handshake => match handshake {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!("{}: TLS handshake failed: {error}", info.remote);
                    return;
                }
                Err(_) => {
                    tracing::debug!("{}: TLS handshake not done in time", info.remote);
                    return;
                }
            },
            _ = shutdown.changed() => return,
        };
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let activity = Activity::new(self.header_read_timeout, self.keep_alive_timeout);
        self.serve_http(stream, h2, info, activity, shutdown).await;
    }

    async fn serve_http<I>(
        &self,
        io: I,
        h2: bool,
        info: ConnectionInfo,
        activity: Arc<Activity>,
        shutdown: watch::Receiver<()>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let handler = self.handler(info, &activity);
        let closing = Closing {
            activity: &activity,
            shutdown,
            // A connection closed for keeping quiet gets as long again to
            // let go before it is dropped.
            grace: self.header_read_timeout,
            remote: info.remote,
        };
        if h2 {
            // Boxed, so that HTTP/1.1 connections, the most, do not carry
            // room for an HTTP/2 connection's state.
            let connection = self.http2.serve_connection(TokioIo::new(io), handler);
            Box::pin(closing.drive(connection, http2::Connection::graceful_shutdown, false)).await;
        } else {
            let io = TokioIo::new(Watched::new(io, activity.clone()));
            let connection = self.http1.serve_connection(io, handler);
            closing
                .drive(connection, http1::Connection::graceful_shutdown, true)
                .await;
        }
    }

    /// The connection's requests to the service, each counted in flight
    /// until its response body is done.
    fn handler(
        &self,
        info: ConnectionInfo,
        activity: &Arc<Activity>,
    ) -> impl hyper::service::Service<
        Request<Incoming>,
        Response = Response<Holding<ResponseBody, InFlight>>,
        Error = Infallible,
        Future = Answer,
    > + Send
    + 'static {
        let service = self.service.clone();
        let activity = activity.clone();
        service_fn(move |request: Request<Incoming>| -> Answer {
            let in_flight = activity.request();
            let service = service.clone();
            let mut request = request.map(|body| body.map_err(BoxError::from).boxed_unsync());
            request.extensions_mut().insert(info);
            // Boxed: hyper keeps room for one request's future in every
            // connection, busy or idle, and a guest call's is kilobytes.
            Box::pin(async move {
                let response = service.handle(request).await;
                Ok(response.map(|body| Holding::new(body, in_flight)))
            })
        })
    }
}

/// Closes a connection when it keeps quiet past its deadline or when the
/// server shuts down.
struct Closing<'a> {
    activity: &'a Activity,
    shutdown: watch::Receiver<()>,
    grace: Duration,
    remote: SocketAddr,
}

impl Closing<'_> {
    /// Runs `connection` to its end. `graceful` asks it to finish what is in
    /// flight and close; `drop_on_head`: a connection waiting for the rest of
    /// a header is dropped outright (HTTP/1, where hyper's graceful close
    /// waits for a first request that has started to arrive).
    async fn drive<C>(mut self, connection: C, graceful: fn(Pin<&mut C>), drop_on_head: bool)
    where
        C: Future<Output = Result<(), hyper::Error>>,
    {
        tokio::pin!(connection);
        let mut shutting_down = false;
        // Once closed for keeping quiet: when to stop waiting for it to go.
        let mut let_go_by: Option<Instant> = None;
        loop {
            let deadline = let_go_by.unwrap_or_else(|| self.activity.next_check(Instant::now()));
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!("{}: connection closed with error: {error}", self.remote);
                    }
                    return;
                }
                _ = self.shutdown.changed(), if !shutting_down => {
                    shutting_down = true;
                    graceful(connection.as_mut());
                }
                () = tokio::time::sleep_until(deadline) => {
                    if let_go_by.is_some() {
                        tracing::debug!("{}: dropped, did not close in time", self.remote);
                        return;
                    }
                    match self.activity.expired() {
                        // A request came in meanwhile.
                        None => {}
                        Some(Quiet::Head) if drop_on_head => {
                            tracing::debug!("{}: closed, no whole request header in time", self.remote);
                            return;
                        }
                        Some(quiet) => {
                            tracing::debug!("{}: closing, quiet too long ({quiet:?})", self.remote);
                            graceful(connection.as_mut());
                            let_go_by = Some(Instant::now() + self.grace);
                        }
                    }
                }
            }
        }
    }
}

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
