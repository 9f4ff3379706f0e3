//! Loaded apps: each app's compiled guest, limits and environment, and the
//! one place a request's deadline is enforced ([`App::handle`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::abi::classic::{ClassicAbi, ClassicGuest, ClassicModule};
use crate::abi::{GuestError, GuestRequest, GuestResponse};
use crate::config::{AppConfig, Limits};
use crate::engine::WasmEngine;
use crate::outbound::AllowedHosts;

/// What a running guest may know about its app.
#[derive(Debug, Default)]
pub struct AppContext {
    pub name: String,
    pub env: HashMap<String, String>,
    pub limits: Limits,
    pub allowed_outbound_hosts: AllowedHosts,
}

/// One configured app, ready to serve.
pub struct App {
    pub context: Arc<AppContext>,
    pub config: AppConfig,
    guest: ClassicGuest,
}

impl App {
    /// Runs one request on a fresh instance, within the app's deadline.
    pub async fn handle(&self, request: GuestRequest) -> Result<GuestResponse, GuestError> {
        let timeout = self.context.limits.timeout;
        let run = self.guest.run(self.context.clone(), request);
        // Dropping the guest's future on timeout unwinds it: an epoch tick
        // makes any guest loop yield, so the drop happens within one tick.
        tokio::time::timeout(timeout, run)
            .await
            .unwrap_or(Err(GuestError::Timeout(timeout)))
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
    pub fn load(configs: &[AppConfig], source: Option<&Path>) -> Result<Apps, Vec<String>> {
        let engine = WasmEngine::new().map_err(|e| vec![format!("{e:#}")])?;
        let abi = ClassicAbi::new(engine.engine()).map_err(|e| vec![format!("{e:#}")])?;
        let modules = compile_all(&abi, &engine, configs);

        let mut apps = Vec::with_capacity(configs.len());
        let mut problems = Vec::new();
        for config in configs {
            let bound = match &modules[&config.module_path] {
                Ok(module) => module
                    .guest(&config.function, config.limits.memory_limit_bytes)
                    .map_err(|e| vec![e]),
                Err(errors) => Err(errors.clone()),
            };
            match bound {
                Ok(guest) => apps.push(App::new(config.clone(), guest)),
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

impl App {
    fn new(config: AppConfig, guest: ClassicGuest) -> App {
        let context = AppContext {
            name: config.name.clone(),
            env: config.env.iter().cloned().collect(),
            limits: config.limits,
            allowed_outbound_hosts: config.allowed_outbound_hosts.clone(),
        };
        App {
            context: Arc::new(context),
            config,
            guest,
        }
    }
}

type Compiled = Result<Arc<ClassicModule>, Vec<String>>;

/// Compiles each distinct module path once, on as many threads as there are
/// cores (wasmtime also parallelises within a module).
fn compile_all(
    abi: &ClassicAbi,
    engine: &WasmEngine,
    configs: &[AppConfig],
) -> HashMap<PathBuf, Compiled> {
    let mut paths: Vec<&PathBuf> = configs.iter().map(|c| &c.module_path).collect();
    paths.sort();
    paths.dedup();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(HashMap::new());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(path) = paths.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let compiled = compile(abi, engine, path);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert((*path).clone(), compiled);
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn compile(abi: &ClassicAbi, engine: &WasmEngine, path: &Path) -> Compiled {
    let bytes =
        std::fs::read(path).map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
    let module = abi.load(engine.engine(), &bytes)?;
    Ok(Arc::new(module))
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
