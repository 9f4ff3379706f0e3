//! What every guest ABI shares: the request a guest reads, the response it
//! builds, and the ways a run can fail.

pub mod classic;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

/// A request as a guest sees it: already routed, body fully received.
#[derive(Debug, Clone)]
pub struct GuestRequest {
    pub method: Method,
    /// The path without the query string, as sent (not percent-decoded).
    pub path: String,
    /// The query string without `?`, `None` when the URI has no `?`.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The response a guest built.
#[derive(Debug, Clone)]
pub struct GuestResponse {
    pub status: StatusCode,
    /// A reason phrase the guest chose, when it differs from the canonical one.
    pub reason: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
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

/// Why a guest produced no response.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("deadline of {} ms exceeded", .0.as_millis())]
    Timeout(Duration),
    #[error("all {0} instance slots are busy")]
    Busy(u32),
    #[error("guest failed: {0}")]
    Trap(String),
}

impl GuestError {
    /// The status the client gets for this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            GuestError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GuestError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            GuestError::Trap(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Classifies an error from instantiating or calling a guest. A trap is
    /// told by its cause and the function it happened in, not the whole
    /// backtrace: a runaway recursion would otherwise log thousands of frames.
    pub fn from_wasmtime(error: wasmtime::Error) -> Self {
        if error.is::<wasmtime::PoolConcurrencyLimitError>() {
            return GuestError::Busy(crate::engine::MAX_CONCURRENT_INSTANCES);
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
