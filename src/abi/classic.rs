//! The classic ABI of the original serverless-wasm: host functions in module
//! `env` (pointers `i32`, sizes `i64`) and an exported `() -> ()` entry point.
//!
//! Every getter follows one convention: return the value's full length, copy
//! at most `size` bytes, and return -1 when the value is absent. Any pointer or
//! length outside the guest's memory traps.

mod db;
mod imported_memory;
mod tcp;

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use wasmtime::{
    Caller, Engine, Extern, ExternType, FuncType, InstancePre, Linker, Memory, Module,
    ModuleExport, Store,
};

use super::exports::{describe_extern, entry_point, signature};
use super::{
    GuestError, RequestBody, ResponseBody, buffer_body, full_body, is_framing_header, loggable,
};
use crate::context::AppContext;
use crate::engine::{self, GuestLimits, LimitedState, WasmEngine};
use tcp::Sockets;

/// The host side of the classic ABI: one linker, built once.
pub struct ClassicAbi {
    linker: Linker<HostState>,
    /// The type of every function the host provides, to check imports against.
    provided: HashMap<String, FuncType>,
}

/// A compiled, pre-linked classic module, shared by every app that uses it.
pub struct ClassicModule {
    pre: InstancePre<HostState>,
    memory: Option<ModuleExport>,
    /// The largest initial size of any memory the module defines, in bytes.
    initial_memory_bytes: u64,
}

/// One app's use of a module: the module plus its entry point.
#[derive(Clone)]
pub struct ClassicGuest {
    module: Arc<ClassicModule>,
    entry: ModuleExport,
}

/// Everything one request's instance can reach.
pub struct HostState {
    app: Arc<AppContext>,
    limits: GuestLimits,
    memory: Option<Memory>,
    request: GuestRequest,
    response: GuestResponse,
    sockets: Sockets,
}

/// The request as the guest reads it: routed, body fully received.
struct GuestRequest {
    method: Method,
    /// Without the query string, as sent (not percent-decoded).
    path: String,
    /// Without `?`; `None` when the URI has no `?`.
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

/// The response the guest builds.
struct GuestResponse {
    status: StatusCode,
    /// A reason phrase the guest chose, when it differs from the canonical one.
    reason: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Default for GuestResponse {
    fn default() -> Self {
        Self {
            status: StatusCode::OK,
            reason: None,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }
}

impl GuestResponse {
    fn into_http(self) -> Response<ResponseBody> {
        let mut response = Response::new(full_body(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        let reason = self
            .reason
            .and_then(|reason| hyper::ext::ReasonPhrase::try_from(reason).ok());
        if let Some(reason) = reason {
            response.extensions_mut().insert(reason);
        }
        response
    }
}

impl ClassicAbi {
    pub fn new(engine: &Engine) -> anyhow::Result<Self> {
        let mut linker = Linker::new(engine);
        define_host_functions(&mut linker)?;
        let provided = provided_types(engine, &linker);
        Ok(Self { linker, provided })
    }

    /// Compiles and links a binary module. Every problem found is returned,
    /// one message each.
    pub fn load(&self, engine: &WasmEngine, wasm: &[u8]) -> Result<ClassicModule, Vec<String>> {
        let rewritten =
            imported_memory::define_imported_memory(wasm).map_err(|e| vec![format!("{e:#}")])?;
        let (wasm, memory_name) = match rewritten {
            Some(r) => (Cow::Owned(r.wasm), Some(r.memory_export)),
            None => (Cow::Borrowed(wasm), None),
        };
        let module = engine.module(&wasm)?;
        let problems = self.import_problems(&module);
        if !problems.is_empty() {
            return Err(problems);
        }
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| vec![format!("{e:#}")])?;
        let memory_name = memory_name.unwrap_or_else(|| "memory".to_string());
        let memory = match module.get_export(&memory_name) {
            Some(ExternType::Memory(_)) => module.get_export_index(&memory_name),
            _ => None,
        };
        let initial_memory_bytes =
            initial_memory_bytes(&wasm).map_err(|e| vec![format!("{e:#}")])?;
        Ok(ClassicModule {
            pre,
            memory,
            initial_memory_bytes,
        })
    }

    fn import_problems(&self, module: &Module) -> Vec<String> {
        module
            .imports()
            .filter_map(|import| {
                let name = format!("{}.{}", import.module(), import.name());
                let provided = (import.module() == "env")
                    .then(|| self.provided.get(import.name()))
                    .flatten();
                match (import.ty(), provided) {
                    (ExternType::Func(ty), Some(expected)) if !ty.matches(expected) => {
                        Some(format!(
                            "import `{name}` has type {}, but the host provides {}",
                            signature(&ty),
                            signature(expected)
                        ))
                    }
                    (ExternType::Func(_), Some(_)) => None,
                    (ty, _) => Some(format!(
                        "import `{name}` ({}) is not provided by the classic ABI; it provides: {}",
                        describe_extern(&ty),
                        self.provided_list()
                    )),
                }
            })
            .collect()
    }

    fn provided_list(&self) -> String {
        let mut names: Vec<_> = self.provided.keys().map(|n| format!("env.{n}")).collect();
        names.sort();
        names.push("env.memory".into());
        names.join(", ")
    }
}

impl ClassicModule {
    /// Binds an entry point, refusing a missing or mistyped export by name.
    pub fn guest(
        self: &Arc<Self>,
        function: &str,
        memory_limit_bytes: u64,
    ) -> Result<ClassicGuest, String> {
        let module = self.pre.module();
        if self.initial_memory_bytes > memory_limit_bytes {
            return Err(format!(
                "the module's initial memory ({} bytes) exceeds memory_limit_mb ({} bytes)",
                self.initial_memory_bytes, memory_limit_bytes
            ));
        }
        let entry = entry_point(module, function)?;
        if self.memory.is_none() && module.imports().next().is_some() {
            return Err("the module neither exports `memory` nor imports `env.memory`, so host functions cannot reach its data".into());
        }
        Ok(ClassicGuest {
            module: self.clone(),
            entry,
        })
    }
}

impl ClassicGuest {
    /// Receives the whole body, then runs the request on a fresh instance.
    pub async fn handle(
        &self,
        app: &Arc<AppContext>,
        request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, GuestError> {
        let (parts, body) = request.into_parts();
        let request = GuestRequest {
            body: buffer_body(body, app.limits.max_request_body_bytes).await?,
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
        };
        let response = self.run(app.clone(), request).await?;
        Ok(response.into_http())
    }

    async fn run(
        &self,
        app: Arc<AppContext>,
        request: GuestRequest,
    ) -> Result<GuestResponse, GuestError> {
        let engine = self.module.pre.module().engine();
        let state = HostState {
            sockets: Sockets::new(app.allowed_outbound_hosts.clone()),
            limits: GuestLimits::for_app(&app),
            app,
            memory: None,
            request,
            response: GuestResponse::default(),
        };
        let mut store = engine::request_store(engine, state);

        let instance = self
            .module
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(GuestError::from_wasmtime)?;
        store.data().limits.instantiated();
        if let Some(export) = &self.module.memory
            && let Some(Extern::Memory(memory)) = instance.get_module_export(&mut store, export)
        {
            store.data_mut().memory = Some(memory);
        }
        let entry = instance
            .get_module_export(&mut store, &self.entry)
            .and_then(Extern::into_func)
            .ok_or_else(|| GuestError::Trap("entry point disappeared".into()))?;
        let entry = entry
            .typed::<(), ()>(&store)
            .map_err(GuestError::from_wasmtime)?;
        entry
            .call_async(&mut store, ())
            .await
            .map_err(GuestError::from_wasmtime)?;
        Ok(store.into_data().response)
    }
}

fn define_host_functions(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.func_wrap("env", "log", log)?;
    linker.func_wrap("env", "response_set_status_line", set_status_line)?;
    linker.func_wrap("env", "response_set_header", set_header)?;
    linker.func_wrap("env", "response_set_body", set_body)?;
    linker.func_wrap(
        "env",
        "request_get_method",
        getter(|s| Some(s.request.method.as_str().as_bytes().into())),
    )?;
    linker.func_wrap(
        "env",
        "request_get_path",
        getter(|s| Some(s.request.path.as_bytes().into())),
    )?;
    linker.func_wrap(
        "env",
        "request_get_query",
        getter(|s| s.request.query.as_deref().map(|q| q.as_bytes().into())),
    )?;
    linker.func_wrap(
        "env",
        "request_get_body",
        getter(|s| Some(s.request.body.as_ref().into())),
    )?;
    linker.func_wrap("env", "request_get_header", keyed_getter(request_header))?;
    db::define(linker)?;
    tcp::define(linker)?;
    Ok(())
}

/// Reads the types of the linker's functions through a throwaway store, so
/// the import check can never disagree with what is really linked.
fn provided_types(engine: &Engine, linker: &Linker<HostState>) -> HashMap<String, FuncType> {
    let mut store = Store::new(engine, HostState::placeholder());
    linker
        .iter(&mut store)
        .filter_map(|(_, name, item)| match item {
            Extern::Func(func) => Some((name.to_string(), func)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|(name, func)| (name, func.ty(&store)))
        .collect()
}

impl LimitedState for HostState {
    fn limits(&mut self) -> &mut GuestLimits {
        &mut self.limits
    }
}

impl HostState {
    fn placeholder() -> Self {
        let app = Arc::new(AppContext::default());
        Self {
            sockets: Sockets::new(app.allowed_outbound_hosts.clone()),
            limits: GuestLimits::for_app(&app),
            app,
            memory: None,
            request: GuestRequest {
                method: http::Method::GET,
                path: "/".into(),
                query: None,
                headers: http::HeaderMap::new(),
                body: Bytes::new(),
            },
            response: GuestResponse::default(),
        }
    }
}

type Value<'a> = Option<Cow<'a, [u8]>>;

/// A host function `(ptr, size) -> len` that copies out a value of the state.
fn getter(
    value: fn(&HostState) -> Value<'_>,
) -> impl Fn(Caller<'_, HostState>, i32, i64) -> wasmtime::Result<i64> + Send + Sync + 'static {
    move |mut caller, ptr, size| {
        let (memory, state) = guest_memory(&mut caller)?;
        copy_out(memory, ptr, size, value(state))
    }
}

/// A host function `(key_ptr, key_size, ptr, size) -> len` that looks a key up.
fn keyed_getter(
    value: for<'a> fn(&'a HostState, &str) -> Value<'a>,
) -> impl Fn(Caller<'_, HostState>, i32, i64, i32, i64) -> wasmtime::Result<i64> + Send + Sync + 'static
{
    move |mut caller, key_ptr, key_size, ptr, size| {
        let (memory, state) = guest_memory(&mut caller)?;
        let key =
            String::from_utf8_lossy(&memory[guest_range(memory, key_ptr, key_size)?]).into_owned();
        copy_out(memory, ptr, size, value(state, &key))
    }
}

/// All values of a header, joined by ", " as HTTP allows when there are several.
fn request_header<'a>(state: &'a HostState, name: &str) -> Value<'a> {
    let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
    let mut values = state.request.headers.get_all(name).iter();
    let first = values.next()?;
    let rest: Vec<_> = values.collect();
    if rest.is_empty() {
        return Some(first.as_bytes().into());
    }
    let joined = std::iter::once(first)
        .chain(rest)
        .map(HeaderValue::as_bytes)
        .collect::<Vec<_>>()
        .join(&b", "[..]);
    Some(joined.into())
}

fn log(mut caller: Caller<'_, HostState>, ptr: i32, size: i64) -> wasmtime::Result<()> {
    let (memory, _) = guest_memory(&mut caller)?;
    let message = loggable(&memory[guest_range(memory, ptr, size)?]);
    tracing::info!(target: "guest", "{message}");
    Ok(())
}

fn set_status_line(
    mut caller: Caller<'_, HostState>,
    status: i32,
    ptr: i32,
    size: i64,
) -> wasmtime::Result<()> {
    let (memory, state) = guest_memory(&mut caller)?;
    let bytes = &memory[guest_range(memory, ptr, size)?];
    let code = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok());
    let code = code.ok_or_else(|| wasmtime::format_err!("invalid status code {status}"))?;
    let reason = std::str::from_utf8(bytes)
        .ok()
        .filter(|r| is_valid_reason(r));
    let reason = reason.ok_or_else(|| {
        wasmtime::format_err!("invalid reason phrase {:?}", String::from_utf8_lossy(bytes))
    })?;
    state.response.status = code;
    state.response.reason =
        (!reason.is_empty() && Some(reason) != code.canonical_reason()).then(|| reason.to_string());
    Ok(())
}

fn is_valid_reason(reason: &str) -> bool {
    reason
        .bytes()
        .all(|b| b == b'\t' || b == b' ' || (b.is_ascii_graphic()))
}

fn set_header(
    mut caller: Caller<'_, HostState>,
    name_ptr: i32,
    name_size: i64,
    value_ptr: i32,
    value_size: i64,
) -> wasmtime::Result<()> {
    let (memory, state) = guest_memory(&mut caller)?;
    let name = &memory[guest_range(memory, name_ptr, name_size)?];
    let value = &memory[guest_range(memory, value_ptr, value_size)?];
    let name = HeaderName::from_bytes(name).map_err(|_| {
        wasmtime::format_err!("invalid header name {:?}", String::from_utf8_lossy(name))
    })?;
    let value = HeaderValue::from_bytes(value).map_err(|_| {
        wasmtime::format_err!(
            "invalid value for header `{name}`: {:?}",
            String::from_utf8_lossy(value)
        )
    })?;
    if is_framing_header(&name) {
        tracing::debug!(target: "guest", "dropped guest-set header `{name}`");
        return Ok(());
    }
    state.response.headers.append(name, value);
    Ok(())
}

fn set_body(mut caller: Caller<'_, HostState>, ptr: i32, size: i64) -> wasmtime::Result<()> {
    let (memory, state) = guest_memory(&mut caller)?;
    state.response.body = Bytes::copy_from_slice(&memory[guest_range(memory, ptr, size)?]);
    Ok(())
}

/// The guest's memory and the host state, borrowed together.
fn guest_memory<'a>(
    caller: &'a mut Caller<'_, HostState>,
) -> wasmtime::Result<(&'a mut [u8], &'a mut HostState)> {
    let memory = caller.data().memory.ok_or_else(|| {
        wasmtime::format_err!("the module has no memory to exchange data through")
    })?;
    Ok(memory.data_and_store_mut(caller))
}

/// The bytes `ptr..ptr + size` of the guest's memory, or a trap when they
/// are not all inside it.
fn guest_range(memory: &[u8], ptr: i32, size: i64) -> wasmtime::Result<Range<usize>> {
    let start = ptr as u32 as usize;
    let len = usize::try_from(size).map_err(|_| wasmtime::format_err!("negative length {size}"))?;
    start
        .checked_add(len)
        .filter(|end| *end <= memory.len())
        .map(|end| start..end)
        .ok_or_else(|| {
            wasmtime::format_err!(
                "guest range {start}..{start}+{len} lies outside its {}-byte memory",
                memory.len()
            )
        })
}

/// Copies at most `size` bytes of `value` to `ptr`; returns the value's full
/// length, or -1 when absent.
fn copy_out(memory: &mut [u8], ptr: i32, size: i64, value: Value<'_>) -> wasmtime::Result<i64> {
    let range = guest_range(memory, ptr, size)?;
    let Some(value) = value else { return Ok(-1) };
    let copied = value.len().min(range.len());
    memory[range.start..range.start + copied].copy_from_slice(&value[..copied]);
    Ok(i64::try_from(value.len()).unwrap_or(i64::MAX))
}

fn initial_memory_bytes(wasm: &[u8]) -> anyhow::Result<u64> {
    use wasmparser::{Parser, Payload};
    let mut largest = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::MemorySection(reader) = payload.context("invalid module")? {
            for memory in reader {
                let memory = memory?;
                let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                largest = largest.max(memory.initial.saturating_mul(page));
            }
        }
    }
    Ok(largest)
}
