//! The one wasmtime [`Engine`] all apps share: Cranelift code, the pooling
//! instance allocator, and the epoch ticker that lets deadlines interrupt guests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::Component;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, Module, PoolingAllocationConfig, Store,
    StoreLimits, StoreLimitsBuilder,
};

use crate::compile_cache::{CompileCache, Source};

/// How often the epoch advances. A guest running CPU-bound code yields to the
/// async runtime at each tick, so this bounds how long one guest can hold a
/// runtime thread before a deadline or another request gets a turn.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// How many instances may be alive at once across all apps; beyond it a
/// request is answered 503 rather than queued behind guests of unknown length.
pub const MAX_CONCURRENT_INSTANCES: u32 = 1000;

/// A component instance is made of several core instances (the Rust
/// wasip2 hello has 3 core modules, the componentize-py echo 14), each with its own
/// memories and tables; the pool holds this many per instance so that a
/// component's parts never run out before [`MAX_CONCURRENT_INSTANCES`] does.
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
    ticker: Option<EpochTicker>,
}

impl WasmEngine {
    /// Builds the engine. Per-app memory limits are enforced per store, so
    /// each pool slot can hold any memory a wasm32 module may declare.
    pub fn new(cache: CompileCache) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config())
            .map_err(|e| anyhow::Error::from(e).context("cannot create the WebAssembly engine"))?;
        let ticker = EpochTicker::start(engine.clone()).context("cannot start the epoch thread")?;
        Ok(Self {
            engine,
            cache,
            cached: AtomicUsize::new(0),
            compiled: AtomicUsize::new(0),
            ticker: Some(ticker),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
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
    fn limits(&mut self) -> &mut StoreLimits;
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

/// Limits that cap every memory of an instance at `memory_limit_bytes`.
pub fn memory_limits(memory_limit_bytes: u64) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(usize::try_from(memory_limit_bytes).unwrap_or(usize::MAX))
        .build()
}

/// Bytes of a freed linear memory or table that are reset in place (only
/// the resident pages, found with `PAGEMAP_SCAN` where the kernel has it)
/// instead of being unmapped: unmapping costs a TLB shootdown on every core,
/// the largest cost of a small request when measured. Bounded because a
/// page once reset stays resident and is reset again on every later use of
/// the slot: at 2 MiB a Rust component spent more time in `memset` than the
/// shootdowns had cost; 128 KiB measured best (bench/run.sh, BENCHMARKS.md).
const KEEP_RESIDENT_BYTES: usize = 128 << 10;

fn engine_config() -> Config {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(MAX_CONCURRENT_INSTANCES)
        .total_core_instances(MAX_CONCURRENT_INSTANCES * CORE_INSTANCES_PER_INSTANCE)
        .total_memories(MAX_CONCURRENT_INSTANCES * MEMORIES_PER_INSTANCE)
        .total_tables(MAX_CONCURRENT_INSTANCES * TABLES_PER_INSTANCE)
        .total_stacks(MAX_CONCURRENT_INSTANCES)
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
