//! Compiled modules, shared by content: the [`Compiler`] compiles a module
//! (or reads it from the compile cache) once however many apps run it and
//! however many of their first requests ask at once, and keeps it only
//! while some app holds it. [`Binding`] makes a compiled module one app's
//! [`Guest`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use crate::abi::classic::{ClassicAbi, ClassicModule};
use crate::abi::wagi::{COMMAND_ENTRY, WagiAbi, WagiModule};
use crate::abi::wasi_http::{WasiHttpAbi, WasiHttpGuest};
use crate::abi::{AbiKind, Guest};
use crate::config::{AppConfig, DEFAULT_FUNCTION};
use crate::engine::WasmEngine;

/// A module's content (SHA-256) and the ABI it is asked to speak.
pub(super) type CompiledKey = ([u8; 32], Option<AbiKind>);

/// The engine, the host side of every ABI, and the compiled modules that
/// some app still holds.
pub(super) struct Compiler {
    abis: Abis,
    engine: Arc<WasmEngine>,
    modules: Mutex<HashMap<CompiledKey, Entry>>,
    /// First requests compile (or read the cache) at most one per core at
    /// once: a burst of them must not starve the requests being served.
    pub(super) permits: tokio::sync::Semaphore,
}

type Compiling = OnceLock<Result<Arc<Compiled>, Vec<String>>>;

enum Entry {
    /// Being compiled; whoever else wants it waits on the same cell.
    Compiling(Arc<Compiling>),
    /// Compiled, alive as long as an app holds it.
    Live(Weak<Compiled>),
}

impl Compiler {
    pub(super) fn new(engine: WasmEngine) -> anyhow::Result<Compiler> {
        let abis = Abis::new(&engine)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Compiler {
            abis,
            engine: Arc::new(engine),
            modules: Mutex::default(),
            permits: tokio::sync::Semaphore::new(cores),
        })
    }

    pub(super) fn engine(&self) -> &WasmEngine {
        &self.engine
    }

    /// Which ABI `wasm` speaks (`asked`: the config's `abi`), and whether it
    /// is valid WebAssembly: what can be known of a module without
    /// compiling it. A component is validated when it is compiled.
    pub(super) fn check(&self, wasm: &[u8], asked: Option<AbiKind>) -> Result<AbiKind, String> {
        let kind = AbiKind::detect(wasm, asked)?;
        if kind != AbiKind::WasiHttp {
            wasmtime::Module::validate(self.engine.engine(), wasm)
                .map_err(|e| format!("invalid module: {e:#}"))?;
        }
        Ok(kind)
    }

    /// The compiled module of `key`: one an app already holds, or compiled
    /// now from `wasm` (the compile cache's copy when it has one). Callers
    /// asking for the same key at once share one compilation.
    pub(super) fn get(&self, key: CompiledKey, wasm: &[u8]) -> Result<Arc<Compiled>, Vec<String>> {
        let cell = {
            let mut modules = self.lock();
            let live = match modules.get(&key) {
                Some(Entry::Live(weak)) => weak.upgrade(),
                Some(Entry::Compiling(cell)) => {
                    let cell = cell.clone();
                    drop(modules);
                    return cell.wait().clone();
                }
                None => None,
            };
            if let Some(compiled) = live {
                return Ok(compiled);
            }
            let cell = Arc::new(Compiling::new());
            modules.insert(key, Entry::Compiling(cell.clone()));
            cell
        };
        let compiled = compile(&self.abis, &self.engine, wasm, key.1).map(Arc::new);
        let _ = cell.set(compiled.clone());
        let mut modules = self.lock();
        match &compiled {
            Ok(module) => modules.insert(key, Entry::Live(Arc::downgrade(module))),
            // A failure is the apps' to keep: the next app to ask tries again.
            Err(_) => modules.remove(&key),
        };
        compiled
    }

    /// How many distinct compiled modules apps hold.
    pub(super) fn live_modules(&self) -> usize {
        self.lock()
            .values()
            .filter(|entry| match entry {
                Entry::Live(weak) => weak.strong_count() > 0,
                Entry::Compiling(_) => false,
            })
            .count()
    }

    /// Forgets the modules no app holds any more.
    pub(super) fn forget_released(&self) {
        self.lock().retain(|_, entry| match entry {
            Entry::Live(weak) => weak.strong_count() > 0,
            Entry::Compiling(_) => true,
        });
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CompiledKey, Entry>> {
        // Every update leaves the map whole; a panic elsewhere cannot corrupt it.
        self.modules.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The host side of every ABI, each with its linker.
struct Abis {
    classic: ClassicAbi,
    wasi_http: WasiHttpAbi,
    wagi: WagiAbi,
}

impl Abis {
    fn new(engine: &WasmEngine) -> anyhow::Result<Abis> {
        let engine = engine.engine();
        Ok(Abis {
            classic: ClassicAbi::new(engine)?,
            wasi_http: WasiHttpAbi::new(engine)?,
            wagi: WagiAbi::new(engine)?,
        })
    }
}

/// A compiled, linked binary, before it is bound to an app's entry point.
pub(super) enum Compiled {
    Classic(Arc<ClassicModule>),
    WasiHttp(WasiHttpGuest),
    Wagi(Arc<WagiModule>),
}

/// What an app asks of its module beyond its content: the entry point, the
/// memory limit checked against the module's, how instances are reused.
#[derive(Debug, Clone)]
pub(super) struct Binding {
    function: String,
    memory_limit_bytes: u64,
    reuse: u32,
    concurrent_reuse: u32,
}

impl Binding {
    pub(super) fn of(config: &AppConfig) -> Binding {
        Binding {
            function: config.function.clone(),
            memory_limit_bytes: config.limits.memory_limit_bytes,
            reuse: config.reuse,
            concurrent_reuse: config.concurrent_reuse,
        }
    }
}

impl Compiled {
    pub(super) fn bind(&self, binding: &Binding) -> Result<Guest, String> {
        match self {
            Compiled::Classic(module) => module
                .guest(&binding.function, binding.memory_limit_bytes)
                .map(Guest::Classic),
            Compiled::WasiHttp(guest) => guest
                .reusing(binding.reuse, binding.concurrent_reuse)
                .map(Guest::WasiHttp),
            Compiled::Wagi(module) => {
                let entry = match binding.function.as_str() {
                    DEFAULT_FUNCTION => COMMAND_ENTRY,
                    named => named,
                };
                module.guest(entry).map(Guest::Wagi)
            }
        }
    }
}

fn compile(
    abis: &Abis,
    engine: &WasmEngine,
    wasm: &[u8],
    abi: Option<AbiKind>,
) -> Result<Compiled, Vec<String>> {
    let kind = AbiKind::detect(wasm, abi).map_err(|e| vec![e])?;
    Ok(match kind {
        AbiKind::Classic => Compiled::Classic(Arc::new(abis.classic.load(engine, wasm)?)),
        AbiKind::WasiHttp => Compiled::WasiHttp(abis.wasi_http.load(engine, wasm)?),
        AbiKind::Wagi => Compiled::Wagi(Arc::new(abis.wagi.load(engine, wasm)?)),
        AbiKind::Static => return Err(vec!["a static response has no module".into()]),
    })
}
