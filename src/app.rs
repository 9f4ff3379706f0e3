//! Loaded apps: each app's guest (of whichever ABI its binary speaks), limits
//! and environment, and the one place a request's deadline and body limit
//! are enforced ([`App::handle`]).

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::header::CONTENT_LENGTH;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Limited};

use crate::abi::classic::{ClassicAbi, ClassicModule};
use crate::abi::wagi::{COMMAND_ENTRY, WagiAbi, WagiModule};
use crate::abi::wasi_http::{WasiHttpAbi, WasiHttpGuest};
use crate::abi::{AbiKind, Guest, GuestError, RequestBody, ResponseBody};
use crate::compile_cache::CompileCache;
use crate::config::{AppConfig, DEFAULT_FUNCTION};
use crate::context::AppContext;
use crate::engine::WasmEngine;
use crate::kv::Stores;

/// One configured app, ready to serve.
pub struct App {
    pub context: Arc<AppContext>,
    pub config: AppConfig,
    guest: Guest,
}

impl App {
    /// Runs one request on a fresh instance, within the app's deadline and
    /// body limit.
    pub async fn handle(
        &self,
        request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, GuestError> {
        let limits = self.context.limits;
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limits.max_request_body_bytes) {
            return Err(GuestError::BodyTooLarge(limits.max_request_body_bytes));
        }
        let limit = usize::try_from(limits.max_request_body_bytes).unwrap_or(usize::MAX);
        let request = request.map(|body| Limited::new(body, limit).boxed_unsync());
        // Dropping the guest's future on timeout unwinds it: an epoch tick
        // makes any guest loop yield, so the drop happens within one tick.
        tokio::time::timeout(limits.timeout, self.guest.handle(&self.context, request))
            .await
            .unwrap_or(Err(GuestError::Timeout(limits.timeout)))
    }

    /// The ABI this app's guest speaks.
    pub fn abi(&self) -> AbiKind {
        self.guest.kind()
    }

    fn new(config: AppConfig, guest: Guest, stores: &Stores) -> App {
        let context = AppContext {
            stores: stores.for_app(&config.name, &config.key_value_stores, config.max_keys),
            name: config.name.clone(),
            env: config.env.clone(),
            limits: config.limits,
            allowed_outbound_hosts: config.allowed_outbound_hosts.clone(),
            route: config.route.clone(),
            files: config.files.clone(),
        };
        App {
            context: Arc::new(context),
            config,
            guest,
        }
    }
}

/// All apps of a config, sharing one engine. Index `i` is `config.apps[i]`.
pub struct Apps {
    apps: Vec<App>,
    // Last: the engine must outlive the apps' modules.
    _engine: WasmEngine,
}

impl Apps {
    /// Compiles every distinct module once (in parallel) and binds each app
    /// to its entry point. Returns every problem found, each prefixed with
    /// `source:line: app `name`:` when `source` is given.
    pub fn load(
        configs: &[AppConfig],
        source: Option<&Path>,
        cache: CompileCache,
        stores: &Stores,
    ) -> Result<Apps, Vec<String>> {
        let engine = WasmEngine::new(cache).map_err(|e| vec![format!("{e:#}")])?;
        let abis = Abis::new(&engine).map_err(|e| vec![format!("{e:#}")])?;
        let started = Instant::now();
        let modules = compile_all(&abis, &engine, configs);
        let (cached, compiled) = engine.cache_counts();
        tracing::info!(
            "loaded {} modules in {:.2} s ({cached} from the compile cache, {compiled} compiled)",
            modules.len(),
            started.elapsed().as_secs_f64()
        );

        let mut apps = Vec::with_capacity(configs.len());
        let mut problems = Vec::new();
        for config in configs {
            let bound = match &modules[&module_key(config)] {
                Ok(module) => module.bind(config).map_err(|e| vec![e]),
                Err(errors) => Err(errors.clone()),
            };
            match bound {
                Ok(guest) => apps.push(App::new(config.clone(), guest, stores)),
                Err(errors) => problems.extend(errors.iter().map(|e| located(source, config, e))),
            }
        }
        if problems.is_empty() {
            Ok(Apps {
                apps,
                _engine: engine,
            })
        } else {
            Err(problems)
        }
    }

    pub fn get(&self, index: usize) -> Option<&App> {
        self.apps.get(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = &App> {
        self.apps.iter()
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

/// A compiled binary, before it is bound to an app's entry point.
enum Compiled {
    Classic(Arc<ClassicModule>),
    WasiHttp(WasiHttpGuest),
    Wagi(Arc<WagiModule>),
}

impl Compiled {
    fn bind(&self, config: &AppConfig) -> Result<Guest, String> {
        let guest = match self {
            Compiled::Classic(module) => module
                .guest(&config.function, config.limits.memory_limit_bytes)
                .map(Guest::Classic),
            Compiled::WasiHttp(guest) => Ok(Guest::WasiHttp(guest.reusing(config.reuse))),
            Compiled::Wagi(module) => {
                let entry = match config.function.as_str() {
                    DEFAULT_FUNCTION => COMMAND_ENTRY,
                    named => named,
                };
                module.guest(entry).map(Guest::Wagi)
            }
        }?;
        if config.reuse > 1 && guest.kind() != AbiKind::WasiHttp {
            return Err(format!(
                "`reuse = {}` applies only to wasi:http components; this module is served with the {} ABI",
                config.reuse,
                guest.kind().name()
            ));
        }
        Ok(guest)
    }
}

type ModuleKey = (PathBuf, Option<AbiKind>);

fn module_key(config: &AppConfig) -> ModuleKey {
    (config.module_path.clone(), config.abi)
}

/// Compiles each distinct module once, on as many threads as there are
/// cores (wasmtime also parallelises within a module).
fn compile_all(
    abis: &Abis,
    engine: &WasmEngine,
    configs: &[AppConfig],
) -> HashMap<ModuleKey, Result<Compiled, Vec<String>>> {
    let mut keys: Vec<ModuleKey> = configs.iter().map(module_key).collect();
    keys.sort();
    keys.dedup();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(HashMap::new());
    let progress = Progress::new(keys.len());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(keys.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(key) = keys.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let compiled = compile(abis, engine, &key.0, key.1);
                    let mut results = results.lock().unwrap_or_else(|e| e.into_inner());
                    results.insert(key.clone(), compiled);
                    progress.show(results.len());
                }
            });
        }
    });
    progress.finish();
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// A `loading modules: 12/100` line, redrawn in place while modules load,
/// shown only when stderr is a terminal and there is more than one module.
struct Progress {
    total: usize,
    visible: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        let visible = total > 1 && std::io::stderr().is_terminal();
        Self { total, visible }
    }

    fn show(&self, done: usize) {
        if self.visible {
            eprint!("\rloading modules: {done}/{}", self.total);
        }
    }

    fn finish(&self) {
        if self.visible {
            // Clears the line for the log lines that follow.
            eprint!("\r\x1b[2K");
        }
    }
}

fn compile(
    abis: &Abis,
    engine: &WasmEngine,
    path: &Path,
    abi: Option<AbiKind>,
) -> Result<Compiled, Vec<String>> {
    let bytes =
        std::fs::read(path).map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
    let wasm = wat::parse_bytes(&bytes).map_err(|e| vec![format!("{e}")])?;
    let kind = AbiKind::detect(&wasm, abi).map_err(|e| vec![e])?;
    Ok(match kind {
        AbiKind::Classic => Compiled::Classic(Arc::new(abis.classic.load(engine, &wasm)?)),
        AbiKind::WasiHttp => Compiled::WasiHttp(abis.wasi_http.load(engine, &wasm)?),
        AbiKind::Wagi => Compiled::Wagi(Arc::new(abis.wagi.load(engine, &wasm)?)),
    })
}

fn located(source: Option<&Path>, config: &AppConfig, message: &str) -> String {
    match source {
        Some(file) => format!(
            "{}:{}: app `{}`: {message}",
            file.display(),
            config.line,
            config.name
        ),
        None => format!("{}: {message}", config.module_path.display()),
    }
}
