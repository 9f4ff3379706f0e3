//! When a connection that is not being answered gets closed: it has
//! `header_read_timeout` to send a whole request header (from when it was
//! opened, or from the first byte of the next request on a kept-alive
//! HTTP/1 connection), and `keep_alive_timeout` of idleness between
//! requests.
//!
//! hyper's own `header_read_timeout` cannot tell those apart: it starts as
//! soon as an HTTP/1 connection is idle, so it would also close every
//! kept-alive connection after the (shorter) header timeout. Here the phase
//! is tracked from three sides: [`Watched`] sees bytes arrive, an
//! [`InFlight`] guard lives from a request's call until its response body
//! is done or dropped, and the connection's driver sleeps until
//! [`Activity::next_check`] and looks again.
//!
//! Nothing on a request's path wakes the driver: a wake-up per request (a
//! `Notify` from the guard) made the runtime wake its other worker for
//! every request, 1.2 more context switches a request and 25% fewer
//! requests per second on one connection. Instead the driver's checks are
//! timed so that no deadline is missed: while a request runs it looks again
//! every `min(header_read_timeout, keep_alive_timeout)`, and while idle no
//! later than `header_read_timeout` from now, before which a header that
//! starts arriving cannot be due.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// What a connection without a request in flight is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quiet {
    /// The rest of a request header (or the first request's first byte).
    Head,
    /// A next request on a kept-alive connection.
    Idle,
}

/// One connection's requests in flight and the deadline when there are none.
pub(super) struct Activity {
    state: Mutex<State>,
    /// Whether the connection is idle with no byte of a next request yet:
    /// read on every read, so that most reads take no lock.
    idle: AtomicBool,
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
}

struct State {
    in_flight: usize,
    quiet: Quiet,
    /// `None` while a request is in flight.
    deadline: Option<Instant>,
}

impl Activity {
    /// A connection just opened: its first request header is due within
    /// `header_read_timeout`.
    pub(super) fn new(header_read_timeout: Duration, keep_alive_timeout: Duration) -> Arc<Self> {
        Arc::new(Activity {
            state: Mutex::new(State {
                in_flight: 0,
                quiet: Quiet::Head,
                deadline: Some(Instant::now() + header_read_timeout),
            }),
            idle: AtomicBool::new(false),
            header_read_timeout,
            keep_alive_timeout,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement, so a panic
        // elsewhere while holding it leaves nothing half done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection should be closed unless something happens first.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.state().deadline
    }

    /// What the connection was waiting for, if its deadline has passed.
    pub(super) fn expired(&self) -> Option<Quiet> {
        self.expired_at(Instant::now())
    }

    fn expired_at(&self, now: Instant) -> Option<Quiet> {
        let state = self.state();
        state
            .deadline
            .filter(|deadline| *deadline <= now)
            .map(|_| state.quiet)
    }

    /// When the driver should look at the connection again, at `now`: its
    /// header deadline; while idle, its idle deadline or, sooner,
    /// `header_read_timeout` from now (a header starting later is due later
    /// still); while a request runs, a while from now.
    pub(super) fn next_check(&self, now: Instant) -> Instant {
        let state = self.state();
        match (state.quiet, state.deadline) {
            (_, None) => now + self.header_read_timeout.min(self.keep_alive_timeout),
            (Quiet::Head, Some(deadline)) => deadline,
            (Quiet::Idle, Some(deadline)) => deadline.min(now + self.header_read_timeout),
        }
    }

    /// Bytes arrived: on an idle connection, the start of a request header,
    /// which now has `header_read_timeout` to be complete.
    fn bytes_arrived(&self) {
        if !self.idle.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.state();
        if state.in_flight == 0 && state.quiet == Quiet::Idle {
            state.quiet = Quiet::Head;
            state.deadline = Some(Instant::now() + self.header_read_timeout);
            self.idle.store(false, Ordering::Relaxed);
        }
    }

    /// A request was read and is being answered: no deadline until its
    /// response is done.
    pub(super) fn request(self: &Arc<Self>) -> InFlight {
        let mut state = self.state();
        state.in_flight += 1;
        state.deadline = None;
        self.idle.store(false, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// A request in flight, from the service's call until its response body
/// ends or is dropped.
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        let mut state = activity.state();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.quiet = Quiet::Idle;
            state.deadline = Some(Instant::now() + activity.keep_alive_timeout);
            activity.idle.store(true, Ordering::Relaxed);
        }
    }
}

/// A connection's byte stream, telling its [`Activity`] when bytes arrive.
pub(super) struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub(super) fn new(io: T, activity: Arc<Activity>) -> Self {
        Watched { io, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_arrived();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(2);
    const IDLE: Duration = Duration::from_secs(10);

    /// Whether `deadline` is `after` from about now (the test's own run
    /// time is the slack).
    fn due_in(deadline: Option<Instant>, after: Duration) -> bool {
        let deadline = deadline.expect("a deadline");
        let now = Instant::now();
        deadline <= now + after && deadline + Duration::from_secs(1) > now + after
    }

    #[test]
    fn a_new_connection_waits_for_its_first_header() {
        let activity = Activity::new(HEAD, IDLE);
        let deadline = activity.deadline();
        assert!(due_in(deadline, HEAD));
        activity.bytes_arrived();
        assert_eq!(activity.deadline(), deadline, "bytes do not extend it");
        assert_eq!(
            activity.expired_at(Instant::now() + HEAD),
            Some(Quiet::Head)
        );
    }

    #[test]
    fn idle_then_head_then_request() {
        let activity = Activity::new(HEAD, IDLE);
        let in_flight = activity.request();
        assert_eq!(activity.deadline(), None);
        assert_eq!(activity.expired_at(Instant::now() + IDLE * 2), None);
        drop(in_flight);
        assert!(due_in(activity.deadline(), IDLE));
        assert_eq!(activity.expired_at(Instant::now() + HEAD), None);
        assert_eq!(
            activity.expired_at(Instant::now() + IDLE),
            Some(Quiet::Idle)
        );
        // The next request starts arriving: its header is due within HEAD,
        // however long the connection was idle before.
        activity.bytes_arrived();
        assert!(due_in(activity.deadline(), HEAD));
        assert_eq!(
            activity.expired_at(Instant::now() + HEAD),
            Some(Quiet::Head)
        );
        let _next = activity.request();
        assert_eq!(activity.deadline(), None);
    }

    #[test]
    fn checks_are_timed_so_that_no_deadline_is_missed() {
        let activity = Activity::new(HEAD, IDLE);
        let now = Instant::now();
        assert_eq!(activity.next_check(now), activity.deadline().unwrap());
        let in_flight = activity.request();
        assert_eq!(
            activity.next_check(now),
            now + HEAD,
            "looks again while running"
        );
        drop(in_flight);
        // Idle: no later than HEAD from now, since a header starting after
        // now is due after now + HEAD.
        assert_eq!(activity.next_check(now), now + HEAD);
        let idle_deadline = activity.deadline().unwrap();
        let late = idle_deadline - Duration::from_millis(1);
        assert_eq!(activity.next_check(late), idle_deadline);
        activity.bytes_arrived();
        assert_eq!(activity.next_check(now), activity.deadline().unwrap());
    }

    #[test]
    fn idle_only_when_every_request_is_done() {
        let activity = Activity::new(HEAD, IDLE);
        let first = activity.request();
        let second = activity.request();
        drop(first);
        assert_eq!(activity.deadline(), None);
        drop(second);
        assert!(due_in(activity.deadline(), IDLE));
    }
}
