//! WASI preview 1 commands run CGI style, after WAGI: the request arrives in
//! environment variables and on stdin, the response leaves on stdout as a
//! CGI header block and body; stderr goes to the log.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use wasmtime::{Engine, Extern, InstancePre, Linker, ModuleExport};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use super::exports::entry_point;
use super::log_stream::LogSpan;
use super::{
    ConnectionInfo, GuestError, RequestBody, ResponseBody, buffer_body, full_body,
    is_framing_header, wasi_ctx,
};
use crate::context::AppContext;
use crate::engine::{self, GuestLimits, LimitedState, WasmEngine};
use crate::router::Route;

/// The most a CGI guest may write to stdout; the response is held in memory.
const MAX_OUTPUT: usize = 64 * 1024 * 1024;

/// The entry point of a WASI command.
pub const COMMAND_ENTRY: &str = "_start";

/// The host side of WAGI: one linker with WASI preview 1.
pub struct WagiAbi {
    linker: Linker<WagiState>,
}

/// A compiled, pre-linked command module.
pub struct WagiModule {
    pre: InstancePre<WagiState>,
}

/// One app's use of a module: the module plus its entry point.
#[derive(Clone)]
pub struct WagiGuest {
    module: Arc<WagiModule>,
    entry: ModuleExport,
}

pub struct WagiState {
    wasi: WasiP1Ctx,
    limits: GuestLimits,
}

impl WagiAbi {
    pub fn new(engine: &Engine) -> anyhow::Result<Self> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut WagiState| {
            &mut state.wasi
        })?;
        Ok(Self { linker })
    }

    pub fn load(&self, engine: &WasmEngine, wasm: &[u8]) -> Result<WagiModule, Vec<String>> {
        let module = engine.module(wasm)?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| vec![format!("{e:#}")])?;
        Ok(WagiModule { pre })
    }
}

impl WagiModule {
    /// Binds an entry point (`_start` unless the config names another).
    pub fn guest(self: &Arc<Self>, entry: &str) -> Result<WagiGuest, String> {
        let entry = entry_point(self.pre.module(), entry)?;
        Ok(WagiGuest {
            module: self.clone(),
            entry,
        })
    }
}

impl WagiGuest {
    pub async fn handle(
        &self,
        app: &Arc<AppContext>,
        request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, GuestError> {
        let (parts, body) = request.into_parts();
        let body = buffer_body(body, app.limits.max_request_body_bytes).await?;
        let stdout = MemoryOutputPipe::new(MAX_OUTPUT);
        let wasi = wasi_ctx::builder(app, &LogSpan::current())?
            .args(&command_line(app, &parts.uri))
            .envs(&cgi_environment(app, &parts, body.len()))
            .stdin(MemoryInputPipe::new(body))
            .stdout(stdout.clone())
            .build_p1();
        let state = WagiState {
            wasi,
            limits: GuestLimits::for_app(app),
        };
        let mut store = engine::request_store(self.module.pre.module().engine(), state);
        let instance = self
            .module
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(GuestError::from_wasmtime)?;
        store.data().limits.instantiated();
        let entry = instance
            .get_module_export(&mut store, &self.entry)
            .and_then(Extern::into_func)
            .ok_or_else(|| GuestError::Trap("entry point disappeared".into()))?
            .typed::<(), ()>(&store)
            .map_err(GuestError::from_wasmtime)?;
        match entry.call_async(&mut store, ()).await {
            Ok(()) => {}
            Err(error) => match error.downcast_ref::<I32Exit>() {
                Some(I32Exit(0)) => {}
                Some(I32Exit(code)) => {
                    return Err(GuestError::Trap(format!("exited with status {code}")));
                }
                None => return Err(GuestError::from_wasmtime(error)),
            },
        }
        drop(store);
        parse_cgi_response(stdout.contents())
    }
}

/// The guest's arguments: the app's name, or Spin's `argv` with
/// `${SCRIPT_NAME}` (the request path) and `${ARGS}` (the query, `&` read as
/// a space) filled in and split at each space, as Spin does.
fn command_line(app: &AppContext, uri: &http::Uri) -> Vec<String> {
    let Some(argv) = &app.argv else {
        return vec![app.name.clone()];
    };
    let args = uri.query().unwrap_or("").replace('&', " ");
    argv.replace("${SCRIPT_NAME}", uri.path())
        .replace("${ARGS}", &args)
        .split(' ')
        .map(str::to_owned)
        .collect()
}

/// The CGI/1.1 variables, WAGI's additions, and one `HTTP_*` per header.
/// `SCRIPT_NAME` is the part of the path the route matched, `PATH_INFO` the rest.
fn cgi_environment(app: &AppContext, parts: &Parts, body_length: usize) -> Vec<(String, String)> {
    let path = parts.uri.path();
    let (script_name, path_info) = app.route.split(path);
    let connection = parts.extensions.get::<ConnectionInfo>();
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let (server_name, server_port) = match host.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() => (name.to_string(), port.to_string()),
        _ => (
            host.to_string(),
            connection.map_or(80, |c| c.local.port()).to_string(),
        ),
    };
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let query = parts.uri.query().unwrap_or("");
    let mut env = vec![
        ("GATEWAY_INTERFACE".into(), "CGI/1.1".into()),
        (
            "SERVER_SOFTWARE".into(),
            concat!("serverless-wasm/", env!("CARGO_PKG_VERSION")).into(),
        ),
        ("SERVER_PROTOCOL".into(), format!("{:?}", parts.version)),
        ("SERVER_NAME".into(), server_name),
        ("SERVER_PORT".into(), server_port),
        ("REQUEST_METHOD".into(), parts.method.to_string()),
        ("SCRIPT_NAME".into(), script_name.to_string()),
        ("PATH_INFO".into(), path_info.to_string()),
        ("PATH_TRANSLATED".into(), path_info.to_string()),
        ("QUERY_STRING".into(), query.to_string()),
        ("CONTENT_TYPE".into(), header(CONTENT_TYPE)),
        ("CONTENT_LENGTH".into(), body_length.to_string()),
        (
            "REMOTE_ADDR".into(),
            connection.map_or(String::new(), |c| c.remote.ip().to_string()),
        ),
        (
            "REMOTE_HOST".into(),
            connection.map_or(String::new(), |c| c.remote.ip().to_string()),
        ),
        ("AUTH_TYPE".into(), String::new()),
        ("REMOTE_USER".into(), String::new()),
        ("X_MATCHED_ROUTE".into(), app.route.to_string()),
        ("X_RAW_PATH_INFO".into(), path_info.to_string()),
        (
            "X_FULL_URL".into(),
            format!(
                "{}://{host}{}",
                connection.map_or(http::uri::Scheme::HTTP, ConnectionInfo::scheme),
                parts.uri.path_and_query().map_or(path, |p| p.as_str())
            ),
        ),
    ];
    for (name, value) in &parts.headers {
        let name = format!(
            "HTTP_{}",
            name.as_str().to_ascii_uppercase().replace('-', "_")
        );
        env.push((name, String::from_utf8_lossy(value.as_bytes()).into_owned()));
    }
    if matches!(app.route, Route::Spin(_)) {
        spin_variables(&mut env, &parts.headers);
    }
    env
}

/// What Spin's WAGI executor adds for a Spin route: each `spin-*` header the
/// request was given as `X_*` (`spin-full-url` as `X_FULL_URL`, ...), over
/// the variable of that name if there is one.
fn spin_variables(env: &mut Vec<(String, String)>, headers: &http::HeaderMap) {
    for (name, value) in headers {
        let Some(rest) = name.as_str().strip_prefix("spin-") else {
            continue;
        };
        if rest == "path-info" {
            continue;
        }
        let key = format!("X_{}", rest.to_ascii_uppercase().replace('-', "_"));
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match env.iter_mut().find(|(existing, _)| *existing == key) {
            Some(entry) => entry.1 = value,
            None => env.push((key, value)),
        }
    }
}

/// Parses CGI output: header lines (`Status:`, `Location:`, any other), a
/// blank line, the body. Without `Status`, a `Location` means 302, else 200.
fn parse_cgi_response(output: Bytes) -> Result<Response<ResponseBody>, GuestError> {
    let invalid = |why: &str| GuestError::Trap(format!("invalid CGI response: {why}"));
    let (head_end, body_start) =
        header_block_end(&output).ok_or_else(|| invalid("no blank line after the headers"))?;
    let head =
        std::str::from_utf8(&output[..head_end]).map_err(|_| invalid("headers are not UTF-8"))?;
    let mut status = None;
    let mut response = Response::new(full_body(output.slice(body_start..)));
    for line in head.lines().filter(|line| !line.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(&format!("header line {line:?} has no `:`")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().unwrap_or("");
            status = Some(
                StatusCode::from_bytes(code.as_bytes())
                    .map_err(|_| invalid(&format!("status {value:?}")))?,
            );
            continue;
        }
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| invalid(&format!("header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| invalid(&format!("value of header `{name}`")))?;
        if !is_framing_header(&name) {
            response.headers_mut().append(name, value);
        }
    }
    if response.headers().is_empty() && status.is_none() {
        return Err(invalid(
            "no headers (a CGI response needs at least Content-Type, Status or Location)",
        ));
    }
    let redirect = response.headers().contains_key(LOCATION);
    *response.status_mut() = status.unwrap_or(if redirect {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    response.headers_mut().remove(CONTENT_LENGTH);
    Ok(response)
}

/// Where the header block ends and the body starts: at the first empty
/// line, ended by "\n" or "\r\n".
fn header_block_end(output: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    while let Some(offset) = output[line_start..].iter().position(|&b| b == b'\n') {
        let line_end = line_start + offset;
        let line = &output[line_start..line_end];
        if line.is_empty() || line == b"\r" {
            return Some((line_start, line_end + 1));
        }
        line_start = line_end + 1;
    }
    None
}

impl LimitedState for WagiState {
    fn limits(&mut self) -> &mut GuestLimits {
        &mut self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    async fn parse(
        output: &'static [u8],
    ) -> Result<(StatusCode, Vec<(String, String)>, Bytes), GuestError> {
        let response = parse_cgi_response(Bytes::from_static(output))?;
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Ok((status, headers, body))
    }

    #[tokio::test]
    async fn content_type_and_body() {
        let (status, headers, body) = parse(b"Content-Type: text/plain\n\nhello\n").await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            headers,
            vec![("content-type".to_string(), "text/plain".to_string())]
        );
        assert_eq!(body, "hello\n");
    }

    #[tokio::test]
    async fn status_line_and_crlf() {
        let (status, headers, body) = parse(b"Status: 404 Not Found\r\nX-A: b\r\n\r\nmissing")
            .await
            .unwrap();
        assert_eq!(status, 404);
        assert_eq!(headers, vec![("x-a".to_string(), "b".to_string())]);
        assert_eq!(body, "missing");
    }

    #[tokio::test]
    async fn location_without_status_redirects() {
        let (status, headers, _) = parse(b"Location: /elsewhere\n\n").await.unwrap();
        assert_eq!(status, 302);
        assert_eq!(headers[0].1, "/elsewhere");
    }

    #[tokio::test]
    async fn body_keeps_blank_lines_and_binary() {
        let (_, _, body) = parse(b"Content-Type: a/b\n\n\n\x00\xff\n\n").await.unwrap();
        assert_eq!(&body[..], b"\n\x00\xff\n\n");
    }

    #[tokio::test]
    async fn guest_framing_headers_are_dropped() {
        let (_, headers, _) = parse(b"Content-Type: a/b\nContent-Length: 99\n\nx")
            .await
            .unwrap();
        assert_eq!(headers.len(), 1);
    }

    #[tokio::test]
    async fn malformed_output_is_an_error() {
        assert!(parse(b"just some text").await.is_err());
        assert!(parse(b"\nbody without headers").await.is_err());
        assert!(parse(b"Status: abc\n\n").await.is_err());
        assert!(parse(b"no colon here\n\n").await.is_err());
    }
}
