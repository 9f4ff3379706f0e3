//! What a WASI guest (component or CGI module) may reach: the app's `env` as
//! environment variables, stdout and stderr into the log, the app's `files`
//! read-only, and outbound TCP only to `allowed_outbound_hosts`.

use std::net::SocketAddr;

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::GuestError;
use super::log_stream::{LogSpan, LogStream};
use crate::context::AppContext;
use crate::outbound::AllowedHosts;

/// A WASI context builder with everything `app` grants, logging the guest's
/// output in `log_span`.
pub fn builder(app: &AppContext, log_span: &LogSpan) -> Result<WasiCtxBuilder, GuestError> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .envs(&app.env)
        .stdout(LogStream::new("stdout", log_span.clone()))
        .stderr(LogStream::new("stderr", log_span.clone()))
        .allow_ip_name_lookup(true)
        .allow_tcp(true)
        .socket_addr_check(socket_check(app.allowed_outbound_hosts.clone()));
    for (guest, host) in &app.files {
        builder
            .preopened_dir(host, guest, FsPerms::ReadOnly)
            .map_err(|e| GuestError::Trap(format!("cannot open {}: {e}", host.display())))?;
    }
    Ok(builder)
}

type SocketCheck = std::pin::Pin<Box<dyn Future<Output = bool> + Send + Sync>>;

/// Permits TCP connections to allowed addresses, and the implicit bind to a
/// wildcard address that a connect performs; nothing else (no listening, no
/// UDP). Addresses are checked after name resolution, as IPs.
fn socket_check(
    allowed: AllowedHosts,
) -> impl Fn(SocketAddr, SocketAddrUse) -> SocketCheck + Send + Sync + 'static {
    move |address, use_| {
        let permitted = match use_ {
            SocketAddrUse::TcpConnect => {
                allowed.allows_scheme("tcp", &address.ip().to_string(), address.port())
            }
            SocketAddrUse::TcpBind => address.ip().is_unspecified() && address.port() == 0,
            _ => false,
        };
        Box::pin(std::future::ready(permitted))
    }
}
