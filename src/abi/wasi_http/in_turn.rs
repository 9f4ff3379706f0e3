//! Instances that serve one request at a time: a fresh one per request, or
//! one kept for `reuse` requests in turn ([`IdleInstances`]).
//!
//! The request's own task drives its instance until the response is set,
//! so that a guest that answers at once (most do) costs no task, channel
//! wake-up or thread hop of its own. Only a guest still running after its
//! response (streaming its body, or a WASI 0.3 task writing it) is moved to
//! a task of its own, which the request's deadline bounds.

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_channel::oneshot as response_channel;
use http::Response;
use tokio::sync::oneshot;
use tracing::Instrument as _;
use wasmtime::{AsContextMut as _, Store};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::handler::{Prepared, Proxy, ProxyPre, Request};

use super::{WasiHttpGuest, WasiHttpState, new_store, outgoing_body};
use crate::abi::log_stream::LogSpan;
use crate::abi::{GuestError, ResponseBody};
use crate::context::AppContext;

/// How long an instance kept for reuse may wait for its next request, as
/// `wasmtime serve --idle-instance-timeout` defaults to.
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

type ResponseResult = wasmtime::Result<wasmtime_wasi_http::handler::Response>;

/// Runs one request on a waiting instance of `idle`, or on a fresh one.
pub(super) async fn handle(
    guest: &WasiHttpGuest,
    idle: Option<&Arc<IdleInstances>>,
    app: &Arc<AppContext>,
    request: Request,
) -> Result<Response<ResponseBody>, GuestError> {
    let started = Instant::now();
    let instance = match idle.and_then(|idle| idle.take()) {
        Some(warm) => {
            warm.store.data().log_span.follow_current();
            Instance::Warm(warm)
        }
        None => Instance::Cold(new_store(guest.engine(), app, LogSpan::current())?),
    };
    let (response_tx, mut response_rx) = response_channel::channel();
    // A WASI 0.3 body is a stream out of the instance: the instance runs
    // until the server has sent it. A WASI 0.2 body is written before the
    // handler returns.
    let (sent_tx, sent_rx) = match *guest.pre {
        ProxyPre::P3(_) => {
            let (tx, rx) = oneshot::channel::<()>();
            (Some(SentOnDrop(Some(tx))), Some(rx))
        }
        ProxyPre::P2(_) => (None, None),
    };
    let run = run(
        guest.pre.clone(),
        idle.cloned(),
        instance,
        request,
        response_tx,
        sent_rx,
    );
    let mut run = Box::pin(run);
    let (ran, response) = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = run.as_mut().poll(cx) {
            return Poll::Ready((Some(result), response_rx.try_recv().ok().flatten()));
        }
        Pin::new(&mut response_rx)
            .poll(cx)
            .map(|response| (None, response.ok()))
    })
    .await;
    match (ran, response) {
        (None, Some(Ok(response))) => {
            // The guest runs on after its response: in a task of its own,
            // within what is left of the deadline.
            let deadline = started + app.limits.timeout;
            tokio::spawn(
                async move {
                    let error = match tokio::time::timeout_at(deadline.into(), run).await {
                        Ok(Ok(())) => return,
                        Ok(Err(error)) => GuestError::from_wasmtime(error),
                        Err(_) => GuestError::Trap("deadline exceeded while streaming".into()),
                    };
                    tracing::error!("after sending its response: {error}");
                }
                .in_current_span(),
            );
            Ok(response.map(|body| outgoing_body(body, sent_tx)))
        }
        (Some(Err(error)), Some(Ok(response))) => {
            tracing::error!(
                "after setting its response: {}",
                GuestError::from_wasmtime(error)
            );
            Ok(response.map(|body| outgoing_body(body, sent_tx)))
        }
        (Some(Ok(())), Some(Ok(response))) => Ok(response.map(|body| outgoing_body(body, sent_tx))),
        // Why no response came: the instance's own error (a trap) says
        // most, else what the handler reported.
        (Some(Err(error)), _) | (_, Some(Err(error))) => Err(GuestError::from_wasmtime(error)),
        (_, None) => Err(GuestError::Trap(
            "the component returned without setting a response".into(),
        )),
    }
}

/// Instantiates the component unless `instance` already is, and calls its
/// handler; once the response is out, keeps the instance running until its
/// body has been sent (`sent` resolves when the server drops the body; only
/// WASI 0.3 needs it). Then the instance waits for another request if the
/// app reuses them, and is dropped if not.
async fn run(
    pre: Arc<ProxyPre<WasiHttpState>>,
    idle: Option<Arc<IdleInstances>>,
    instance: Instance,
    request: Request,
    response: response_channel::Sender<ResponseResult>,
    sent: Option<oneshot::Receiver<()>>,
) -> wasmtime::Result<()> {
    let mut warm = match instance {
        Instance::Warm(warm) => warm,
        Instance::Cold(mut store) => {
            let proxy = pre.instantiate_async(&mut store).await?;
            store.data().limits.instantiated();
            Warm {
                store,
                proxy,
                served: 0,
            }
        }
    };
    let prepared = Prepared::new(
        warm.store.as_context_mut(),
        &warm.proxy,
        request,
        WasiHttpView::http,
        response,
    )?;
    warm.store
        .run_concurrent(async |accessor| {
            prepared.run(accessor, std::future::pending()).await?;
            if let Some(sent) = sent {
                let _ = sent.await;
            }
            wasmtime::Result::<()>::Ok(())
        })
        .await??;
    warm.served += 1;
    if let Some(idle) = &idle {
        idle.park(warm);
    }
    Ok(())
}

/// Fires its sender when dropped: the response body is gone.
struct SentOnDrop(Option<oneshot::Sender<()>>);

impl Drop for SentOnDrop {
    fn drop(&mut self) {
        if let Some(sent) = self.0.take() {
            let _ = sent.send(());
        }
    }
}

/// The instance a request runs on.
enum Instance {
    /// A new store, to instantiate the component in.
    Cold(Store<WasiHttpState>),
    /// One that has served requests before and may serve more.
    Warm(Warm),
}

/// A store with the component instantiated in it.
struct Warm {
    store: Store<WasiHttpState>,
    proxy: Proxy,
    /// Requests it has served.
    served: u32,
}

/// The instances of one app that wait for their next request, for at most
/// [`IDLE_TIMEOUT`] each: a request takes the one that ran last (its memory
/// is the most likely to be in cache). An instance that trapped, missed its
/// deadline or lost its client is never put back. Its globals and memory
/// persist from request to request, which is why reuse is opt-in.
pub(super) struct IdleInstances {
    reuse: u32,
    max_idle: usize,
    parked: Mutex<Parked>,
}

#[derive(Default)]
struct Parked {
    /// Oldest first, each with the time it was parked.
    instances: VecDeque<(Instant, Warm)>,
    /// Whether a task is dropping the instances that waited too long.
    sweeping: bool,
}

impl IdleInstances {
    pub(super) fn new(reuse: u32, max_idle: usize) -> Self {
        Self {
            reuse,
            max_idle,
            parked: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Parked> {
        // Every update leaves the list whole; a panic elsewhere cannot corrupt it.
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self) -> Option<Warm> {
        // The guard ends with this statement: an expired store drops after it.
        let newest = self.lock().instances.pop_back();
        match newest {
            Some((parked_at, warm)) if parked_at.elapsed() < IDLE_TIMEOUT => Some(warm),
            _ => None,
        }
    }

    fn park(self: &Arc<Self>, warm: Warm) {
        if warm.served >= self.reuse {
            return;
        }
        let evicted = {
            let mut parked = self.lock();
            let evicted = (parked.instances.len() >= self.max_idle)
                .then(|| parked.instances.pop_front())
                .flatten();
            parked.instances.push_back((Instant::now(), warm));
            if !parked.sweeping {
                parked.sweeping = true;
                tokio::spawn(self.clone().sweep());
            }
            evicted
        };
        drop(evicted);
    }

    /// Drops each instance once it has waited [`IDLE_TIMEOUT`], so that an
    /// app no longer called gives its pool slots and memory back; ends when
    /// none is left.
    async fn sweep(self: Arc<Self>) {
        loop {
            let (expired, next_expiry) = {
                let mut parked = self.lock();
                let waited_too_long = parked
                    .instances
                    .partition_point(|(parked_at, _)| parked_at.elapsed() >= IDLE_TIMEOUT);
                let expired: Vec<_> = parked.instances.drain(..waited_too_long).collect();
                let next_expiry = parked.instances.front().map(|(at, _)| *at + IDLE_TIMEOUT);
                parked.sweeping = next_expiry.is_some();
                (expired, next_expiry)
            };
            drop(expired);
            match next_expiry {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => return,
            }
        }
    }
}
