//! Admission control: how many requests of one app run at once, and how many
//! wait their turn. Each app has a [`Gate`]: `max_concurrency` permits and a
//! bounded FIFO queue (`max_queued`) in which a request waits at most
//! `queue_timeout`. A request refused by either limit is answered 503 with
//! `Retry-After`, so one app's burst fills its own queue, not the instance
//! pool every app shares. A queued request whose client goes away leaves the
//! queue at once: hyper drops its future, and with it the wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::config::Admission;
use crate::metrics::{AppMetrics, Rejection};

/// One app's admission: its permits and its queue.
#[derive(Debug)]
pub struct Gate {
    permits: Arc<Semaphore>,
    /// What this gate was made with, to tell whether a reload changed it.
    settings: Admission,
    max_concurrency: u32,
    /// Requests waiting for a permit now.
    queued: AtomicU32,
}

/// A turn to run: held until the response has been sent.
pub type Turn = OwnedSemaphorePermit;

impl Gate {
    /// A gate for an app with `settings`, one of `apps` sharing a pool of
    /// `pool` instances.
    pub fn new(settings: Admission, apps: usize, pool: u32) -> Gate {
        let max_concurrency = settings
            .max_concurrency
            .unwrap_or_else(|| fair_share(apps, pool));
        Gate {
            permits: Arc::new(Semaphore::new(max_concurrency as usize)),
            settings,
            max_concurrency,
            queued: AtomicU32::new(0),
        }
    }

    /// The gate to keep across a reload: this one while its settings and
    /// share stay the same, so requests in flight and waiting keep counting.
    pub fn carried_over(
        self: &Arc<Self>,
        settings: Admission,
        apps: usize,
        pool: u32,
    ) -> Arc<Gate> {
        let share = settings
            .max_concurrency
            .unwrap_or_else(|| fair_share(apps, pool));
        if self.settings == settings && self.max_concurrency == share {
            self.clone()
        } else {
            Arc::new(Gate::new(settings, apps, pool))
        }
    }

    pub fn max_concurrency(&self) -> u32 {
        self.max_concurrency
    }

    /// Waits for a turn, in arrival order, or says why there is none.
    pub async fn enter(&self, metrics: &Arc<AppMetrics>) -> Result<Turn, Rejection> {
        match self.permits.clone().try_acquire_owned() {
            Ok(turn) => return Ok(turn),
            Err(TryAcquireError::Closed) => return Err(Rejection::QueueFull),
            Err(TryAcquireError::NoPermits) => {}
        }
        let refused = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                (waiting < self.settings.max_queued).then_some(waiting + 1)
            })
            .is_err();
        if refused {
            return Err(Rejection::QueueFull);
        }
        let _leaving = Leaving(&self.queued);
        let _waiting = metrics.waiting();
        let wait = self.permits.clone().acquire_owned();
        match tokio::time::timeout(self.settings.queue_timeout, wait).await {
            Ok(Ok(turn)) => Ok(turn),
            Ok(Err(_closed)) => Err(Rejection::QueueFull),
            Err(_elapsed) => Err(Rejection::QueueTimeout),
        }
    }

    /// What a refused client is told to wait before trying again, in whole
    /// seconds: the queue timeout, rounded up, by when every request now
    /// waiting has run or given up.
    pub fn retry_after_seconds(&self) -> u64 {
        self.settings
            .queue_timeout
            .as_millis()
            .div_ceil(1000)
            .max(1) as u64
    }
}

/// Takes a request off the queue count however its wait ends.
struct Leaving<'a>(&'a AtomicU32);

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The default `max_concurrency`: the instance pool divided evenly among
/// the apps, so that no app's burst alone can take every slot from the
/// others; but at least [`MIN_FAIR_SHARE`] (or a quarter of the pool, if
/// smaller), because with thousands of apps, most of them idle, an even
/// split would leave each app one request at a time.
pub fn fair_share(apps: usize, pool: u32) -> u32 {
    let apps = u32::try_from(apps.max(1)).unwrap_or(u32::MAX);
    (pool / apps).max(MIN_FAIR_SHARE.min(pool / 4)).max(1)
}

/// The least default `max_concurrency` of an app.
const MIN_FAIR_SHARE: u32 = 8;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings(concurrency: u32, queued: u32, timeout_ms: u64) -> Admission {
        Admission {
            max_concurrency: Some(concurrency),
            max_queued: queued,
            queue_timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn the_fair_share_divides_the_pool() {
        assert_eq!(fair_share(0, 1000), 1000);
        assert_eq!(fair_share(1, 1000), 1000);
        assert_eq!(fair_share(3, 1000), 333);
        assert_eq!(fair_share(10_000, 1000), 8);
        assert_eq!(fair_share(1_000_000, 1000), 8);
        assert_eq!(fair_share(2, 16), 8);
        assert_eq!(fair_share(100, 16), 4);
        assert_eq!(fair_share(100, 3), 1);
    }

    #[tokio::test]
    async fn beyond_the_queue_a_request_is_refused_at_once() {
        let gate = Arc::new(Gate::new(settings(1, 1, 10_000), 1, 1000));
        let metrics = Arc::new(AppMetrics::default());
        let first = gate.enter(&metrics).await.unwrap();
        let waiting = {
            let (gate, metrics) = (gate.clone(), metrics.clone());
            tokio::spawn(async move { gate.enter(&metrics).await.map(drop) })
        };
        while metrics.queued() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            gate.enter(&metrics).await.unwrap_err(),
            Rejection::QueueFull
        );
        drop(first);
        waiting.await.unwrap().unwrap();
        assert_eq!(metrics.queued(), 0);
    }

    #[tokio::test]
    async fn a_queued_request_gives_up_after_the_queue_timeout() {
        let gate = Gate::new(settings(1, 4, 50), 1, 1000);
        let metrics = Arc::new(AppMetrics::default());
        let _first = gate.enter(&metrics).await.unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            gate.enter(&metrics).await.unwrap_err(),
            Rejection::QueueTimeout
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(gate.queued.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn waiting_requests_get_their_turns_in_arrival_order() {
        let gate = Arc::new(Gate::new(settings(1, 10, 10_000), 1, 1000));
        let metrics = Arc::new(AppMetrics::default());
        let first = gate.enter(&metrics).await.unwrap();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for n in 0..5 {
            let (gate, waiting, order) = (gate.clone(), metrics.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let turn = gate.enter(&waiting).await.unwrap();
                order.lock().unwrap().push(n);
                drop(turn);
            }));
            while metrics.queued() <= n as i64 {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_dropped_wait_leaves_the_queue() {
        let gate = Gate::new(settings(1, 1, 10_000), 1, 1000);
        let metrics = Arc::new(AppMetrics::default());
        let _first = gate.enter(&metrics).await.unwrap();
        let abandoned = tokio::time::timeout(Duration::from_millis(10), gate.enter(&metrics));
        assert!(abandoned.await.is_err());
        assert_eq!(metrics.queued(), 0);
        assert_eq!(gate.queued.load(Ordering::Relaxed), 0);
        // The place is free again: the next waiter is queued, not refused.
        let next = tokio::time::timeout(Duration::from_millis(10), gate.enter(&metrics));
        assert!(next.await.is_err(), "queued until its timeout, not refused");
    }

    #[test]
    fn a_reload_keeps_the_gate_unless_its_settings_change() {
        let gate = Arc::new(Gate::new(settings(2, 1, 100), 1, 1000));
        assert!(Arc::ptr_eq(
            &gate,
            &gate.carried_over(settings(2, 1, 100), 3, 1000)
        ));
        assert!(!Arc::ptr_eq(
            &gate,
            &gate.carried_over(settings(3, 1, 100), 1, 1000)
        ));
        let shared = Arc::new(Gate::new(Admission::default(), 2, 1000));
        assert!(Arc::ptr_eq(
            &shared,
            &shared.carried_over(Admission::default(), 2, 1000)
        ));
        assert!(!Arc::ptr_eq(
            &shared,
            &shared.carried_over(Admission::default(), 3, 1000)
        ));
    }
}
