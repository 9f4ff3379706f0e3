//! The guest ABIs and what they share: the body types a request arrives and
//! leaves with, the ways a run can fail, and which ABI a binary speaks.

pub mod classic;
mod exports;
mod log_stream;
mod spin_imports;
mod spin_key_value;
mod spin_variables;
pub mod static_response;
pub mod wagi;
mod wasi_config;
mod wasi_ctx;
pub mod wasi_http;
mod wasi_keyvalue;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderName, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, LengthLimitError};

use crate::context::AppContext;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A request body as it streams in from the client (already length-limited).
pub type RequestBody = UnsyncBoxBody<Bytes, BoxError>;
/// A response body as it streams out to the client.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// The addresses of the connection a request came on, set by the server as a
/// request extension (CGI guests see them).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionInfo {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Whether the connection is HTTPS.
    pub tls: bool,
}

impl ConnectionInfo {
    /// The scheme the client used: `https` on a TLS connection.
    pub fn scheme(&self) -> http::uri::Scheme {
        if self.tls {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        }
    }
}

/// The guest ABIs a binary can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AbiKind {
    /// The original serverless-wasm `env.*` functions.
    Classic,
    /// A wasi:http component: `wasi:http/proxy` (0.2) or `wasi:http/service` (0.3).
    WasiHttp,
    /// A WASI preview 1 command run CGI style (WAGI).
    Wagi,
    /// No module: a fixed response (Spin's `static_response`).
    Static,
}

impl AbiKind {
    /// The name used in config files (`abi = "..."`).
    pub fn name(self) -> &'static str {
        match self {
            AbiKind::Classic => "classic",
            AbiKind::WasiHttp => "wasi-http",
            AbiKind::Wagi => "wagi",
            AbiKind::Static => "static",
        }
    }

    /// Tells the ABI of a binary from its shape: a component is wasi:http; a
    /// core module importing WASI preview 1 and exporting `_start` is a CGI
    /// command; any other core module is classic. `configured` (the config's
    /// `abi`) wins where the binary allows it.
    pub fn detect(wasm: &[u8], configured: Option<AbiKind>) -> Result<AbiKind, String> {
        if wasmparser::Parser::is_component(wasm) {
            return match configured {
                None | Some(AbiKind::WasiHttp) => Ok(AbiKind::WasiHttp),
                Some(other) => Err(format!(
                    "abi = \"{}\" needs a core module, but this is a component (a component is served as wasi-http)",
                    other.name()
                )),
            };
        }
        if !wasmparser::Parser::is_core_wasm(wasm) {
            return Err("not a WebAssembly module or component".into());
        }
        if configured == Some(AbiKind::WasiHttp) {
            return Err("abi = \"wasi-http\" needs a component exporting `wasi:http/incoming-handler@0.2.x` or `wasi:http/handler@0.3.x`, but this is a core module".into());
        }
        let shape = ModuleShape::read(wasm)?;
        match (configured, shape.imports_wasi, shape.exports_start) {
            (Some(kind), _, _) => Ok(kind),
            (None, true, true) => Ok(AbiKind::Wagi),
            (None, true, false) => Err(
                "the module imports WASI preview 1 but exports no `_start`. A CGI (wagi) module must be a \
                 command exporting `_start`; a classic module imports only `env.*`; a wasi:http guest must be \
                 a component"
                    .into(),
            ),
            (None, false, _) => Ok(AbiKind::Classic),
        }
    }

    pub fn from_name(name: &str) -> Option<AbiKind> {
        [AbiKind::Classic, AbiKind::WasiHttp, AbiKind::Wagi]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// What [`AbiKind::detect`] looks at in a core module.
struct ModuleShape {
    imports_wasi: bool,
    exports_start: bool,
}

impl ModuleShape {
    fn read(wasm: &[u8]) -> Result<ModuleShape, String> {
        let invalid = |e: wasmparser::BinaryReaderError| format!("invalid module: {e}");
        let mut shape = ModuleShape {
            imports_wasi: false,
            exports_start: false,
        };
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.map_err(invalid)? {
                wasmparser::Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let module = import.map_err(invalid)?.module;
                        shape.imports_wasi |=
                            module == "wasi_snapshot_preview1" || module == "wasi_unstable";
                    }
                }
                wasmparser::Payload::ExportSection(reader) => {
                    for export in reader {
                        shape.exports_start |= export.map_err(invalid)?.name == wagi::COMMAND_ENTRY;
                    }
                }
                _ => {}
            }
        }
        Ok(shape)
    }
}

/// A loaded guest of any ABI, bound to one app.
#[derive(Clone)]
pub enum Guest {
    Classic(classic::ClassicGuest),
    WasiHttp(wasi_http::WasiHttpGuest),
    Wagi(wagi::WagiGuest),
    Static(static_response::StaticGuest),
}

impl Guest {
    /// Runs one request on a fresh instance.
    pub async fn handle(
        &self,
        app: &Arc<AppContext>,
        request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, GuestError> {
        match self {
            Guest::Classic(guest) => guest.handle(app, request).await,
            Guest::WasiHttp(guest) => guest.handle(app, request).await,
            Guest::Wagi(guest) => guest.handle(app, request).await,
            Guest::Static(guest) => guest.respond(),
        }
    }

    pub fn kind(&self) -> AbiKind {
        match self {
            Guest::Classic(_) => AbiKind::Classic,
            Guest::WasiHttp(_) => AbiKind::WasiHttp,
            Guest::Wagi(_) => AbiKind::Wagi,
            Guest::Static(_) => AbiKind::Static,
        }
    }
}

/// Why a guest produced no response.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("deadline of {} ms exceeded", .0.as_millis())]
    Timeout(Duration),
    #[error("every instance slot of the pool is busy")]
    Busy,
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(u64),
    #[error("cannot read the request body: {0}")]
    BadRequest(String),
    #[error("guest failed: {0}")]
    Trap(String),
    /// Its module could not be compiled or linked when first needed.
    #[error("cannot load the app: {0}")]
    Unloadable(String),
}

impl GuestError {
    /// The status the client gets for this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            GuestError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GuestError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            GuestError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            GuestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GuestError::Trap(_) | GuestError::Unloadable(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether this is the guest's fault (logged as an error) rather than
    /// the client's.
    pub fn is_guest_fault(&self) -> bool {
        matches!(
            self,
            GuestError::Timeout(_) | GuestError::Trap(_) | GuestError::Unloadable(_)
        )
    }

    /// Classifies an error from instantiating or calling a guest. A trap is
    /// told by its cause and the function it happened in, not the whole
    /// backtrace: a runaway recursion would otherwise log thousands of frames.
    pub fn from_wasmtime(error: wasmtime::Error) -> Self {
        if error.is::<wasmtime::PoolConcurrencyLimitError>() {
            return GuestError::Busy;
        }
        let frame = error
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .and_then(|backtrace| backtrace.frames().first())
            .map(|frame| match frame.func_name() {
                Some(name) => format!(" in `{name}`"),
                None => format!(" in function #{}", frame.func_index()),
            });
        GuestError::Trap(format!(
            "{}{}",
            error.root_cause(),
            frame.unwrap_or_default()
        ))
    }
}

/// Receives a whole request body, for the ABIs that hand it over at once.
pub async fn buffer_body(body: RequestBody, limit: u64) -> Result<Bytes, GuestError> {
    match body.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(GuestError::BodyTooLarge(limit)),
        Err(error) => Err(GuestError::BadRequest(error.to_string())),
    }
}

/// A body that keeps `guard` alive until the body has been sent or dropped:
/// what a request holds while its response streams (its admission turn,
/// its place among the connection's requests in flight).
pub struct Holding<B, G> {
    body: B,
    _guard: G,
}

impl<B, G> Holding<B, G> {
    pub fn new(body: B, guard: G) -> Self {
        Holding {
            body,
            _guard: guard,
        }
    }
}

impl<B: http_body::Body + Unpin, G: Unpin> http_body::Body for Holding<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A complete body, boxed as the server sends it.
pub fn full_body(bytes: impl Into<Bytes>) -> ResponseBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Whether a guest-set header would frame the body. The server frames every
/// body itself, so such a header could only contradict it and is dropped.
pub fn is_framing_header(name: &HeaderName) -> bool {
    name == CONTENT_LENGTH || name == TRANSFER_ENCODING
}

/// Guest text as one log line: control characters (a newline above all)
/// are escaped, so a guest cannot forge log lines of its own.
pub fn loggable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_text_cannot_break_the_log_line() {
        assert_eq!(loggable(b"one\nINFO forged\r\t"), "one\\nINFO forged\\r\\t");
        assert_eq!(loggable(b"caf\xc3\xa9 \xff"), "caf\u{e9} \u{fffd}");
    }
}
