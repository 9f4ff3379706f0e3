//! One request's way through the server, top to bottom: its request id, the
//! route to an app, the app's admission queue, the guest call, and the
//! access log and metrics of its answer. Connections are `server`'s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use http::header::{ALLOW, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use tracing::Instrument as _;

use crate::abi::{GuestError, Holding, RequestBody, ResponseBody, full_body};
use crate::app::{App, Apps};
use crate::deployment::{Current, Deployment, Routed};
use crate::metrics::{self, AppMetrics, Fault};
use crate::router::Lookup;

const REQUEST_ID: &str = "x-request-id";

/// Everything needed to answer a request: the deployment in force.
pub struct Service {
    current: Current,
    request_ids: RequestIds,
}

impl Service {
    pub fn new(apps: Apps) -> Service {
        Service {
            current: Current::new(Deployment::new(apps, None)),
            request_ids: RequestIds::new(),
        }
    }

    /// The apps new requests see.
    pub fn current(&self) -> Arc<Deployment> {
        self.current.get()
    }

    /// Serves `apps` from now on; requests in flight finish on the old ones.
    pub fn replace(&self, apps: Apps) {
        metrics::global().retain_apps(apps.iter().map(|app| app.config.name.as_str()));
        self.current.replace(apps);
    }

    /// Releases the apps that have been idle for their `idle_release_seconds`,
    /// looking once a second, for the server's life.
    pub async fn release_idle_apps(self: Arc<Self>) {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.current.get().apps().release_idle();
        }
    }

    /// Answers one request; never fails, every error becomes a status.
    pub async fn handle(&self, request: Request<RequestBody>) -> Response<ResponseBody> {
        let started = Instant::now();
        let id = self.request_ids.for_request(&request);
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let deployment = self.current.get();
        let (app, mut response) = match deployment.route(&method, &path) {
            Ok(routed) => (Some(routed.app), self.admit(routed, request, &id).await),
            Err(Lookup::MethodNotAllowed { allow }) => {
                let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
                response.headers_mut().insert(ALLOW, allow);
                (None, response)
            }
            Err(_) => (None, plain(StatusCode::NOT_FOUND, "not found\n")),
        };
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        let answer = Answer {
            method: &method,
            path: &path,
            status: response.status().as_u16(),
            elapsed: started.elapsed(),
            request_id: &id,
        };
        answer.record(app.map(|app| &*app.context.metrics));
        response
    }

    /// Waits for the app's turn, then runs the request; the turn is held
    /// until the response body has been sent, since a guest streaming its
    /// body is still running.
    async fn admit(
        &self,
        routed: Routed<'_>,
        request: Request<RequestBody>,
        id: &str,
    ) -> Response<ResponseBody> {
        let app = routed.app;
        // At error level, so that the request id and app are on every line
        // logged within it, whatever level RUST_LOG lets through.
        let span =
            tracing::error_span!("request", request_id = id, app = app.context.name.as_str());
        async {
            let counters = &app.context.metrics;
            let turn = match routed.gate.enter(counters).await {
                Ok(turn) => turn,
                Err(rejection) => {
                    counters.rejected(rejection);
                    tracing::info!("refused by admission control: {}", rejection.label());
                    let text = format!(
                        "503 Service Unavailable\n{} for this app\n",
                        rejection.label()
                    );
                    return unavailable(&text, routed.gate.retry_after_seconds());
                }
            };
            let running = counters.running();
            let response = self.call(app, request, id).await;
            response.map(|body| Holding::new(body, (turn, running)).boxed_unsync())
        }
        .instrument(span)
        .await
    }

    async fn call(
        &self,
        app: &App,
        request: Request<RequestBody>,
        id: &str,
    ) -> Response<ResponseBody> {
        match app.handle(request).await {
            Ok(response) => response,
            Err(error) => {
                if let Some(fault) = fault_of(&error) {
                    app.context.metrics.fault(fault);
                }
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
                let text = format!("{status}\n{detail}request id: {id}\n");
                match error {
                    GuestError::Busy => unavailable(&text, 1),
                    _ => plain(status, &text),
                }
            }
        }
    }
}

/// What is known of a request once its response head is ready.
pub struct Answer<'a> {
    pub method: &'a http::Method,
    pub path: &'a str,
    pub status: u16,
    pub elapsed: std::time::Duration,
    pub request_id: &'a str,
}

impl Answer<'_> {
    /// The per-request bookkeeping: the app's counters (`None`: no app was
    /// routed to) and the access log line. `benches/observe.rs` measures it.
    pub fn record(&self, app: Option<&AppMetrics>) {
        if let Some(app) = app {
            app.answered(self.status, self.elapsed);
            metrics::global().request(app, self.method, self.status);
        }
        let micros = self.elapsed.as_micros();
        tracing::info!(
            target: "access",
            method = self.method.as_str(),
            path = self.path,
            status = self.status,
            // Whole microseconds as milliseconds: integer formatting costs a
            // tenth of a float's.
            duration_ms = format_args!("{}.{:03}", micros / 1000, micros % 1000),
            app = app.map_or("-", |app| app.name().as_str()),
            request_id = self.request_id,
        );
    }
}

fn fault_of(error: &GuestError) -> Option<Fault> {
    match error {
        GuestError::Trap(_) => Some(Fault::Trap),
        GuestError::Timeout(_) => Some(Fault::Timeout),
        GuestError::Busy => Some(Fault::PoolFull),
        GuestError::BodyTooLarge(_) | GuestError::BadRequest(_) | GuestError::Unloadable(_) => None,
    }
}

/// 503 with `Retry-After`, for a client to come back later.
fn unavailable(text: &str, retry_after_seconds: u64) -> Response<ResponseBody> {
    let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, text);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_seconds));
    response
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
