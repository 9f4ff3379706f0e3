//! What `GET /apps` answers: every app of the deployment being served, with
//! its route, kind, module digest, limits and counters, and the process's
//! own figures. The dashboard reads nothing else, so the histogram bounds
//! come along for it to compute quantiles from two snapshots.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Health;
use crate::app::App;
use crate::metrics::{self, AppStats, histogram};
use crate::router::Methods;
use crate::service::Service;
use crate::sources::SourceUrl;

const BYTES_PER_MB: u64 = 1024 * 1024;

/// The whole answer.
#[derive(Debug, Serialize)]
pub struct Overview {
    pub process: Process,
    /// Upper bounds of the latency histograms' buckets, in seconds; every
    /// `buckets` array has one more entry, for durations above the last.
    pub histogram_bounds_seconds: Vec<f64>,
    pub apps: Vec<AppView>,
}

#[derive(Debug, Serialize)]
pub struct Process {
    pub version: &'static str,
    pub uptime_seconds: f64,
    pub ready: bool,
    pub draining: bool,
    pub pool_slots_in_use: i64,
    pub connections_open: i64,
}

#[derive(Debug, Serialize)]
pub struct AppView {
    pub name: String,
    pub route: String,
    /// `["*"]` for any method.
    pub methods: Vec<String>,
    /// `classic`, `wasi-http`, `wagi` or `static`.
    pub kind: &'static str,
    pub source: String,
    /// `sha256:<hex>` of the module as fetched; `None` for a static response.
    pub digest: Option<String>,
    /// Whether its guest is compiled and linked now: apps load on their
    /// first request and are released when idle.
    pub loaded: bool,
    pub limits: LimitsView,
    pub stats: StatsView,
}

#[derive(Debug, Serialize)]
pub struct LimitsView {
    pub timeout_ms: u64,
    pub memory_limit_mb: u64,
    pub max_request_body_bytes: u64,
    /// The effective value: the configured one, or the app's fair share of
    /// the instance pool; `None` only if the deployment has no gate for it.
    pub max_concurrency: Option<u32>,
    /// Whether `max_concurrency` is the fair share rather than configured.
    pub max_concurrency_is_fair_share: bool,
    pub max_queued: u32,
    pub queue_timeout_ms: u64,
}

/// An app's counters, with the labelled ones as objects for the page.
#[derive(Debug, Serialize)]
pub struct StatsView {
    pub requests: u64,
    /// `"1xx"` to `"5xx"`.
    pub statuses: BTreeMap<String, u64>,
    /// `trap`, `timeout`, `memory_limit`, `pool_full`.
    pub faults: BTreeMap<&'static str, u64>,
    /// `queue_full`, `queue_timeout`.
    pub rejections: BTreeMap<&'static str, u64>,
    pub in_flight: i64,
    pub queued: i64,
    pub duration: histogram::Snapshot,
    pub instantiation: histogram::Snapshot,
}

impl From<AppStats> for StatsView {
    fn from(stats: AppStats) -> Self {
        StatsView {
            requests: stats.requests,
            statuses: stats.statuses.into_iter().collect(),
            faults: stats.faults.into_iter().collect(),
            rejections: stats.rejections.into_iter().collect(),
            in_flight: stats.in_flight,
            queued: stats.queued,
            duration: stats.duration,
            instantiation: stats.instantiation,
        }
    }
}

/// The apps new requests go to, now.
pub fn overview(service: &Service, health: &Health) -> Overview {
    let metrics = metrics::global();
    let deployment = service.current();
    let apps = deployment
        .apps()
        .iter()
        .enumerate()
        .map(|(index, app)| {
            let max_concurrency = deployment.gate(index).map(|gate| gate.max_concurrency());
            app_view(app, max_concurrency)
        })
        .collect();
    Overview {
        process: Process {
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: health.uptime().as_secs_f64(),
            ready: health.is_ready(),
            draining: health.is_draining(),
            pool_slots_in_use: metrics.pool_slots_in_use(),
            connections_open: metrics.connections_open(),
        },
        histogram_bounds_seconds: histogram::bounds_seconds(),
        apps,
    }
}

fn app_view(app: &App, max_concurrency: Option<u32>) -> AppView {
    let config = &app.config;
    let limits = &config.limits;
    let admission = &limits.admission;
    AppView {
        name: config.name.clone(),
        route: config.route.to_string(),
        methods: match &config.methods {
            Methods::Any => vec!["*".to_owned()],
            Methods::List(list) => list.iter().map(ToString::to_string).collect(),
        },
        kind: app.abi().name(),
        source: shown_source(&config.source),
        digest: app
            .module_digest()
            .map(|digest| format!("sha256:{}", hex::encode(digest))),
        loaded: app.is_loaded(),
        limits: LimitsView {
            timeout_ms: millis(limits.timeout),
            memory_limit_mb: limits.memory_limit_bytes / BYTES_PER_MB,
            max_request_body_bytes: limits.max_request_body_bytes,
            max_concurrency: admission.max_concurrency.or(max_concurrency),
            max_concurrency_is_fair_share: admission.max_concurrency.is_none(),
            max_queued: admission.max_queued,
            queue_timeout_ms: millis(admission.queue_timeout),
        },
        stats: metrics::global().app(&config.name).stats().into(),
    }
}

/// The source as configured, without a password an `https://user:pass@`
/// URL may carry: the page is shown on screens.
fn shown_source(source: &SourceUrl) -> String {
    match source {
        SourceUrl::Http(url) if url.password().is_some() => {
            let mut url = url.clone();
            let _ = url.set_password(None);
            url.to_string()
        }
        other => other.to_string(),
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
