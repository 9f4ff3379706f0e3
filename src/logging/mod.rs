//! The server's own log: `RUST_LOG`-filtered `tracing` events written to
//! stderr in batches by a thread of their own, so a request pays for
//! formatting its lines and nothing more; as text ([`line`]) or JSON
//! ([`json`]).
//!
//! A runtime thread appends each formatted line to a shared buffer; the
//! writer thread takes the whole buffer every [`FLUSH_INTERVAL`] (sooner when
//! it grows past [`FLUSH_AT`]) and writes it with one call. Waking a writer
//! per line (as a channel does) measured at several microseconds of futex
//! and scheduler time per request, more than running the guest. Lines are
//! never dropped: past [`MAX_PENDING`] a logging thread waits for the writer.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

mod json;
mod line;

/// How long a line may wait in the buffer before it reaches stderr.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(10);
/// A buffer this large is written at once rather than at the next interval.
const FLUSH_AT: usize = 256 << 10;
/// Beyond this, logging threads wait for the writer to catch up.
const MAX_PENDING: usize = 4 << 20;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, its span's fields (`request{request_id=…
    /// app=…}`) before the message.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the event's
    /// fields at the top level, and the request's `request_id` and `app`
    /// under `span`.
    Json,
}

/// Installs the global subscriber: `RUST_LOG` (default `info`) to stderr in
/// `format`. Keep the guard until the end of `main`: dropping it writes
/// what is still buffered.
pub fn init(format: LogFormat) -> std::io::Result<FlushGuard> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = BatchedWriter::spawn(std::io::stderr())?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // `try_init` also forwards the `log` records of dependencies.
    use tracing_subscriber::util::SubscriberInitExt as _;
    if let Err(error) = subscriber(format, filter, writer, ansi).try_init() {
        eprintln!("warning: cannot install the log subscriber: {error}");
    }
    Ok(guard)
}

/// The subscriber `init` installs, writing through `writer`; colours only
/// where `ansi` says (a terminal).
pub fn subscriber(
    format: LogFormat,
    filter: tracing_subscriber::EnvFilter,
    writer: BatchedWriter,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(
            builder
                .with_ansi(ansi)
                .event_format(line::TextLine { ansi })
                .fmt_fields(line::TextFields)
                .finish(),
        ),
        LogFormat::Json => Box::new(
            builder
                .event_format(json::JsonLine)
                .fmt_fields(json::JsonFields)
                .finish(),
        ),
    }
}

/// What the logging threads and the writer thread share.
struct Shared {
    state: Mutex<Pending>,
    /// Wakes the writer early (a full buffer, or the end).
    flush: Condvar,
    /// Wakes logging threads waiting for room.
    room: Condvar,
}

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A thread that panicked mid-append leaves at worst a partial line.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The [`MakeWriter`] handed to `tracing_subscriber`.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

impl BatchedWriter {
    /// Starts the writer thread over `output`.
    pub fn spawn(
        output: impl Write + Send + 'static,
    ) -> std::io::Result<(BatchedWriter, FlushGuard)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(Pending::default()),
            flush: Condvar::new(),
            room: Condvar::new(),
        });
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_batches(&writer, output))?;
        Ok((
            BatchedWriter {
                shared: shared.clone(),
            },
            FlushGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }
}

impl Write for BatchedWriter {
    /// `tracing_subscriber` writes each formatted event with one call, so
    /// lines from different threads never interleave.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.shared.lock();
        while pending.lines.len() >= MAX_PENDING && !pending.closed {
            pending = self
                .shared
                .room
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
        }
        pending.lines.extend_from_slice(bytes);
        if pending.lines.len() >= FLUSH_AT {
            self.shared.flush.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = BatchedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The writer thread: takes whatever is buffered at each interval and
/// writes it, until closed and drained.
fn write_batches(shared: &Shared, mut output: impl Write) {
    let mut batch = Vec::new();
    loop {
        let closed = {
            let mut pending = shared.lock();
            if pending.lines.len() < FLUSH_AT && !pending.closed {
                pending = shared
                    .flush
                    .wait_timeout(pending, FLUSH_INTERVAL)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            std::mem::swap(&mut batch, &mut pending.lines);
            shared.room.notify_all();
            pending.closed
        };
        if !batch.is_empty() {
            // Nowhere to report a failing stderr; the lines are lost either way.
            let _ = output.write_all(&batch).and_then(|()| output.flush());
            batch.clear();
        }
        if closed && shared.lock().lines.is_empty() {
            return;
        }
    }
}

/// Writes out the buffered lines and stops the writer thread when dropped.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.flush.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_and_all_by_the_end() {
        let output = Captured::default();
        let (writer, guard) = BatchedWriter::spawn(output.clone()).unwrap();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let mut writer = writer.clone();
                scope.spawn(move || {
                    for line in 0..5000 {
                        // As tracing-subscriber does: one write per event.
                        let event = format!("thread {thread} line {line}\n");
                        writer.write_all(event.as_bytes()).unwrap();
                    }
                });
            }
        });
        drop(guard);
        let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20_000);
        for thread in 0..4 {
            let mine: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("thread {thread} ")))
                .collect();
            assert_eq!(mine.len(), 5000, "every line of thread {thread}, whole");
            assert_eq!(mine[4999], format!("thread {thread} line 4999"));
        }
    }

    #[test]
    fn a_line_reaches_the_output_within_the_interval() {
        let output = Captured::default();
        let (mut writer, _guard) = BatchedWriter::spawn(output.clone()).unwrap();
        writeln!(writer, "soon").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while output.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(FLUSH_INTERVAL / 2);
        }
        assert_eq!(output.0.lock().unwrap().as_slice(), b"soon\n");
    }

    #[test]
    fn a_full_buffer_makes_writers_wait_not_drop() {
        /// An output slow enough for the buffer to fill.
        struct Slow(Captured);
        impl Write for Slow {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_millis(2));
                self.0.write(bytes)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let output = Captured::default();
        let (mut writer, guard) = BatchedWriter::spawn(Slow(output.clone())).unwrap();
        let line = vec![b'x'; 64 << 10];
        let lines = 3 * MAX_PENDING / line.len();
        for _ in 0..lines {
            writer.write_all(&line).unwrap();
        }
        drop(guard);
        assert_eq!(output.0.lock().unwrap().len(), lines * line.len());
    }

    #[test]
    fn a_text_line_has_the_time_level_span_target_and_escaped_fields() {
        let output = Captured::default();
        let (writer, guard) = BatchedWriter::spawn(output.clone()).unwrap();
        let filter = tracing_subscriber::EnvFilter::new("info");
        let subscriber = subscriber(LogFormat::Text, filter, writer, false);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::error_span!("request", request_id = %"r-1", app = %"hello");
            let _entered = span.enter();
            tracing::warn!(target: "guest", status = 500u16, zero = 0u64, path = %"/x", "bad \x1b[31mred");
        });
        drop(guard);
        let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
        let (time, rest) = text.split_once(' ').unwrap();
        assert_eq!(time.len(), "2026-12-07T01:02:03.456789Z".len(), "{text}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{text}");
        assert_eq!(
            rest,
            " WARN request{request_id=r-1 app=hello}: guest: bad \\u{1b}[31mred status=500 zero=0 path=/x\n"
        );
    }

    #[test]
    fn a_json_line_is_one_object_with_the_fields_and_the_span() {
        let output = Captured::default();
        let (writer, guard) = BatchedWriter::spawn(output.clone()).unwrap();
        let filter = tracing_subscriber::EnvFilter::new("info");
        let subscriber = subscriber(LogFormat::Json, filter, writer, false);
        tracing::subscriber::with_default(subscriber, || {
            {
                let span = tracing::error_span!("request", request_id = "r-1", app = %"hello");
                let _entered = span.enter();
                tracing::warn!(
                    target: "guest",
                    status = 500u16,
                    delta = -3i64,
                    ok = true,
                    ratio = 0.5,
                    path = %"/x",
                    "say \"hi\"\n\x1b[31m\\"
                );
            }
            tracing::info!(target: "access", status = 200u16);
        });
        drop(guard);
        let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        let line = &lines[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["target"], "guest");
        assert_eq!(line["message"], "say \"hi\"\n\u{1b}[31m\\");
        assert_eq!(line["status"], 500);
        assert_eq!(line["delta"], -3);
        assert_eq!(line["ok"], true);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["path"], "/x");
        assert_eq!(line["span"]["name"], "request");
        assert_eq!(line["span"]["request_id"], "r-1");
        assert_eq!(line["span"]["app"], "hello");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["status"], 200);
        assert!(lines[1].get("span").is_none());
    }
}
