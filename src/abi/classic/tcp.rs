//! `tcp_connect`, `tcp_read` and `tcp_write`: a request's outbound sockets.
//! The guest sees blocking calls; the host awaits them, so a slow backend
//! never holds a runtime thread. Sockets close when the request's store drops.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wasmtime::{Caller, Linker};

use super::{HostState, guest_memory, guest_range};
use crate::outbound::{self, AllowedHosts};

/// How many sockets one request may open.
pub const MAX_OPEN: usize = 16;

/// The most one `tcp_read` or `tcp_write` moves, so a guest's absurd length
/// cannot make the host allocate an absurd buffer.
const MAX_CHUNK: usize = 64 * 1024;

/// Returned to the guest for any failure; the reason goes to the log.
const FAILED: i64 = -1;

/// The sockets of one request; a handle is an index into `streams`.
pub struct Sockets {
    allowed: AllowedHosts,
    streams: Vec<TcpStream>,
}

impl Sockets {
    pub fn new(allowed: AllowedHosts) -> Self {
        Self {
            allowed,
            streams: Vec::new(),
        }
    }

    fn stream(&mut self, fd: i32) -> Option<&mut TcpStream> {
        usize::try_from(fd)
            .ok()
            .and_then(|fd| self.streams.get_mut(fd))
    }
}

pub fn define(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.func_wrap_async("env", "tcp_connect", |caller, (ptr, size): (i32, i64)| {
        Box::new(connect(caller, ptr, size))
    })?;
    linker.func_wrap_async(
        "env",
        "tcp_read",
        |caller, (fd, ptr, size): (i32, i32, i64)| Box::new(read(caller, fd, ptr, size)),
    )?;
    linker.func_wrap_async(
        "env",
        "tcp_write",
        |caller, (fd, ptr, size): (i32, i32, i64)| Box::new(write(caller, fd, ptr, size)),
    )?;
    Ok(())
}

async fn connect(mut caller: Caller<'_, HostState>, ptr: i32, size: i64) -> wasmtime::Result<i32> {
    let (memory, state) = guest_memory(&mut caller)?;
    let address = String::from_utf8_lossy(&memory[guest_range(memory, ptr, size)?]).into_owned();
    let sockets = &mut state.sockets;
    if sockets.streams.len() >= MAX_OPEN {
        tracing::warn!(target: "guest", "tcp_connect {address:?} refused: {MAX_OPEN} sockets already open");
        return Ok(FAILED as i32);
    }
    match outbound::connect(&sockets.allowed, &address).await {
        Ok(stream) => {
            sockets.streams.push(stream);
            Ok(i32::try_from(sockets.streams.len() - 1).unwrap_or(i32::MAX))
        }
        Err(error) => {
            tracing::warn!(target: "guest", "tcp_connect {address:?} failed: {error}");
            Ok(FAILED as i32)
        }
    }
}

async fn read(
    mut caller: Caller<'_, HostState>,
    fd: i32,
    ptr: i32,
    size: i64,
) -> wasmtime::Result<i64> {
    let (memory, state) = guest_memory(&mut caller)?;
    let range = guest_range(memory, ptr, size)?;
    let Some(stream) = state.sockets.stream(fd) else {
        return Ok(FAILED);
    };
    let mut buffer = vec![0; range.len().min(MAX_CHUNK)];
    let read = stream.read(&mut buffer).await;
    let count = byte_count("tcp_read", fd, read);
    if let Ok(read) = usize::try_from(count) {
        // Memory only grows, so the range checked before the await still holds.
        let (memory, _) = guest_memory(&mut caller)?;
        memory[range.start..range.start + read].copy_from_slice(&buffer[..read]);
    }
    Ok(count)
}

async fn write(
    mut caller: Caller<'_, HostState>,
    fd: i32,
    ptr: i32,
    size: i64,
) -> wasmtime::Result<i64> {
    let (memory, state) = guest_memory(&mut caller)?;
    let range = guest_range(memory, ptr, size)?;
    let chunk = memory[range.start..range.start + range.len().min(MAX_CHUNK)].to_vec();
    let Some(stream) = state.sockets.stream(fd) else {
        return Ok(FAILED);
    };
    let written = stream.write(&chunk).await;
    Ok(byte_count("tcp_write", fd, written))
}

/// What the guest sees of an I/O result: the byte count, or [`FAILED`] with
/// the reason in the log.
fn byte_count(operation: &str, fd: i32, result: std::io::Result<usize>) -> i64 {
    match result {
        Ok(count) => i64::try_from(count).unwrap_or(i64::MAX),
        Err(error) => {
            tracing::warn!(target: "guest", "{operation} on {fd} failed: {error}");
            FAILED
        }
    }
}
