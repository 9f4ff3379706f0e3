//! wasi:http components through wasmtime-wasi-http: `wasi:http/proxy`
//! (WASI 0.2) and `wasi:http/service` (WASI 0.3), the same `.wasm` that
//! `wasmtime serve`, Spin and wasmCloud run. Bodies stream both ways;
//! outgoing HTTP obeys the app's `allowed_outbound_hosts`. Instances are
//! fresh per request or, as the app asks, kept for `reuse` one request
//! after another ([`in_turn`]) or shared by `concurrent_reuse` requests at
//! once ([`concurrent`], WASI 0.3 only).
//! Beside WASI and wasi:http, components get `wasi:keyvalue` and
//! `wasi:config` on their app's stores and `variables`, and Spin's
//! key-value and variables interfaces on the same; a component importing
//! Spin interfaces this host lacks still loads (`spin_imports`).

mod concurrent;
mod in_turn;

use std::sync::Arc;

use http::{Request, Response};
use http_body_util::{BodyExt as _, LengthLimitError};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::handler::ProxyPre;
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
use crate::abi::AbiKind;
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

/// A compiled, pre-linked component (WASI 0.2 or 0.3) bound to one app's
/// way of keeping instances; cheap to clone.
#[derive(Clone)]
pub struct WasiHttpGuest {
    pre: Arc<ProxyPre<WasiHttpState>>,
    keeping: Keeping,
    /// At most this many instances of one app wait for requests in turn: a
    /// quarter of the engine's instance pool, enough for an app's burst of
    /// a few hundred concurrent requests to keep its instances (256
    /// connections to the Rust hello: 27.2k req/s, against 24.0k with at
    /// most 64 waiting), while each waiting one holds a pool slot and its
    /// memory.
    max_idle: usize,
}

/// How an app's instances outlive their requests.
#[derive(Clone)]
enum Keeping {
    /// They do not: a fresh instance for every request.
    Fresh,
    /// `reuse`: one request after another, up to a count.
    InTurn(Arc<in_turn::IdleInstances>),
    /// `concurrent_reuse`: several requests at once (WASI 0.3).
    Concurrent(Arc<concurrent::SharedInstances>),
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
            keeping: Keeping::Fresh,
            max_idle: (engine.max_instances() / 4).max(1) as usize,
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
    /// This component for one app: each instance serves up to `reuse`
    /// requests, up to `concurrent` of them at once; 1 and 1 give every
    /// request a fresh instance. Serving several at once needs a WASI 0.3
    /// component: a 0.2 handler is a synchronous call.
    pub fn reusing(&self, reuse: u32, concurrent: u32) -> Result<WasiHttpGuest, String> {
        let keeping = if concurrent > 1 {
            if let ProxyPre::P2(_) = &*self.pre {
                return Err(concurrent_refusal(concurrent, "a WASI 0.2 component"));
            }
            Keeping::Concurrent(Arc::new(concurrent::SharedInstances::new(
                self.pre.clone(),
                reuse,
                concurrent,
            )))
        } else if reuse > 1 {
            Keeping::InTurn(Arc::new(in_turn::IdleInstances::new(reuse, self.max_idle)))
        } else {
            Keeping::Fresh
        };
        Ok(WasiHttpGuest {
            keeping,
            ..self.clone()
        })
    }

    /// Runs one request on a fresh instance, on one that served requests
    /// before, or on one shared with other requests, as the app asks.
    pub async fn handle(
        &self,
        app: &Arc<AppContext>,
        request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, GuestError> {
        let request = request.map(|body| body.map_err(incoming_body_error).boxed_unsync());
        match &self.keeping {
            Keeping::Fresh => in_turn::handle(self, None, app, request).await,
            Keeping::InTurn(idle) => in_turn::handle(self, Some(idle), app, request).await,
            Keeping::Concurrent(shared) => shared.handle(app, request).await,
        }
    }

    fn engine(&self) -> &Engine {
        pre_engine(&self.pre)
    }
}

/// Why an app's `concurrent_reuse` cannot be: told from the binary
/// without compiling it, so that a config is refused before any request.
pub fn refuse_concurrent_reuse(concurrent: u32, abi: AbiKind, wasm: &[u8]) -> Option<String> {
    if concurrent <= 1 {
        return None;
    }
    if abi != AbiKind::WasiHttp {
        let served = format!("a module served with the {} ABI", abi.name());
        return Some(concurrent_refusal(concurrent, &served));
    }
    let exports_0_3 = wasmparser::Parser::new(0)
        .parse_all(wasm)
        .filter_map(Result::ok)
        .any(|payload| match payload {
            wasmparser::Payload::ComponentExportSection(exports) => exports
                .into_iter()
                .filter_map(Result::ok)
                .any(|export| export.name.name.starts_with("wasi:http/handler@0.3.")),
            _ => false,
        });
    (!exports_0_3).then(|| concurrent_refusal(concurrent, "a WASI 0.2 component"))
}

fn concurrent_refusal(concurrent: u32, what: &str) -> String {
    format!(
        "`concurrent_reuse = {concurrent}` applies only to WASI 0.3 components (exporting \
         `wasi:http/handler@0.3.x`), whose handler is async; this is {what}, which serves one \
         request at a time: use `reuse` alone"
    )
}

fn pre_engine(pre: &ProxyPre<WasiHttpState>) -> &Engine {
    match pre {
        ProxyPre::P2(pre) => pre.engine(),
        ProxyPre::P3(pre) => pre.engine(),
    }
}

/// A store for one instance of `app`'s component, its output logged in
/// `log_span`.
fn new_store(
    engine: &Engine,
    app: &Arc<AppContext>,
    log_span: LogSpan,
) -> Result<Store<WasiHttpState>, GuestError> {
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
    Ok(engine::request_store(engine, state))
}

/// The guest's body as the server sends it, holding `guard` until the
/// server drops it (sent, or the client went away).
fn outgoing_body<G: Send + 'static>(body: WasiBody, guard: G) -> ResponseBody {
    body.map_err(move |e| -> BoxError {
        let _ = &guard;
        Box::new(e)
    })
    .boxed_unsync()
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
