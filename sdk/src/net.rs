//! Outbound TCP connections.
//!
//! A guest may only reach the `host:port` pairs listed in its app's
//! `allowed_outbound_hosts`, and may open at most 16 sockets per request. The
//! calls block the guest (not the server) until the host is done.

use std::fmt;
use std::io::{self, Read, Write};

use crate::sys;

/// A TCP connection to an allowed host.
///
/// There is no way to close a socket, nor to shut one half down: the host
/// closes every socket of a request when the request ends. Dropping a
/// `TcpStream` only forgets its handle. So a protocol in which the peer
/// waits for the guest's end of stream before it answers cannot be spoken.
///
/// Each [`read`](Read::read) and [`write`](Write::write) is one host call,
/// which may move fewer bytes than asked; use [`Read::read_to_end`],
/// [`Read::take`] or [`Write::write_all`] as with any stream. There is no
/// buffering, so [`Write::flush`] does nothing.
pub struct TcpStream {
    handle: i32,
}

impl TcpStream {
    /// Connects to `addr`, given as `"host:port"` (for example
    /// `"127.0.0.1:8181"` or `"example.com:80"`), exactly as it appears in the
    /// app's `allowed_outbound_hosts`.
    ///
    /// Fails when the address is not allowed, when the connection cannot be
    /// made, or when 16 sockets are already open. The host does not say
    /// which to the guest; it logs the reason.
    pub fn connect(addr: &str) -> io::Result<TcpStream> {
        let handle = sys::tcp_connect(addr.as_bytes());
        if handle < 0 {
            return Err(io::Error::other(format!(
                "cannot connect to {addr:?}: not in allowed_outbound_hosts, unreachable, \
                 or too many open sockets (the server's log says which)"
            )));
        }
        Ok(TcpStream { handle })
    }

    /// The host's handle for this socket, for calling the raw ABI.
    pub fn handle(&self) -> i32 {
        self.handle
    }

    fn failed(&self, call: &str) -> io::Error {
        io::Error::other(format!(
            "{call} on socket {} failed (the server's log says why)",
            self.handle
        ))
    }
}

impl Read for TcpStream {
    /// Reads what is available, blocking until something is; `Ok(0)` at end
    /// of stream.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let read = sys::tcp_read(self.handle, buf);
        usize::try_from(read).map_err(|_| self.failed("tcp_read"))
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let written = sys::tcp_write(self.handle, buf);
        usize::try_from(written).map_err(|_| self.failed("tcp_write"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("handle", &self.handle)
            .finish()
    }
}
