//! The admin listener: a second HTTP/1.1 port, never the public one, for
//! operators and their tools. It owns the listener, the routing of its few
//! paths, the bearer-token check and the readiness state ([`Health`]) that
//! the signal handler flips. What `/apps` says is built in [`apps`]; the
//! live dashboard is `dashboard.html`, compiled into the binary.
//!
//! | path | answers |
//! | --- | --- |
//! | `GET /` | the dashboard (it polls `/apps` every second) |
//! | `GET /metrics` | every metric, Prometheus text format |
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 200 once the apps are loaded, 503 from the shutdown signal on |
//! | `GET /apps` | the apps, their limits and counters, as JSON |
//! | `POST /reload` | reloads the config, as `SIGHUP` does, and says how it went |

pub mod apps;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::reload::{ReloadError, Reloader};
use crate::service::Service;

/// The dashboard page, served as it is.
const DASHBOARD: &str = include_str!("dashboard.html");
/// A client that has not sent its request head by then is dropped, so that
/// idle sockets cannot pile up on the admin port.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The page may only talk to this listener, and nothing may frame it.
const DASHBOARD_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

type Body = Full<Bytes>;

/// Whether the server should be sent traffic: ready once the apps are
/// loaded, and no longer from the moment a shutdown signal arrives, while
/// the public listener drains. Shared by `serve` and the admin listener.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    loaded: AtomicBool,
    draining: AtomicBool,
}

impl Health {
    /// Not ready yet: the apps are still loading.
    pub fn new() -> Health {
        Health {
            started: Instant::now(),
            loaded: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        }
    }

    /// The apps are loaded and the public listener is bound.
    pub fn set_ready(&self) {
        self.loaded.store(true, Ordering::Release);
    }

    /// A shutdown signal arrived: `/readyz` fails from now on, so that a
    /// load balancer stops sending requests while in-flight ones finish.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub fn is_ready(&self) -> bool {
        self.loaded.load(Ordering::Acquire) && !self.is_draining()
    }

    /// Since the server started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

/// What the admin paths read and act on.
pub struct Admin {
    pub service: Arc<Service>,
    pub reloader: Arc<Reloader>,
    pub health: Arc<Health>,
    /// `admin_token`: when set, every path asks for it.
    pub token: Option<String>,
}

/// The admin listener, bound but not yet serving.
pub struct AdminListener {
    listener: TcpListener,
    admin: Arc<Admin>,
}

/// The admin listener serving in a task of its own.
pub struct AdminHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl AdminListener {
    /// Binds `address`; a failure names it, since it is the second address
    /// the server binds and the first one worked.
    pub async fn bind(address: &str, admin: Admin) -> anyhow::Result<AdminListener> {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot bind the admin listener to {address}"))?;
        Ok(AdminListener {
            listener,
            admin: Arc::new(admin),
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until [`AdminHandle::stop`], logging where.
    pub fn spawn(self) -> anyhow::Result<AdminHandle> {
        let address = self.local_addr()?;
        tracing::info!("admin listening on http://{address}");
        if self.admin.token.is_none() && !address.ip().is_loopback() {
            tracing::warn!(
                "the admin listener on {address} is reachable from other hosts and has no \
                 `admin_token`: anyone who reaches it can read the metrics and reload"
            );
        }
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(self.run(stopped));
        Ok(AdminHandle { stop, task })
    }

    async fn run(self, mut stopped: oneshot::Receiver<()>) {
        let mut connections = JoinSet::new();
        loop {
            let stream = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!("admin accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                // Finished connections are reaped here so the set stays small.
                Some(_) = connections.join_next() => continue,
                _ = &mut stopped => break,
            };
            let admin = self.admin.clone();
            let handler = service_fn(move |request: Request<Incoming>| {
                let admin = admin.clone();
                async move { Ok::<_, Infallible>(respond(&admin, request).await) }
            });
            connections.spawn(async move {
                let served = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), handler)
                    .await;
                if let Err(error) = served {
                    tracing::debug!("admin connection closed with error: {error}");
                }
            });
        }
        // The public listener has finished: nobody needs the dashboard now.
        connections.shutdown().await;
    }
}

impl AdminHandle {
    /// Stops accepting and closes the open admin connections.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Answers one admin request; every failure is a status.
async fn respond(admin: &Admin, request: Request<Incoming>) -> Response<Body> {
    let method = request.method();
    let path = request.uri().path();
    // Only the page may carry the token in its URL: a browser cannot add a
    // header to the address bar, and the page's script sends it as one.
    let query_token = if path == "/" && method == Method::GET {
        request.uri().query().and_then(token_in_query)
    } else {
        None
    };
    if let Some(expected) = &admin.token
        && !authorized(expected, request.headers(), query_token.as_deref())
    {
        let mut response = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"serverless-wasm admin\""),
        );
        return response;
    }
    let read = method == Method::GET || method == Method::HEAD;
    match path {
        "/" if read => dashboard(),
        "/metrics" if read => {
            let mut response = text(StatusCode::OK, crate::metrics::global().encode());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            response
        }
        "/healthz" if read => text(StatusCode::OK, "ok\n"),
        "/readyz" if read => readiness(&admin.health),
        "/apps" if read => json(
            StatusCode::OK,
            &apps::overview(&admin.service, &admin.health),
        ),
        "/reload" if method == Method::POST => {
            if !same_origin(request.headers()) {
                return text(StatusCode::FORBIDDEN, "cross-origin reload refused\n");
            }
            reload(admin.reloader.clone()).await
        }
        "/reload" => not_allowed("POST"),
        "/" | "/metrics" | "/healthz" | "/readyz" | "/apps" => not_allowed("GET, HEAD"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn readiness(health: &Health) -> Response<Body> {
    if health.is_ready() {
        text(StatusCode::OK, "ready\n")
    } else if health.is_draining() {
        text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

/// Reloads on a blocking thread: loading compiles modules, and the client
/// going away must not abandon a reload halfway.
async fn reload(reloader: Arc<Reloader>) -> Response<Body> {
    let outcome = tokio::task::spawn_blocking(move || reloader.try_reload("admin")).await;
    let (status, body) = match outcome {
        Ok(Ok(summary)) => (
            StatusCode::OK,
            serde_json::json!({ "reloaded": true, "summary": summary }),
        ),
        Ok(Err(error @ ReloadError::Busy)) => (
            StatusCode::CONFLICT,
            serde_json::json!({ "reloaded": false, "error": error.to_string() }),
        ),
        Ok(Err(error @ ReloadError::Failed(_))) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "reloaded": false, "error": error.to_string() }),
        ),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "reloaded": false, "error": format!("the reload failed: {error}") }),
        ),
    };
    json(status, &body)
}

/// Whether the request carries `expected` as its bearer token (or, for the
/// page, in its query). Compared by digest, so the time taken says nothing
/// about how much of a guess was right, nor about the token's length.
fn authorized(expected: &str, headers: &HeaderMap, query_token: Option<&str>) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .or(query_token);
    given.is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    let difference = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

fn token_in_query(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
}

/// A browser always sends `Origin` with a POST; another site's page must
/// not be able to make an operator's browser reload. Tools send none.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(origin), Some(host)) => {
            origin.strip_prefix("http://") == Some(host)
                || origin.strip_prefix("https://") == Some(host)
        }
        _ => false,
    }
}

fn dashboard() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(DASHBOARD.as_bytes())));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DASHBOARD_POLICY),
    );
    // The URL may carry the token: keep it out of other sites' logs.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(error) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    };
    let mut response = text(status, body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_exact_token_is_let_in() {
        let token = "0123456789abcdef";
        assert!(authorized(token, &bearer("Bearer 0123456789abcdef"), None));
        assert!(authorized(
            token,
            &bearer("bearer  0123456789abcdef "),
            None
        ));
        assert!(!authorized(token, &bearer("Bearer 0123456789abcde"), None));
        assert!(!authorized(token, &bearer("Basic 0123456789abcdef"), None));
        assert!(!authorized(token, &HeaderMap::new(), None));
        assert!(authorized(token, &HeaderMap::new(), Some(token)));
    }

    #[test]
    fn the_token_is_read_from_a_query_with_escapes() {
        assert_eq!(token_in_query("a=1&token=x%26y"), Some("x&y".to_owned()));
        assert_eq!(token_in_query("tokens=1"), None);
    }

    #[test]
    fn a_reload_from_another_sites_page_is_refused() {
        let mut headers = HeaderMap::new();
        assert!(same_origin(&headers));
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9090"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:9090"),
        );
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&headers));
    }

    #[test]
    fn readiness_follows_loading_and_draining() {
        let health = Health::new();
        assert!(!health.is_ready());
        health.set_ready();
        assert!(health.is_ready());
        health.start_draining();
        assert!(!health.is_ready());
        assert!(health.is_draining());
    }
}
