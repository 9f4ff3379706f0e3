//! A latency histogram of fixed buckets kept in atomics: recording is a few
//! relaxed adds, and both `/metrics` and the dashboard read the same counts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds in microseconds, from half a millisecond to half a minute
/// (the default deadline); the last bucket is `+Inf`.
pub const BOUNDS_MICROS: [u64; 15] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000,
];

/// Counts per bucket (not cumulative), their sum and number.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS_MICROS.len() + 1],
    sum_micros: AtomicU64,
}

/// A histogram's counts at one moment.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Snapshot {
    /// Per bucket, not cumulative; the last is above every bound.
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_MICROS
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(BOUNDS_MICROS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|bucket| bucket.load(Ordering::Relaxed))
            .collect();
        Snapshot {
            count: buckets.iter().sum(),
            buckets,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

impl Snapshot {
    /// The `(upper bound in seconds, count)` pair of each bucket, not
    /// cumulative, `+Inf` last: what `prometheus-client`'s histogram
    /// encoder takes (it adds them up itself).
    pub fn per_bucket(&self) -> Vec<(f64, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .map(|(index, &count)| {
                let bound = BOUNDS_MICROS
                    .get(index)
                    .map_or(f64::INFINITY, |&micros| micros as f64 / 1e6);
                (bound, count)
            })
            .collect()
    }

    /// The cumulative `(upper bound in seconds, count)` pairs of the text
    /// format's `_bucket` series, `+Inf` last.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        self.buckets
            .iter()
            .enumerate()
            .map(|(index, count)| {
                total += count;
                let bound = BOUNDS_MICROS
                    .get(index)
                    .map_or(f64::INFINITY, |&micros| micros as f64 / 1e6);
                (bound, total)
            })
            .collect()
    }
}

/// The bucket bounds in seconds, for the dashboard's quantiles.
pub fn bounds_seconds() -> Vec<f64> {
    BOUNDS_MICROS.iter().map(|&m| m as f64 / 1e6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_lands_in_the_first_bucket_that_holds_it() {
        let histogram = Histogram::default();
        histogram.record(Duration::from_micros(500));
        histogram.record(Duration::from_micros(501));
        histogram.record(Duration::from_secs(60));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 3);
        assert_eq!(snapshot.buckets[0], 1);
        assert_eq!(snapshot.buckets[1], 1);
        assert_eq!(snapshot.buckets[BOUNDS_MICROS.len()], 1);
        let cumulative = snapshot.cumulative();
        assert_eq!(cumulative[0], (0.0005, 1));
        assert_eq!(cumulative[1], (0.001, 2));
        assert_eq!(cumulative.last(), Some(&(f64::INFINITY, 3)));
        let per_bucket = snapshot.per_bucket();
        assert_eq!(per_bucket[1], (0.001, 1));
        assert_eq!(per_bucket.last(), Some(&(f64::INFINITY, 1)));
        assert!((snapshot.sum_seconds - 60.001001).abs() < 1e-9);
    }
}
