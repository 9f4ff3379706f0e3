//! The server's settings: the admin listener, TLS, connection limits, the
//! HTTP hardening defaults and the instance pool's size. All are top-level
//! keys; none can change on reload (the listeners are bound and the pool made
//! once), which `reload` warns about.

use super::*;

/// How long a client may take to send a whole request header.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request header accepted; a larger one is answered 431.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 << 10;
/// How long an idle keep-alive connection is kept open.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// HTTP/2 streams one connection may have open at once.
pub const DEFAULT_H2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Open client connections beyond which accepting pauses: well under the
/// usual 65,536-descriptor limit, so guests and stores keep theirs.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// hyper refuses a read buffer smaller than this.
const MIN_HEADER_BYTES: u64 = 8192;
const MAX_HEADER_BYTES: u64 = 16 << 20;
/// Each instance slot reserves address space (not memory) for its linear
/// memories; this many stays within a 47-bit address space.
const MAX_INSTANCES: u32 = 10_000;
/// Ten minutes: longer is surely a typo for seconds.
const MAX_SHUTDOWN_DELAY_MS: u64 = 600_000;

/// The listeners' settings, from the top-level keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Where the admin listener binds (`admin_address`); `None`: no admin listener.
    pub admin_address: Option<String>,
    /// The bearer token every admin path asks for (`admin_token`).
    pub admin_token: Option<String>,
    /// PEM certificate chain and private key (`tls_cert`, `tls_key`),
    /// resolved against the config file's directory; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub keep_alive_timeout: Duration,
    pub h2_max_concurrent_streams: u32,
    /// The instance pool's size: guest instances alive at once, all apps
    /// together (`max_instances`).
    pub max_instances: u32,
    /// How long the server goes on accepting and serving after SIGTERM,
    /// `/readyz` saying 503 meanwhile, before it stops accepting and drains
    /// (`shutdown_delay_ms`): the time a load balancer or Kubernetes needs
    /// to stop sending it new connections.
    pub shutdown_delay: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            admin_address: None,
            admin_token: None,
            tls: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            h2_max_concurrent_streams: DEFAULT_H2_MAX_CONCURRENT_STREAMS,
            max_instances: crate::engine::DEFAULT_MAX_INSTANCES,
            shutdown_delay: Duration::ZERO,
        }
    }
}

impl Reader<'_> {
    pub(super) fn read_server_settings(
        &mut self,
        raw: &RawTop,
        top: &Section<'_, '_>,
    ) -> ServerSettings {
        let builtin = ServerSettings::default();
        let admin_address = self.check_optional(
            &raw.admin_address,
            top.key("admin_address"),
            check_listen_address,
        );
        let admin_token =
            self.check_optional(&raw.admin_token, top.key("admin_token"), check_token);
        let tls = self.read_tls_files(raw, top);
        let max_connections = self.check_optional(
            &raw.max_connections,
            top.key("max_connections"),
            |n: &u64| positive(*n).and_then(|n| usize::try_from(n).map_err(|e| e.to_string())),
        );
        let header_read_timeout = self.check_optional(
            &raw.header_read_timeout_ms,
            top.key("header_read_timeout_ms"),
            check_timeout,
        );
        let max_header_bytes = self.check_optional(
            &raw.max_header_bytes,
            top.key("max_header_bytes"),
            |n: &u64| {
                if (MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(n) {
                    Ok(*n as usize)
                } else {
                    Err(format!(
                        "must be {MIN_HEADER_BYTES} to {MAX_HEADER_BYTES} bytes"
                    ))
                }
            },
        );
        let keep_alive_timeout = self.check_optional(
            &raw.keep_alive_timeout_ms,
            top.key("keep_alive_timeout_ms"),
            check_timeout,
        );
        let h2_streams = self.check_optional(
            &raw.h2_max_concurrent_streams,
            top.key("h2_max_concurrent_streams"),
            |n: &u64| positive(*n).and_then(|n| u32::try_from(n).map_err(|e| e.to_string())),
        );
        let max_instances =
            self.check_optional(&raw.max_instances, top.key("max_instances"), |n: &u64| {
                match u32::try_from(*n) {
                    Ok(n) if (1..=MAX_INSTANCES).contains(&n) => Ok(n),
                    _ => Err(format!("must be 1 to {MAX_INSTANCES}")),
                }
            });
        let shutdown_delay = self.check_optional(
            &raw.shutdown_delay_ms,
            top.key("shutdown_delay_ms"),
            |ms: &u64| {
                if *ms <= MAX_SHUTDOWN_DELAY_MS {
                    Ok(Duration::from_millis(*ms))
                } else {
                    Err(format!("must be 0 to {MAX_SHUTDOWN_DELAY_MS} ms"))
                }
            },
        );
        ServerSettings {
            max_instances: present_or(max_instances, builtin.max_instances),
            shutdown_delay: present_or(shutdown_delay, builtin.shutdown_delay),
            admin_address: given(admin_address),
            admin_token: given(admin_token),
            tls,
            max_connections: present_or(max_connections, builtin.max_connections),
            header_read_timeout: present_or(header_read_timeout, builtin.header_read_timeout),
            max_header_bytes: present_or(max_header_bytes, builtin.max_header_bytes),
            keep_alive_timeout: present_or(keep_alive_timeout, builtin.keep_alive_timeout),
            h2_max_concurrent_streams: present_or(h2_streams, builtin.h2_max_concurrent_streams),
        }
    }

    /// `tls_cert` and `tls_key` come as a pair; the files are read when the
    /// listener starts, so that an unreadable one is an error at start.
    fn read_tls_files(&mut self, raw: &RawTop, top: &Section<'_, '_>) -> Option<TlsFiles> {
        let cert = self.check_optional(&raw.tls_cert, top.key("tls_cert"), check_not_empty);
        let key = self.check_optional(&raw.tls_key, top.key("tls_key"), check_not_empty);
        match (cert, key) {
            (Ok(Some(cert)), Ok(Some(key))) => Some(TlsFiles {
                cert: self.relative_to_config(&cert.value),
                key: self.relative_to_config(&key.value),
            }),
            (Ok(Some(cert)), Ok(None)) => {
                self.error(
                    cert.line,
                    top.key("tls_key"),
                    "`tls_cert` needs `tls_key`, the certificate's private key (PEM)",
                );
                None
            }
            (Ok(None), Ok(Some(key))) => {
                self.error(
                    key.line,
                    top.key("tls_cert"),
                    "`tls_key` needs `tls_cert`, the certificate chain (PEM)",
                );
                None
            }
            _ => None,
        }
    }
}

/// The value where it was set (and passed its check).
fn given<T>(checked: Result<Option<Located<T>>, Reported>) -> Option<T> {
    checked.ok().flatten().map(|located| located.value)
}

fn positive(n: u64) -> Result<u64, String> {
    if n == 0 {
        Err("must be greater than 0".to_owned())
    } else {
        Ok(n)
    }
}

/// A token goes into an `Authorization` header, so it must be one.
fn check_token(token: &str) -> Result<String, String> {
    if token.len() < 16 {
        return Err("must be at least 16 characters (it guards the admin listener)".to_owned());
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".to_owned());
    }
    Ok(token.to_owned())
}
