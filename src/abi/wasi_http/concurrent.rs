//! `concurrent_reuse`: a WASI 0.3 instance serving several requests at
//! once, through wasmtime-wasi-http's own [`ProxyHandler`] (what `wasmtime
//! serve` runs): one task per instance takes requests from the app's queue
//! while its running ones wait on I/O, up to `concurrent_reuse` at once and
//! `reuse` in all.
//!
//! Each request keeps its own deadline: the app's `timeout_ms` from its
//! arrival to its response head (the server's) and to the end of its body
//! ([`Deadline`]), and from its start on the instance ([`Worker`]); an
//! instance with an expired request takes no more and is dropped once its
//! other requests are done. A trap ends the instance and with it only the
//! requests it was running.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::Response;
use http_body_util::BodyExt as _;
use tokio::time::Sleep;
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, InstantiationError, ProxyHandler, ProxyPre, Request,
    ShouldAccept, TrapOrPanicError, WorkerExpiration, WorkerState, WorkerStatus,
};

use super::in_turn::IDLE_TIMEOUT;
use super::{WasiHttpState, new_store, outgoing_body, pre_engine};
use crate::abi::log_stream::LogSpan;
use crate::abi::{BoxError, GuestError, ResponseBody};
use crate::context::AppContext;

/// One app's shared instances.
pub(super) struct SharedInstances {
    handler: ProxyHandler<Instances>,
}

impl SharedInstances {
    pub(super) fn new(pre: Arc<ProxyPre<WasiHttpState>>, reuse: u32, concurrent: u32) -> Self {
        SharedInstances {
            handler: ProxyHandler::new(Instances {
                pre,
                app: OnceLock::new(),
                reuse: reuse as usize,
                concurrent: concurrent as usize,
            }),
        }
    }

    /// Runs one request on an instance with room for it, or on a new one.
    pub(super) async fn handle(
        &self,
        app: &Arc<AppContext>,
        request: Request,
    ) -> Result<Response<ResponseBody>, GuestError> {
        let deadline = Instant::now() + app.limits.timeout;
        // The app is known from its first request on: the guest is bound to
        // it before the app's context exists.
        self.handler.state().app.get_or_init(|| app.clone());
        match self.handler.handle(tracing::Span::current(), request).await {
            Ok(response) => Ok(response.map(|body| {
                Deadline {
                    body: outgoing_body(body, ()),
                    deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
                }
                .boxed_unsync()
            })),
            Err(error) => Err(failure(error, app.limits.timeout)),
        }
    }
}

/// What the client of a failed request is told, from what [`ProxyHandler`]
/// reports.
fn failure(error: wasmtime::Error, timeout: Duration) -> GuestError {
    if error.is::<ExpirationError>() {
        return GuestError::Timeout(timeout);
    }
    if error.is::<TrapOrPanicError>() {
        return GuestError::Trap(
            "the instance it shared failed (a trap, or another request's deadline)".into(),
        );
    }
    match error.downcast::<InstantiationError<tracing::Span>>() {
        Ok(failed) if failed.error.is::<wasmtime::PoolConcurrencyLimitError>() => GuestError::Busy,
        Ok(failed) => GuestError::Trap(format!("{:#}", failed.error)),
        Err(error) => GuestError::from_wasmtime(error),
    }
}

/// How the app's instances are made and how long they live.
struct Instances {
    pre: Arc<ProxyPre<WasiHttpState>>,
    app: OnceLock<Arc<AppContext>>,
    reuse: usize,
    concurrent: usize,
}

impl HandlerState for Instances {
    type StoreData = WasiHttpState;
    type WorkerExpiration = Expiration;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<WasiHttpState, Expiration, Worker>> {
        let app = self
            .app
            .get()
            .ok_or_else(|| wasmtime::format_err!("no request has named the app yet"))?;
        let mut store = new_store(pre_engine(&self.pre), app, LogSpan::current())
            .map_err(|error| wasmtime::format_err!("{error}"))?;
        let proxy = self.pre.instantiate_async(&mut store).await?;
        store.data().limits.instantiated();
        let timeout = app.limits.timeout;
        Ok(Instance {
            store,
            proxy,
            view: WasiHttpView::http,
            expiration: Expiration {
                timeout,
                sleep: Box::pin(tokio::time::sleep(Duration::MAX / 4)),
            },
            state: Worker {
                reuse: self.reuse,
                concurrent: self.concurrent,
                timeout,
            },
        })
    }
}

/// One instance's limits: requests in all and at once, and each one's
/// deadline.
struct Worker {
    reuse: usize,
    concurrent: usize,
    timeout: Duration,
}

impl WorkerState for Worker {
    type StoreData = WasiHttpState;
    /// The request's span, where the instance's output is logged from then on.
    type RequestData = tracing::Span;

    fn should_accept_request(&self, concurrent_count: usize, total_count: usize) -> ShouldAccept {
        if total_count >= self.reuse {
            ShouldAccept::Never
        } else if concurrent_count >= self.concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        store: StoreContextMut<'_, WasiHttpState>,
        span: tracing::Span,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        // One instance, one stdout: a line goes to the request that started
        // last on it.
        store.data().log_span.set(span);
        Box::pin(tokio::time::sleep(self.timeout))
    }

    fn drop(&self, store: Store<WasiHttpState>, result: wasmtime::Result<()>) {
        if let Err(error) = result {
            let span = store.data().log_span.get();
            span.in_scope(|| tracing::warn!("a shared instance ended: {error:#}"));
        }
    }
}

/// When an instance ends: idle for [`IDLE_TIMEOUT`], or busy past the
/// deadline of the request it started last (a guest looping without
/// yielding keeps the handler's own deadlines from being polled).
struct Expiration {
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl WorkerExpiration for Expiration {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let after = match status {
            WorkerStatus::Idle => IDLE_TIMEOUT,
            WorkerStatus::Requests | WorkerStatus::PostReturn => self.timeout,
        };
        let Some(at) = start.checked_add(after) else {
            return Poll::Pending;
        };
        let at = tokio::time::Instant::from(at);
        if self.sleep.deadline() != at {
            self.sleep.as_mut().reset(at);
        }
        self.sleep.as_mut().poll(cx)
    }
}

/// A response body that fails once its request's deadline has passed: the
/// server then ends the response, and the instance writing it is free for
/// its other requests.
struct Deadline {
    body: ResponseBody,
    deadline: Pin<Box<Sleep>>,
}

impl http_body::Body for Deadline {
    type Data = bytes::Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, BoxError>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Pending if self.deadline.as_mut().poll(cx).is_ready() => {
                tracing::error!("deadline exceeded while streaming");
                Poll::Ready(Some(Err("deadline exceeded while streaming".into())))
            }
            polled => polled,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
