//! The public listener: binds (with TLS when `tls_cert` is set), accepts
//! connections up to `max_connections`, hands each to `connection`, and
//! shuts down gracefully. What a connection is served with, HTTP/1.1 or
//! HTTP/2 and their limits, is `connection`'s; when a quiet one is closed is
//! `idle`'s.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::config::ServerSettings;
use crate::service::Service;
use crate::tls::Tls;

mod connection;
mod idle;

use connection::Connections;

/// How long in-flight requests may take to finish once shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A bound listener with the service behind it.
pub struct Server {
    listener: TcpListener,
    connections: Arc<Connections>,
    max_connections: usize,
    tls: bool,
}

impl Server {
    /// Reads the TLS certificate if there is one (an error names the file),
    /// then binds `address`.
    pub async fn bind(
        address: &str,
        settings: &ServerSettings,
        service: Arc<Service>,
    ) -> anyhow::Result<Server> {
        let tls = match &settings.tls {
            Some(files) => Some(Arc::new(Tls::load(files).context("cannot serve HTTPS")?)),
            None => None,
        };
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        if let Some(tls) = &tls {
            tokio::spawn(tls.clone().reload_on_hangup());
        }
        Ok(Server {
            listener,
            tls: tls.is_some(),
            connections: Arc::new(Connections::new(service, tls, settings)),
            max_connections: settings.max_connections,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets
    /// in-flight requests finish for up to [`SHUTDOWN_GRACE`].
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        // Every connection holds a receiver; the sender's `closed` is when
        // the last one has gone.
        let (closing, watching) = watch::channel(());
        // A permit per open connection, taken before accepting: at the
        // limit, accepting pauses and the kernel's backlog holds the rest.
        let permits = Arc::new(Semaphore::new(self.max_connections));
        let mut at_limit = LimitWarning::new(self.max_connections);
        tokio::pin!(shutdown);
        loop {
            at_limit.observe(permits.available_permits());
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    // Never closed; if it were, there would be nothing to wait for.
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, remote) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: pause rather than spin.
                        tracing::warn!("accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let connections = self.connections.clone();
            let watcher = watching.clone();
            tokio::spawn(async move {
                let _open = crate::metrics::global().connection();
                connections.serve(stream, remote, watcher).await;
                drop(permit);
            });
        }
        drop(self.listener);
        drop(watching);
        tracing::info!("shutting down: waiting for in-flight requests");
        let _ = closing.send(());
        if tokio::time::timeout(SHUTDOWN_GRACE, closing.closed())
            .await
            .is_err()
        {
            tracing::warn!(
                "in-flight requests still running after {} s, closing",
                SHUTDOWN_GRACE.as_secs()
            );
        }
        Ok(())
    }
}

/// Warns when the connection limit is reached; once, until the open
/// connections have fallen back to 90% of it (or below the limit, for a
/// small one), so that a server held at its limit does not warn on every
/// connection that closes.
struct LimitWarning {
    limit: usize,
    armed: bool,
}

impl LimitWarning {
    fn new(limit: usize) -> Self {
        LimitWarning { limit, armed: true }
    }

    fn observe(&mut self, available: usize) {
        if available == 0 {
            if self.armed {
                tracing::warn!(
                    "{} client connections open, the max_connections limit: \
                     new ones wait to be accepted until one closes",
                    self.limit
                );
                self.armed = false;
            }
        } else if available >= (self.limit / 10).max(1) {
            self.armed = true;
        }
    }
}
