//! Guest stdout and stderr as log lines, tagged with the request's span
//! (app name and request id) even when written from a background task.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use tracing::Span;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::loggable;

/// Lines longer than this are logged in pieces, so a guest cannot make the
/// host buffer without bound.
const MAX_LINE: usize = 16 * 1024;

/// The span guest output is logged in: the request's. An instance that
/// serves several requests (`reuse`) is moved to each new one's span; one
/// serving several at once (`concurrent_reuse`), to the last one started.
#[derive(Clone)]
pub struct LogSpan(Arc<Mutex<Span>>);

impl LogSpan {
    /// The current span, that of the request being set up.
    pub fn current() -> Self {
        Self(Arc::new(Mutex::new(Span::current())))
    }

    /// Moves the output to the current span.
    pub fn follow_current(&self) {
        *self.lock() = Span::current();
    }

    /// Moves the output to `span`.
    pub fn set(&self, span: Span) {
        *self.lock() = span;
    }

    pub fn get(&self) -> Span {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Span> {
        // A span is replaced whole; a panic cannot leave it half-written.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A WASI output stream whose every line becomes a log event.
#[derive(Clone)]
pub struct LogStream {
    name: &'static str,
    span: LogSpan,
}

impl LogStream {
    /// A stream called `name` ("stdout" or "stderr") logging in `span`.
    pub fn new(name: &'static str, span: LogSpan) -> Self {
        Self { name, span }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            stream: self.clone(),
            line: Vec::new(),
        })
    }
}

struct LineWriter {
    stream: LogStream,
    line: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self) {
        let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        let text = loggable(line.strip_suffix(b"\r").unwrap_or(line));
        self.stream.span.get().in_scope(|| {
            tracing::info!(target: "guest", stream = self.stream.name, "{text}");
        });
        self.line.clear();
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        for &byte in bytes {
            self.line.push(byte);
            if byte == b'\n' || self.line.len() >= MAX_LINE {
                self.emit();
            }
        }
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.line.is_empty() {
            self.emit();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }
}
