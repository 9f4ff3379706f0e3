//! One app's counters, kept by name so that they outlive a reload: what the
//! dashboard and `/apps` show, and the per-app series of `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::histogram::{self, Histogram};

/// How a request's guest failed, or why it never ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The guest trapped (including a panic or abort).
    Trap,
    /// The deadline passed.
    Timeout,
    /// A memory grow was refused by the app's `memory_limit_mb`.
    MemoryLimit,
    /// Every instance slot of the pool was taken.
    PoolFull,
}

impl Fault {
    pub const ALL: [Fault; 4] = [
        Fault::Trap,
        Fault::Timeout,
        Fault::MemoryLimit,
        Fault::PoolFull,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Fault::Trap => "trap",
            Fault::Timeout => "timeout",
            Fault::MemoryLimit => "memory_limit",
            Fault::PoolFull => "pool_full",
        }
    }
}

/// Why admission turned a request away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The wait queue was full.
    QueueFull,
    /// It waited `queue_timeout_ms` without getting a turn.
    QueueTimeout,
}

impl Rejection {
    pub const ALL: [Rejection; 2] = [Rejection::QueueFull, Rejection::QueueTimeout];

    pub fn label(self) -> &'static str {
        match self {
            Rejection::QueueFull => "queue_full",
            Rejection::QueueTimeout => "queue_timeout",
        }
    }
}

/// One app's counters.
#[derive(Debug, Default)]
pub struct AppMetrics {
    /// The app's name, shared by every series that carries it.
    name: Arc<String>,
    /// Answers by status class: 1xx to 5xx.
    statuses: [AtomicU64; 5],
    duration: Histogram,
    instantiation: Histogram,
    faults: [AtomicU64; Fault::ALL.len()],
    rejections: [AtomicU64; Rejection::ALL.len()],
    in_flight: AtomicI64,
    queued: AtomicI64,
}

/// An app's counters at one moment, as `/apps` and the dashboard show them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AppStats {
    pub requests: u64,
    /// `"2xx"` and so on, with their counts.
    pub statuses: Vec<(String, u64)>,
    pub faults: Vec<(&'static str, u64)>,
    pub rejections: Vec<(&'static str, u64)>,
    pub in_flight: i64,
    pub queued: i64,
    pub duration: histogram::Snapshot,
    pub instantiation: histogram::Snapshot,
}

impl AppMetrics {
    pub fn new(name: &str) -> AppMetrics {
        AppMetrics {
            name: Arc::new(name.to_owned()),
            ..AppMetrics::default()
        }
    }

    pub fn name(&self) -> &Arc<String> {
        &self.name
    }
    /// A request answered with `status` after `elapsed`.
    pub fn answered(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.statuses[class].fetch_add(1, Ordering::Relaxed);
        self.duration.record(elapsed);
    }

    pub fn fault(&self, fault: Fault) {
        self.faults[fault as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, rejection: Rejection) {
        self.rejections[rejection as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// An instance of the app's guest was made in `elapsed`.
    pub fn instantiated(&self, elapsed: Duration) {
        self.instantiation.record(elapsed);
    }

    /// Counts a request as running until the guard is dropped.
    pub fn running(self: &Arc<Self>) -> Occupying {
        Occupying::new(self.clone(), Gauge::InFlight)
    }

    /// Counts a request as waiting in the queue until the guard is dropped.
    pub fn waiting(self: &Arc<Self>) -> Occupying {
        Occupying::new(self.clone(), Gauge::Queued)
    }

    fn gauge(&self, gauge: Gauge) -> &AtomicI64 {
        match gauge {
            Gauge::InFlight => &self.in_flight,
            Gauge::Queued => &self.queued,
        }
    }

    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn queued(&self) -> i64 {
        self.queued.load(Ordering::Relaxed)
    }

    pub fn faults(&self) -> impl Iterator<Item = (Fault, u64)> + '_ {
        Fault::ALL
            .into_iter()
            .map(|fault| (fault, self.faults[fault as usize].load(Ordering::Relaxed)))
    }

    pub fn rejections(&self) -> impl Iterator<Item = (Rejection, u64)> + '_ {
        Rejection::ALL.into_iter().map(|rejection| {
            let count = self.rejections[rejection as usize].load(Ordering::Relaxed);
            (rejection, count)
        })
    }

    pub fn duration(&self) -> histogram::Snapshot {
        self.duration.snapshot()
    }

    pub fn instantiation(&self) -> histogram::Snapshot {
        self.instantiation.snapshot()
    }

    pub fn stats(&self) -> AppStats {
        let statuses: Vec<(String, u64)> = self
            .statuses
            .iter()
            .enumerate()
            .map(|(class, count)| (format!("{}xx", class + 1), count.load(Ordering::Relaxed)))
            .collect();
        AppStats {
            requests: statuses.iter().map(|(_, count)| count).sum(),
            statuses,
            faults: self
                .faults()
                .map(|(fault, count)| (fault.label(), count))
                .collect(),
            rejections: self
                .rejections()
                .map(|(rejection, count)| (rejection.label(), count))
                .collect(),
            in_flight: self.in_flight(),
            queued: self.queued(),
            duration: self.duration(),
            instantiation: self.instantiation(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Gauge {
    InFlight,
    Queued,
}

/// Holds one unit of a gauge (in flight, queued) while it lives.
#[derive(Debug)]
pub struct Occupying {
    metrics: Arc<AppMetrics>,
    gauge: Gauge,
}

impl Occupying {
    fn new(metrics: Arc<AppMetrics>, gauge: Gauge) -> Self {
        metrics.gauge(gauge).fetch_add(1, Ordering::Relaxed);
        Occupying { metrics, gauge }
    }
}

impl Drop for Occupying {
    fn drop(&mut self) {
        self.metrics
            .gauge(self.gauge)
            .fetch_sub(1, Ordering::Relaxed);
    }
}
