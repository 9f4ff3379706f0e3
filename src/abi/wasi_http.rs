//! `wasi:http/proxy` components (WASI 0.2) through wasmtime-wasi-http: the
//! same `.wasm` that `wasmtime serve`, Spin and wasmCloud run. Bodies stream
//! both ways; outgoing HTTP obeys the app's `allowed_outbound_hosts`.

use std::sync::Arc;

use http::{Request, Response};
use http_body_util::{BodyExt as _, LengthLimitError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::Instrument as _;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::{BoxError, GuestError, RequestBody, ResponseBody, wasi_ctx};
use crate::app::AppContext;
use crate::engine::{self, LimitedState};
use crate::outbound::AllowedHosts;

/// The host side of wasi:http: one linker with WASI 0.2 and wasi:http.
pub struct WasiHttpAbi {
    linker: Linker<WasiHttpState>,
}

/// A compiled, pre-linked component; cheap to clone.
#[derive(Clone)]
pub struct WasiHttpGuest {
    pre: ProxyPre<WasiHttpState>,
}

/// Everything one request's component instance can reach.
pub struct WasiHttpState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHttp,
    limits: StoreLimits,
}

impl WasiHttpAbi {
    pub fn new(engine: &Engine) -> anyhow::Result<Self> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Ok(Self { linker })
    }

    /// Compiles and links a component that exports `wasi:http/incoming-handler`.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> Result<WasiHttpGuest, Vec<String>> {
        let component = Component::new(engine, wasm).map_err(|e| vec![format!("{e:#}")])?;
        if let Some(export) = exported_interface(engine, &component, WASI_HTTP_0_3_HANDLER) {
            return Err(vec![format!(
                "the component exports `{export}` (wasi:http 0.3), which is not served yet; \
                 build it for wasi:http 0.2 (`{WASI_HTTP_0_2_HANDLER}@0.2.x`)"
            )]);
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| vec![format!("{e:#}")])?;
        let pre = ProxyPre::new(pre).map_err(|e| {
            vec![format!(
                "the component does not export `{WASI_HTTP_0_2_HANDLER}@0.2.x`: {e:#}"
            )]
        })?;
        Ok(WasiHttpGuest { pre })
    }
}

const WASI_HTTP_0_2_HANDLER: &str = "wasi:http/incoming-handler";
const WASI_HTTP_0_3_HANDLER: &str = "wasi:http/handler@0.3";

/// The first interface the component exports whose name starts with `prefix`.
fn exported_interface(engine: &Engine, component: &Component, prefix: &str) -> Option<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name)
        .find(|name| name.starts_with(prefix))
        .map(str::to_string)
}

impl WasiHttpGuest {
    /// Runs one request on a fresh instance. The response comes back as soon
    /// as the guest sets it; the guest goes on streaming its body, within the
    /// app's deadline, in a task of its own.
    pub async fn handle(
        &self,
        app: &Arc<AppContext>,
        request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, GuestError> {
        let state = WasiHttpState {
            wasi: wasi_ctx::builder(app)?.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHttp {
                allowed: app.allowed_outbound_hosts.clone(),
            },
            limits: engine::memory_limits(app.limits.memory_limit_bytes),
        };
        let mut store = engine::request_store(self.pre.engine(), state);
        let (sender, receiver) = oneshot::channel();
        let request = request.map(|body| body.map_err(incoming_body_error));
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(GuestError::from_wasmtime)?;
        let response = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(GuestError::from_wasmtime)?;

        let pre = self.pre.clone();
        let deadline = app.limits.timeout;
        let run = async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, response)
                .await
        };
        let task = AbortOnDrop(Some(tokio::spawn(
            async move {
                tokio::time::timeout(deadline, run)
                    .await
                    .unwrap_or(Err(wasmtime::format_err!(
                        "deadline exceeded while streaming"
                    )))
            }
            .in_current_span(),
        )));

        match receiver.await {
            Ok(Ok(response)) => {
                task.detach_logging_failure();
                Ok(response.map(outgoing_body))
            }
            Ok(Err(code)) => Err(GuestError::Trap(format!(
                "the component answered with error {code:?}"
            ))),
            Err(_) => Err(task.failure().await),
        }
    }
}

fn outgoing_body(body: HyperOutgoingBody) -> ResponseBody {
    body.map_err(|e| -> BoxError { Box::new(e) }).boxed_unsync()
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

    /// Why the task ended without setting a response.
    async fn failure(mut self) -> GuestError {
        let Some(task) = self.0.take() else {
            return GuestError::Trap("the component task is gone".into());
        };
        match task.await {
            Ok(Ok(())) => {
                GuestError::Trap("the component returned without setting a response".into())
            }
            Ok(Err(error)) => GuestError::from_wasmtime(error),
            Err(join) => GuestError::Trap(format!("the component task failed: {join}")),
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
        let default_port = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            443
        } else {
            80
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allowed
            .allows(host, uri.port_u16().unwrap_or(default_port))
    }
}

impl LimitedState for WasiHttpState {
    fn limits(&mut self) -> &mut StoreLimits {
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
