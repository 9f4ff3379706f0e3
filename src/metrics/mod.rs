//! What the server counts, and `/metrics` in the Prometheus text format
//! (through `prometheus-client`). One process-wide [`Metrics`]: requests,
//! connections and the key-value stores are counted where they happen,
//! without handles threaded through every layer.
//!
//! Per-app series live in [`AppMetrics`] (atomics, kept by app name across
//! reloads), which the dashboard reads as well; a scrape turns them into
//! text. Recording a request costs a few relaxed atomic adds and one lookup
//! in the `requests_total` family (see `benches/observe.rs`).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use http::Method;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

mod app;
pub mod histogram;
mod process;

pub use app::{AppMetrics, AppStats, Fault, Occupying, Rejection};

/// The `Content-Type` of `/metrics`.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    app: Arc<String>,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KvLabels {
    store: String,
    operation: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

pub struct Metrics {
    registry: Registry,
    apps: Arc<RwLock<HashMap<String, Arc<AppMetrics>>>>,
    requests: Family<RequestLabels, Counter>,
    kv: Family<KvLabels, Counter>,
    reloads: Family<ResultLabel, Counter>,
    compiles: Family<ResultLabel, Counter>,
    connections: Gauge,
    pool_slots: Gauge,
}

impl Metrics {
    fn new() -> Metrics {
        let mut root = Registry::default();
        // The process gauges keep the names every Prometheus client gives them.
        root.register_collector(Box::new(process::Process));
        let registry = root.sub_registry_with_prefix("serverless_wasm");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by app, method (GET, POST, ... or OTHER) and status",
            requests.clone(),
        );
        let kv = Family::<KvLabels, Counter>::default();
        registry.register(
            "kv_operations",
            "Key-value store operations, by store, operation and result (ok or error)",
            kv.clone(),
        );
        let reloads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reloads",
            "Reloads of the config, by result (ok or failed)",
            reloads.clone(),
        );
        let compiles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "compile_cache_lookups",
            "Modules and components loaded, by result: hit (from the compile cache) or miss (compiled)",
            compiles.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "connections_open",
            "Client connections open on the public listener",
            connections.clone(),
        );
        let pool_slots = Gauge::default();
        registry.register(
            "instance_pool_slots_in_use",
            "Guest instances alive, each holding a slot of the instance pool",
            pool_slots.clone(),
        );
        let apps = Arc::new(RwLock::new(HashMap::new()));
        registry.register_collector(Box::new(PerApp(apps.clone())));
        Metrics {
            registry: root,
            apps,
            requests,
            kv,
            reloads,
            compiles,
            connections,
            pool_slots,
        }
    }

    /// The counters of the app called `name`, the same ones across reloads.
    pub fn app(&self, name: &str) -> Arc<AppMetrics> {
        if let Some(metrics) = self.read_apps().get(name) {
            return metrics.clone();
        }
        let mut apps = self.apps.write().unwrap_or_else(|e| e.into_inner());
        apps.entry(name.to_owned())
            .or_insert_with(|| Arc::new(AppMetrics::new(name)))
            .clone()
    }

    /// Forgets the apps not in `names`, so that a removed app's series end.
    pub fn retain_apps<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let keep: std::collections::HashSet<&str> = names.into_iter().collect();
        let mut apps = self.apps.write().unwrap_or_else(|e| e.into_inner());
        apps.retain(|name, _| keep.contains(name.as_str()));
    }

    fn read_apps(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<AppMetrics>>> {
        self.apps.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one answered request of `app`.
    pub fn request(&self, app: &AppMetrics, method: &Method, status: u16) {
        let labels = RequestLabels {
            app: app.name().clone(),
            method: method_class(method),
            status,
        };
        self.requests.get_or_create(&labels).inc();
    }

    pub fn kv_operation(&self, store: &str, operation: &'static str, ok: bool) {
        let labels = KvLabels {
            store: store.to_owned(),
            operation,
            result: if ok { "ok" } else { "error" },
        };
        self.kv.get_or_create(&labels).inc();
    }

    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&ResultLabel { result }).inc();
    }

    /// A module or component was loaded, from the compile cache or not.
    pub fn compiled(&self, cached: bool) {
        let result = if cached { "hit" } else { "miss" };
        self.compiles.get_or_create(&ResultLabel { result }).inc();
    }

    /// Counts a client connection as open until the guard is dropped.
    pub fn connection(&self) -> GaugeHold {
        GaugeHold::new(self.connections.clone())
    }

    /// Counts an instance as holding a pool slot until the guard is dropped.
    pub fn pool_slot(&self) -> GaugeHold {
        GaugeHold::new(self.pool_slots.clone())
    }

    pub fn pool_slots_in_use(&self) -> i64 {
        self.pool_slots.get()
    }

    pub fn connections_open(&self) -> i64 {
        self.connections.get()
    }

    /// Every metric, in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// `GET`, `POST` and the other standard methods by name; anything else as
/// `OTHER`, so that a client cannot make series without end.
fn method_class(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Holds one unit of a gauge while it lives.
#[derive(Debug)]
pub struct GaugeHold(Gauge);

impl GaugeHold {
    fn new(gauge: Gauge) -> Self {
        gauge.inc();
        GaugeHold(gauge)
    }
}

impl Drop for GaugeHold {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Reads one of an app's histograms.
type HistogramOf = fn(&AppMetrics) -> histogram::Snapshot;
/// Reads one of an app's gauges.
type GaugeOf = fn(&AppMetrics) -> i64;

/// Turns every app's [`AppMetrics`] into series at scrape time.
#[derive(Debug)]
struct PerApp(Arc<RwLock<HashMap<String, Arc<AppMetrics>>>>);

impl Collector for PerApp {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let apps: Vec<(String, Arc<AppMetrics>)> = {
            let apps = self.0.read().unwrap_or_else(|e| e.into_inner());
            let mut apps: Vec<_> = apps.iter().map(|(n, m)| (n.clone(), m.clone())).collect();
            apps.sort_by(|a, b| a.0.cmp(&b.0));
            apps
        };
        let histograms: [(&str, &str, HistogramOf); 2] = [
            (
                "request_duration_seconds",
                "Time from a request's arrival to its response head, by app",
                AppMetrics::duration,
            ),
            (
                "instantiation_duration_seconds",
                "Time to make a guest instance for a request, by app",
                AppMetrics::instantiation,
            ),
        ];
        for (name, help, snapshot) in histograms {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for (app, metrics) in &apps {
                let snapshot = snapshot(metrics);
                let labels = [("app", app.as_str())];
                family
                    .encode_family(&labels)?
                    .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                        snapshot.sum_seconds,
                        snapshot.count,
                        &snapshot.per_bucket(),
                        None,
                    )?;
            }
        }
        let mut faults = encoder.encode_descriptor(
            "guest_faults",
            "Guest failures by app and kind: trap, timeout, memory_limit (a refused memory grow), pool_full",
            None,
            MetricType::Counter,
        )?;
        for (app, metrics) in &apps {
            for (fault, count) in metrics.faults() {
                let labels = [("app", app.as_str()), ("kind", fault.label())];
                ConstCounter::new(count).encode(faults.encode_family(&labels)?)?;
            }
        }
        let mut rejections = encoder.encode_descriptor(
            "admission_rejections",
            "Requests answered 503 by admission control, by app and reason: queue_full or queue_timeout",
            None,
            MetricType::Counter,
        )?;
        for (app, metrics) in &apps {
            for (rejection, count) in metrics.rejections() {
                let labels = [("app", app.as_str()), ("reason", rejection.label())];
                ConstCounter::new(count).encode(rejections.encode_family(&labels)?)?;
            }
        }
        let gauges: [(&str, &str, GaugeOf); 2] = [
            (
                "requests_in_flight",
                "Requests running in a guest, by app",
                AppMetrics::in_flight,
            ),
            (
                "requests_queued",
                "Requests waiting for admission, by app",
                AppMetrics::queued,
            ),
        ];
        for (name, help, value) in gauges {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (app, metrics) in &apps {
                let labels = [("app", app.as_str())];
                ConstGauge::new(value(metrics)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
