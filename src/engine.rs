//! The one wasmtime [`Engine`] all apps share: Cranelift code, the pooling
//! instance allocator, and the epoch ticker that lets deadlines interrupt guests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::Component;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, Module, PoolingAllocationConfig,
    ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder,
};

use crate::compile_cache::{CompileCache, Source};
use crate::context::AppContext;
use crate::metrics::{self, AppMetrics, Fault, GaugeHold};

/// How often the epoch advances. A guest running CPU-bound code yields to the
/// async runtime at each tick, so this bounds how long one guest can hold a
/// runtime thread before a deadline or another request gets a turn.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// How many instances may be alive at once across all apps unless the
/// config's `max_instances` says otherwise. Admission control keeps each
/// app within its share, so a request rarely finds the pool full; when one
/// does, it is answered 503.
pub const DEFAULT_MAX_INSTANCES: u32 = 1000;

/// A component instance is made of several core instances (the Rust
/// wasip2 hello has 3 core modules, the componentize-py echo 14), each with its own
/// memories and tables; the pool holds this many per instance so that a
/// component's parts never run out before the instances do.
/// Slots are address space until used: only the memory a guest touches is
/// ever resident.
const CORE_INSTANCES_PER_INSTANCE: u32 = 16;
const MEMORIES_PER_INSTANCE: u32 = 2;
const TABLES_PER_INSTANCE: u32 = 4;

/// The shared engine, the cache its compiled code goes to, and the thread
/// that drives its epochs.
pub struct WasmEngine {
    engine: Engine,
    cache: CompileCache,
    cached: AtomicUsize,
    compiled: AtomicUsize,
    max_instances: u32,
    ticker: Option<EpochTicker>,
}

impl WasmEngine {
    /// Builds the engine. Per-app memory limits are enforced per store, so
    /// each pool slot can hold any memory a wasm32 module may declare.
    /// Builds the engine with a pool of `max_instances` instances.
    pub fn new(cache: CompileCache, max_instances: u32) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(max_instances))
            .map_err(|e| anyhow::Error::from(e).context("cannot create the WebAssembly engine"))?;
        let ticker = EpochTicker::start(engine.clone()).context("cannot start the epoch thread")?;
        Ok(Self {
            engine,
            cache,
            cached: AtomicUsize::new(0),
            compiled: AtomicUsize::new(0),
            max_instances,
            ticker: Some(ticker),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The size of the instance pool.
    pub fn max_instances(&self) -> u32 {
        self.max_instances
    }

    /// Compiles a core module, or takes it from the compile cache.
    pub fn module(&self, wasm: &[u8]) -> Result<Module, Vec<String>> {
        let loaded = self.cache.module(&self.engine, wasm);
        self.count(loaded)
    }

    /// Compiles a component, or takes it from the compile cache.
    pub fn component(&self, wasm: &[u8]) -> Result<Component, Vec<String>> {
        let loaded = self.cache.component(&self.engine, wasm);
        self.count(loaded)
    }

    /// How many modules and components came from the cache, and how many
    /// were compiled.
    pub fn cache_counts(&self) -> (usize, usize) {
        (
            self.cached.load(Ordering::Relaxed),
            self.compiled.load(Ordering::Relaxed),
        )
    }

    fn count<T>(&self, loaded: anyhow::Result<(T, Source)>) -> Result<T, Vec<String>> {
        let (artifact, source) = loaded.map_err(|e| vec![format!("{e:#}")])?;
        let counter = match source {
            Source::Cached => &self.cached,
            Source::Compiled => &self.compiled,
        };
        metrics::global().compiled(matches!(source, Source::Cached));
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(artifact)
    }
}

impl Drop for WasmEngine {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}

/// Store data that carries its own memory limits.
pub trait LimitedState: Send + 'static {
    fn limits(&mut self) -> &mut GuestLimits;
}

/// A store for one request: memory capped at `memory_limit_bytes`, and
/// guest code yielding to the async runtime at every epoch tick.
pub fn request_store<T: LimitedState>(engine: &Engine, state: T) -> Store<T> {
    let mut store = Store::new(engine, state);
    store.limiter(|state| state.limits());
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
    store
}

/// What one request's store may use: every memory of its instance capped
/// at the app's `memory_limit_mb`, a refused grow counted against the app.
/// It lives exactly as long as the store, so it also counts the store's
/// instance as holding a slot of the pool.
pub struct GuestLimits {
    limits: StoreLimits,
    metrics: Arc<AppMetrics>,
    created: std::time::Instant,
    _slot: GaugeHold,
}

impl GuestLimits {
    pub fn for_app(app: &AppContext) -> GuestLimits {
        let bytes = usize::try_from(app.limits.memory_limit_bytes).unwrap_or(usize::MAX);
        GuestLimits {
            limits: StoreLimitsBuilder::new().memory_size(bytes).build(),
            metrics: app.metrics.clone(),
            created: std::time::Instant::now(),
            _slot: metrics::global().pool_slot(),
        }
    }

    /// Records the time from the store's creation to now as the app's
    /// instantiation time: call it once the instance is made.
    pub fn instantiated(&self) {
        self.metrics.instantiated(self.created.elapsed());
    }
}

impl ResourceLimiter for GuestLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if !allowed {
            self.metrics.fault(Fault::MemoryLimit);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// Bytes of a freed linear memory or table that are reset in place (only
/// the resident pages, found with `PAGEMAP_SCAN` where the kernel has it)
/// instead of being unmapped: unmapping costs a TLB shootdown on every core,
/// the largest cost of a small request when measured. Bounded because a
/// page once reset stays resident and is reset again on every later use of
/// the slot: at 2 MiB a Rust component spent more time in `memset` than the
/// shootdowns had cost; 128 KiB measured best (bench/run.sh, BENCHMARKS.md).
const KEEP_RESIDENT_BYTES: usize = 128 << 10;

fn engine_config(max_instances: u32) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(max_instances)
        .total_core_instances(max_instances.saturating_mul(CORE_INSTANCES_PER_INSTANCE))
        .total_memories(max_instances.saturating_mul(MEMORIES_PER_INSTANCE))
        .total_tables(max_instances.saturating_mul(TABLES_PER_INSTANCE))
        .total_stacks(max_instances)
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES)
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .cranelift_opt_level(wasmtime::OptLevel::Speed)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Increments the engine's epoch every [`EPOCH_TICK`] until stopped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl EpochTicker {
    fn start(engine: Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(Self { stop, thread })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        // The thread only sleeps and increments; joining cannot block for long.
        let _ = self.thread.join();
    }
}
