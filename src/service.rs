//! One request's way through the server, top to bottom: its request id, the
//! route to an app, the app's admission queue, the guest call, and the
//! access log and metrics of its answer. Connections are `server`'s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use tracing::Instrument as _;

use crate::abi::{RequestBody, ResponseBody, full_body};
use crate::app::{App, Apps};
use crate::deployment::{Current, Deployment};
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
