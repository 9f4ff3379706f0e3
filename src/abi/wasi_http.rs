//! wasi:http components through wasmtime-wasi-http: `wasi:http/proxy`
//! (WASI 0.2) and `wasi:http/service` (WASI 0.3), the same `.wasm` that
//! `wasmtime serve`, Spin and wasmCloud run. Bodies stream both ways;
//! outgoing HTTP obeys the app's `allowed_outbound_hosts`. An app with
//! `reuse = N` keeps instances between requests ([`IdleInstances`]).
//! Beside WASI and wasi:http, components get `wasi:keyvalue` and
//! `wasi:config` on their app's stores and `variables`, and Spin's
//! key-value and variables interfaces on the same; a component importing
//! Spin interfaces this host lacks still loads (`spin_imports`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::{Request, Response};
use http_body_util::{BodyExt as _, LengthLimitError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::Instrument as _;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{AsContextMut as _, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::handler::{Prepared, Proxy, ProxyPre};
use wasmtime_wasi_http::p2;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::log_stream::LogSpan;
use super::spin_variables::{self, VariablesView};
use super::wasi_config::{self, ConfigView};
use super::wasi_keyvalue::{self, KeyValueView};
use super::{
    BoxError, GuestError, RequestBody, ResponseBody, spin_imports, spin_key_value, wasi_ctx,
};
use crate::context::AppContext;
use crate::engine::{self, GuestLimits, LimitedState, WasmEngine};
use crate::outbound::AllowedHosts;

/// The host side of wasi:http: one linker with WASI and wasi:http, 0.2 and
/// 0.3, and the state interfaces (wasi:keyvalue, wasi:config, Spin's).
pub struct WasiHttpAbi {
    linker: Linker<WasiHttpState>,
    /// The same with Spin's shape of `wasi:keyvalue/batch@0.2.0-draft2`.
    spin_linker: Linker<WasiHttpState>,
}

/// How long an instance kept for reuse may wait for its next request, as
/// `wasmtime serve --idle-instance-timeout` defaults to.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// At most this many instances of one app wait for requests: enough for an
/// app's burst of a few hundred concurrent requests to keep its instances
/// (256 connections to the Rust hello: 27.2k req/s, against 24.0k with at
/// most 64 waiting), while each waiting one holds a slot of the instance
/// pool and its memory.
const MAX_IDLE_PER_APP: usize = engine::DEFAULT_MAX_INSTANCES as usize / 4;

/// A compiled, pre-linked component (WASI 0.2 or 0.3); cheap to clone.
#[derive(Clone)]
pub struct WasiHttpGuest {
    pre: Arc<ProxyPre<WasiHttpState>>,
    /// Where instances wait between requests; `None`: a fresh one each time.
    idle: Option<Arc<IdleInstances>>,
}

/// Everything one request's component instance can reach.
pub struct WasiHttpState {
    /// Where the guest's stdout and stderr are logged: the current request.
    log_span: LogSpan,
    /// The app it serves: its stores (`wasi:keyvalue`, Spin's key-value) and
    /// `variables` (`wasi:config`, Spin's variables).
    app: Arc<AppContext>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHttp,
    limits: GuestLimits,
}

impl WasiHttpAbi {
    pub fn new(engine: &Engine) -> anyhow::Result<Self> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
        wasi_keyvalue::add_to_linker(&mut linker, key_value_view)?;
        wasi_config::add_to_linker(&mut linker, |state: &mut WasiHttpState| ConfigView {
            variables: &state.app.variables,
        })?;
        spin_key_value::add_to_linker(&mut linker, key_value_view)?;
        spin_variables::add_to_linker(&mut linker, |state: &mut WasiHttpState| VariablesView {
            variables: &state.app.variables,
        })?;
        let mut spin_linker = linker.clone();
        wasi_keyvalue::add_spin_batch_to_linker(&mut spin_linker, key_value_view)?;
        Ok(Self {
            linker,
            spin_linker,
        })
    }

    /// Compiles and links a component that exports the wasi:http handler of
    /// WASI 0.2 (`incoming-handler`) or 0.3 (`handler`).
    pub fn load(&self, engine: &WasmEngine, wasm: &[u8]) -> Result<WasiHttpGuest, Vec<String>> {
        let component = engine.component(wasm)?;
        if let Some(refusal) = prerelease_handler(&component) {
            return Err(vec![refusal]);
        }
        let pre = match self.linker.instantiate_pre(&component) {
            Ok(pre) => pre,
            // Only Spin's batch shape can make the second one link.
            Err(error) => match self.spin_linker.instantiate_pre(&component) {
                Ok(pre) => pre,
                Err(_) => self
                    .link_stubbing_spin(&component)
                    .ok_or_else(|| vec![format!("{error:#}")])?,
            },
        };
        let pre = match ServicePre::new(pre.clone()) {
            Ok(service) => ProxyPre::P3(service),
            Err(_) => ProxyPre::P2(p2::bindings::ProxyPre::new(pre).map_err(|e| {
                vec![format!(
                    "the component exports neither `wasi:http/incoming-handler@0.2.x` nor \
                     `wasi:http/handler@0.3.x`: {e:#}"
                )]
            })?),
        };
        Ok(WasiHttpGuest {
            pre: Arc::new(pre),
            idle: None,
        })
    }

    /// Links a component that imports Spin interfaces this host does not
    /// provide, those interfaces trapping when called, if nothing else
    /// keeps it from linking; says so once, naming them.
    fn link_stubbing_spin(
        &self,
        component: &wasmtime::component::Component,
    ) -> Option<wasmtime::component::InstancePre<WasiHttpState>> {
        let unprovided = spin_imports::unprovided(component, &self.linker);
        if unprovided.is_empty() {
            return None;
        }
        let pre = [&self.linker, &self.spin_linker]
            .into_iter()
            .find_map(|linker| spin_imports::link_with_traps(linker, component, &unprovided))?;
        tracing::warn!(
            "a component imports Spin interfaces this host does not provide: `{}`; \
             it is served, and each call to one of them fails its request",
            unprovided.join("`, `")
        );
        Some(pre)
    }
}

/// Why a component exporting a pre-release `wasi:http/handler@0.3.0-*`
/// (Rust spin-sdk 6, Spin's Python SDK 4) cannot be served: its types differ
/// from the released 0.3.0 this host links.
fn prerelease_handler(component: &wasmtime::component::Component) -> Option<String> {
    let component_type = component.component_type();
    let (name, _) = component_type
        .exports(component.engine())
        .find(|(name, _)| name.starts_with("wasi:http/handler@0.3.0-"))?;
    Some(format!(
        "the component exports `{name}`, a pre-release of WASI 0.3 this host does not \
         serve; it serves `wasi:http/handler@0.3.0` (Rust spin-sdk 7, the `wasip3` crate \
         0.7 and later) and `wasi:http/incoming-handler@0.2.x`: rebuild it for one of those"
    ))
}

impl WasiHttpGuest {
    /// This component for one app, each instance serving up to `reuse`
    /// requests; 1 gives every request a fresh instance.
    pub fn reusing(&self, reuse: u32) -> WasiHttpGuest {
        WasiHttpGuest {
            pre: self.pre.clone(),
            idle: (reuse > 1).then(|| Arc::new(IdleInstances::new(reuse))),
        }
    }

    /// Runs one request on a fresh instance, or on a waiting one when the app
    /// reuses them. The response comes back as soon as the guest sets it; the
    /// instance lives on in a task of its own, within the app's deadline,
    /// until the response body is sent.
    pub async fn handle(
        &self,
        app: &Arc<AppContext>,
        request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, GuestError> {
        let instance = match self.idle.as_ref().and_then(|idle| idle.take()) {
            Some(warm) => {
                warm.store.data().log_span.follow_current();
                Instance::Warm(warm)
            }
            None => Instance::Cold(self.new_store(app)?),
        };
        let request = request.map(|body| body.map_err(incoming_body_error).boxed_unsync());
        let (response_tx, response_rx) = futures_channel::oneshot::channel();
        let (sent_tx, sent_rx) = oneshot::channel::<()>();
        let task = AbortOnDrop(Some(tokio::spawn(
            self.clone()
                .run(instance, request, response_tx, sent_rx, app.limits.timeout)
                .in_current_span(),
        )));

        let response = response_rx.await;
        let Ok(Ok(response)) = response else {
            // No body will be sent: let the task end instead of waiting for one.
            drop(sent_tx);
            return Err(task.failure(response.ok().and_then(Result::err)).await);
        };
        task.detach_logging_failure();
        Ok(response.map(|body| outgoing_body(body, sent_tx)))
    }

    fn new_store(&self, app: &Arc<AppContext>) -> Result<Store<WasiHttpState>, GuestError> {
        let log_span = LogSpan::current();
        let state = WasiHttpState {
            wasi: wasi_ctx::builder(app, &log_span)?.build(),
            log_span,
            app: app.clone(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHttp {
                allowed: app.allowed_outbound_hosts.clone(),
            },
            limits: GuestLimits::for_app(app),
        };
        Ok(engine::request_store(self.pre_engine(), state))
    }

    fn pre_engine(&self) -> &Engine {
        match &*self.pre {
            ProxyPre::P2(pre) => pre.engine(),
            ProxyPre::P3(pre) => pre.engine(),
        }
    }

    /// Instantiates the component unless `instance` already is, and calls its
    /// handler; once the response is out, keeps the instance running until
    /// its body has been sent (`sent` resolves when the server drops the
    /// body), all within `deadline`. Then the instance waits for another
    /// request if the app reuses them, and is dropped if not.
    async fn run(
        self,
        instance: Instance,
        request: wasmtime_wasi_http::handler::Request,
        response: futures_channel::oneshot::Sender<
            wasmtime::Result<wasmtime_wasi_http::handler::Response>,
        >,
        sent: oneshot::Receiver<()>,
        deadline: Duration,
    ) -> wasmtime::Result<()> {
        let run = async {
            let mut warm = match instance {
                Instance::Warm(warm) => warm,
                Instance::Cold(mut store) => {
                    let proxy = self.pre.instantiate_async(&mut store).await?;
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
                    prepared.run(accessor, std::future::pending()).await
                })
                .await??;
            warm.store
                .run_concurrent(async |_| {
                    let _ = sent.await;
                })
                .await?;
            warm.served += 1;
            wasmtime::Result::Ok(warm)
        };
        let warm =
            tokio::time::timeout(deadline, run)
                .await
                .unwrap_or(Err(wasmtime::format_err!(
                    "deadline exceeded while streaming"
                )))?;
        if let Some(idle) = &self.idle {
            idle.park(warm);
        }
        Ok(())
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
struct IdleInstances {
    reuse: u32,
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
    fn new(reuse: u32) -> Self {
        Self {
            reuse,
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
            let evicted = (parked.instances.len() >= MAX_IDLE_PER_APP)
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

/// The guest's body as the server sends it; `sent` fires when the server
/// drops it (finished, or the client went away).
fn outgoing_body(body: WasiBody, sent: oneshot::Sender<()>) -> ResponseBody {
    let guard = SentOnDrop(Some(sent));
    body.map_err(move |e| -> BoxError {
        let _ = &guard;
        Box::new(e)
    })
    .boxed_unsync()
}

struct SentOnDrop(Option<oneshot::Sender<()>>);

impl Drop for SentOnDrop {
    fn drop(&mut self) {
        if let Some(sent) = self.0.take() {
            let _ = sent.send(());
        }
    }
}

/// What the guest sees when the client's body fails: too long, or broken.
fn incoming_body_error(error: BoxError) -> wasmtime_wasi_http::Error {
    if error.is::<LengthLimitError>() {
        return wasmtime_wasi_http::Error::HttpRequestBodySize(None);
    }
    match error.downcast::<hyper::Error>() {
        Ok(error) => wasmtime_wasi_http::Error::Hyper(*error),
        Err(_) => wasmtime_wasi_http::Error::HttpProtocolError,
    }
}

/// The guest's task: aborted if the client goes away before a response.
struct AbortOnDrop(Option<JoinHandle<wasmtime::Result<()>>>);

impl AbortOnDrop {
    /// Lets the task finish streaming the body; a failure is logged.
    fn detach_logging_failure(mut self) {
        if let Some(task) = self.0.take() {
            tokio::spawn(
                async move {
                    if let Ok(Err(error)) = task.await {
                        let error = GuestError::from_wasmtime(error);
                        tracing::error!("after sending its response: {error}");
                    }
                }
                .in_current_span(),
            );
        }
    }

    /// Why no response came: the task's own error (a trap) says most,
    /// else what the handler reported.
    async fn failure(mut self, reported: Option<wasmtime::Error>) -> GuestError {
        let Some(task) = self.0.take() else {
            return GuestError::Trap("the component task is gone".into());
        };
        match (task.await, reported) {
            (Ok(Err(error)), _) | (_, Some(error)) => GuestError::from_wasmtime(error),
            (Ok(Ok(())), None) => {
                GuestError::Trap("the component returned without setting a response".into())
            }
            (Err(join), None) => GuestError::Trap(format!("the component task failed: {join}")),
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Sends a component's outgoing requests, if the allow-list permits them.
struct OutboundHttp {
    allowed: AllowedHosts,
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        io_result: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        if !self.permits(request.uri()) {
            let uri = request.uri().to_string();
            tracing::warn!(target: "guest", "outgoing request to {uri} refused: not in allowed_outbound_hosts");
            return Box::new(std::future::ready(Err(
                wasmtime_wasi_http::Error::HttpRequestDenied,
            )));
        }
        wasmtime_wasi_http::default_hooks().send_request(request, options, io_result)
    }
}

impl OutboundHttp {
    fn permits(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let scheme = uri.scheme_str().unwrap_or("http");
        let default_port = if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allowed
            .allows_scheme(scheme, host, uri.port_u16().unwrap_or(default_port))
    }
}

fn key_value_view(state: &mut WasiHttpState) -> KeyValueView<'_> {
    KeyValueView {
        stores: &state.app.stores,
        table: &mut state.table,
    }
}

impl LimitedState for WasiHttpState {
    fn limits(&mut self) -> &mut GuestLimits {
        &mut self.limits
    }
}

impl WasiView for WasiHttpState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for WasiHttpState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
