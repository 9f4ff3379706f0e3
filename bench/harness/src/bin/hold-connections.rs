//! `hold-connections 127.0.0.1:PORT COUNT [PATH]`: opens COUNT idle
//! keep-alive connections to a server, for bench/run.sh to measure what
//! they cost the server in memory.
//!
//! On each connection it sends one `GET PATH HTTP/1.1` (default path
//! `/hello`), reads the whole response (content-length or chunked), and then
//! leaves the connection open and idle. Connections are set up at most
//! [`PARALLEL`] at a time, each within [`STEP_TIMEOUT`], so a server that
//! stops answering makes the tool fail instead of hang.
//!
//! Progress goes to stderr; once every connection has been tried it prints
//! `ready: N open, M failed` and holds the open ones until stdin reaches end
//! of file (run it with stdin from a pipe), it gets SIGINT or SIGTERM, or
//! [`MAX_HOLD`] passes. Exits non-zero when any connection failed.
//!
//! Only loopback addresses are accepted: this is a load tool for a server on
//! the same machine. The process needs a file-descriptor limit above COUNT
//! (`ulimit -n`); bench/run.sh raises it.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Connections being set up at once: well under the listen backlog of a
/// tokio listener (1024), so the kernel drops no SYN.
const PARALLEL: usize = 128;
/// Bound on connecting, and separately on the request and its response.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on holding, in case whoever started the tool forgets it.
const MAX_HOLD: Duration = Duration::from_secs(600);
/// Bound on a response's size: the benchmark's are tens of bytes.
const MAX_RESPONSE: usize = 64 * 1024;
/// Error messages printed in full; the rest are only counted.
const ERRORS_SHOWN: usize = 5;

struct Args {
    address: SocketAddr,
    count: usize,
    path: String,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("hold-connections: {message}");
            eprintln!("usage: hold-connections 127.0.0.1:PORT COUNT [PATH]");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hold-connections: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(args))
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let address: SocketAddr = args
        .next()
        .ok_or("no address given")?
        .parse()
        .map_err(|error| format!("bad address: {error}"))?;
    if !address.ip().is_loopback() {
        return Err(format!("{address} is not a loopback address"));
    }
    let count = args
        .next()
        .ok_or("no count given")?
        .parse()
        .map_err(|error| format!("bad count: {error}"))?;
    let path = args.next().unwrap_or_else(|| "/hello".to_owned());
    if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(format!("bad path {path:?}"));
    }
    if let Some(extra) = args.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    Ok(Args {
        address,
        count,
        path,
    })
}

async fn run(args: Args) -> ExitCode {
    let started = Instant::now();
    let (open, failed) = open_all(&args).await;
    eprintln!(
        "ready: {} open, {failed} failed, in {:.1} s",
        open.len(),
        started.elapsed().as_secs_f64()
    );
    let reason = hold().await;
    eprintln!("closing {} connections ({reason})", open.len());
    drop(open);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Opens every connection; returns the open ones and the number that failed.
async fn open_all(args: &Args) -> (Vec<TcpStream>, usize) {
    let request: Arc<[u8]> = format!(
        "GET {} HTTP/1.1\r\nhost: {}\r\nuser-agent: hold-connections\r\n\r\n",
        args.path, args.address
    )
    .into_bytes()
    .into();
    let permits = Arc::new(Semaphore::new(PARALLEL));
    let mut tasks = JoinSet::new();
    for _ in 0..args.count {
        let (permits, request, address) = (permits.clone(), request.clone(), args.address);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            open_one(address, &request).await
        });
    }
    let progress_every = (args.count / 10).max(1);
    let (mut open, mut failed) = (Vec::with_capacity(args.count), 0);
    while let Some(result) = tasks.join_next().await {
        match result.unwrap_or_else(|error| Err(format!("task failed: {error}"))) {
            Ok(stream) => open.push(stream),
            Err(message) => {
                failed += 1;
                if failed <= ERRORS_SHOWN {
                    eprintln!("connection failed: {message}");
                }
            }
        }
        let done = open.len() + failed;
        if done % progress_every == 0 {
            eprintln!("{done}/{} tried, {} open", args.count, open.len());
        }
    }
    (open, failed)
}

/// One connection: connect, one request, its whole response.
async fn open_one(address: SocketAddr, request: &[u8]) -> Result<TcpStream, String> {
    let mut stream = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|error| format!("connect: {error}"))?;
    let _ = stream.set_nodelay(true);
    let status = tokio::time::timeout(STEP_TIMEOUT, exchange(&mut stream, request))
        .await
        .map_err(|_| "no complete response in time".to_owned())??;
    if !(200..300).contains(&status) {
        return Err(format!("status {status}"));
    }
    Ok(stream)
}

/// Sends the request and reads the response; returns its status code.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> Result<u16, String> {
    stream
        .write_all(request)
        .await
        .map_err(|error| format!("write: {error}"))?;
    let mut buffer = Vec::with_capacity(512);
    loop {
        if let Some(status) = complete_response(&buffer)? {
            return Ok(status);
        }
        if buffer.len() > MAX_RESPONSE {
            return Err("response too large".to_owned());
        }
        let mut chunk = [0; 4096];
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|error| format!("read: {error}"))?;
        if read == 0 {
            return Err("server closed the connection".to_owned());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// The status code once `buffer` holds a whole response, `None` while more
/// is to come. A response the server means to end by closing the connection
/// is an error: the point is to keep it open.
fn complete_response(buffer: &[u8]) -> Result<Option<u16>, String> {
    let Some(head_end) = find(buffer, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buffer[..head_end]).map_err(|_| "non-UTF-8 head")?;
    let body = &buffer[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse::<usize>().map_err(|_| "bad content-length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            return Err("the server closes the connection after the response".to_owned());
        }
    }
    let complete = if chunked {
        // Good enough for the benchmark's small bodies: the last chunk and
        // an empty trailer end the body.
        body.ends_with(b"0\r\n\r\n")
    } else {
        body.len() >= content_length.unwrap_or(0)
    };
    Ok(complete.then_some(status))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Waits for the first reason to stop holding, and names it.
async fn hold() -> &'static str {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        () = stdin_closed() => "stdin closed",
        _ = tokio::signal::ctrl_c() => "SIGINT",
        Some(()) = async { terminate.as_mut()?.recv().await } => "SIGTERM",
        () = tokio::time::sleep(MAX_HOLD) => "maximum hold time reached",
    }
}

async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buffer = [0; 256];
    while let Ok(read) = stdin.read(&mut buffer).await {
        if read == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::complete_response;

    #[test]
    fn waits_for_the_whole_body() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n";
        assert_eq!(complete_response(&head[..20]), Ok(None));
        assert_eq!(complete_response(&[&head[..], b"hel"].concat()), Ok(None));
        assert_eq!(
            complete_response(&[&head[..], b"hello"].concat()),
            Ok(Some(200))
        );
    }

    #[test]
    fn reads_chunked_bodies() {
        let response = b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n";
        assert_eq!(complete_response(response), Ok(None));
        assert_eq!(
            complete_response(&[&response[..], b"0\r\n\r\n"].concat()),
            Ok(Some(404))
        );
    }

    #[test]
    fn refuses_connection_close() {
        let response = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(complete_response(response).is_err());
    }
}
