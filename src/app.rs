//! Loaded apps: each app's guest (of whichever ABI its binary speaks), limits
//! and environment, and the one place a request's deadline and body limit
//! are enforced ([`App::handle`]).

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::header::CONTENT_LENGTH;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Limited};

use crate::abi::classic::{ClassicAbi, ClassicModule};
use crate::abi::static_response::StaticGuest;
use crate::abi::wagi::{COMMAND_ENTRY, WagiAbi, WagiModule};
use crate::abi::wasi_http::{WasiHttpAbi, WasiHttpGuest};
use crate::abi::{AbiKind, Guest, GuestError, RequestBody, ResponseBody};
use crate::compile_cache::CompileCache;
use crate::config::{AppConfig, DEFAULT_FUNCTION};
use crate::context::AppContext;
use crate::engine::{DEFAULT_MAX_INSTANCES, WasmEngine};
use crate::fetch::{self, Modules, module_key};
use crate::kv::Stores;
use crate::router::Route;
use crate::spin;

/// One configured app, ready to serve.
pub struct App {
    pub context: Arc<AppContext>,
    pub config: AppConfig,
    /// The content of its module, and the ABI it was asked to speak; `None`
    /// for a static response.
    module: Option<CompiledKey>,
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
        let mut request = request.map(|body| Limited::new(body, limit).boxed_unsync());
        if let Route::Spin(route) = &self.config.route {
            spin::headers::prepare(route, &mut request);
        }
        // Dropping the guest's future on timeout unwinds it: an epoch tick
        // makes any guest loop yield, so the drop happens within one tick.
        tokio::time::timeout(limits.timeout, self.guest.handle(&self.context, request))
            .await
            .unwrap_or(Err(GuestError::Timeout(limits.timeout)))
    }

    /// The SHA-256 of the module it runs, as fetched; `None` when it runs none.
    pub fn module_digest(&self) -> Option<[u8; 32]> {
        self.module.map(|(digest, _)| digest)
    }

    /// The ABI this app's guest speaks.
    pub fn abi(&self) -> AbiKind {
        self.guest.kind()
    }

    fn new(config: AppConfig, module: Option<CompiledKey>, guest: Guest, stores: &Stores) -> App {
        let context = AppContext {
            stores: stores.for_app(
                &config.name,
                &config.key_value_stores,
                config.max_keys,
                &config.store_scope,
            ),
            name: config.name.clone(),
            env: config.env.clone(),
            variables: config.variables.0.clone(),
            argv: config.argv.clone(),
            limits: config.limits,
            allowed_outbound_hosts: config.allowed_outbound_hosts.clone(),
            route: config.route.clone(),
            files: config.files.clone(),
            metrics: crate::metrics::global().app(&config.name),
        };
        App {
            context: Arc::new(context),
            config,
            module,
            guest,
        }
    }
}

/// All apps of a config, sharing one engine. Index `i` is `config.apps[i]`.
pub struct Apps {
    apps: Vec<Arc<App>>,
    /// Each distinct module, by content, for a reload to keep.
    compiled: HashMap<CompiledKey, Compiled>,
    // Last: the engine must outlive the apps' modules.
    engine: Arc<WasmEngine>,
}

impl Apps {
    /// Compiles and binds every app of `configs`; see [`Loader::load`].
    pub fn load(
        configs: &[AppConfig],
        source: Option<&Path>,
        cache: CompileCache,
        stores: &Stores,
    ) -> Result<Apps, Vec<String>> {
        let modules = fetch::read_local(configs);
        Loader::new(cache, DEFAULT_MAX_INSTANCES)?.load(configs, &modules, source, stores, None)
    }

    pub fn get(&self, index: usize) -> Option<&Arc<App>> {
        self.apps.get(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<App>> {
        self.apps.iter()
    }

    pub fn len(&self) -> usize {
        self.apps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// The size of the instance pool the apps share.
    pub fn max_instances(&self) -> u32 {
        self.engine.max_instances()
    }
}

/// Loads apps on one engine, kept for the server's life: a reload loads the
/// new config on the same engine, so what did not change carries over.
pub struct Loader {
    abis: Abis,
    engine: Arc<WasmEngine>,
}

impl Loader {
    /// A loader whose engine has a pool of `max_instances` instances.
    pub fn new(cache: CompileCache, max_instances: u32) -> Result<Loader, Vec<String>> {
        let engine = WasmEngine::new(cache, max_instances).map_err(|e| vec![format!("{e:#}")])?;
        let abis = Abis::new(&engine).map_err(|e| vec![format!("{e:#}")])?;
        Ok(Loader {
            abis,
            engine: Arc::new(engine),
        })
    }

    /// Compiles every distinct module once (in parallel) and binds each app
    /// to its entry point. From `previous`, a module of the same content is
    /// not compiled again, and an app whose config and module are the same
    /// is kept as it is (its idle instances and store handles with it).
    /// Returns every problem found, each prefixed with
    /// `source:line: app `name`:` when `source` is given.
    pub fn load(
        &self,
        configs: &[AppConfig],
        modules: &Modules,
        source: Option<&Path>,
        stores: &Stores,
        previous: Option<&Apps>,
    ) -> Result<Apps, Vec<String>> {
        let started = Instant::now();
        let (cached_before, compiled_before) = self.engine.cache_counts();
        let mut wanted: Vec<CompiledKey> = Vec::new();
        for config in configs {
            if let Some(Ok(module)) = module_key(config).and_then(|key| modules.get(&key)) {
                wanted.push((*module.digest.as_bytes(), config.abi));
            }
        }
        wanted.sort();
        wanted.dedup();
        let kept = previous.map(|apps| &apps.compiled);
        let compiled = compile_all(&self.abis, &self.engine, modules, &wanted, kept);
        let (cached, compiled_now) = self.engine.cache_counts();
        let reused = wanted
            .iter()
            .filter(|key| kept.is_some_and(|kept| kept.contains_key(key)))
            .count();
        let reused = match reused {
            0 => String::new(),
            n => format!(", {n} kept from before the reload"),
        };
        tracing::info!(
            "loaded {} modules in {:.2} s ({} from the compile cache, {} compiled{reused})",
            wanted.len(),
            started.elapsed().as_secs_f64(),
            cached - cached_before,
            compiled_now - compiled_before,
        );

        let mut apps = Vec::with_capacity(configs.len());
        let mut problems = Vec::new();
        for config in configs {
            let Some(module_key) = module_key(config) else {
                match static_app(config, previous, stores) {
                    Ok(app) => apps.push(app),
                    Err(error) => problems.push(located(source, config, &error)),
                }
                continue;
            };
            let module = match modules.get(&module_key) {
                Some(Ok(module)) => module,
                Some(Err(error)) => {
                    problems.push(located(source, config, error));
                    continue;
                }
                None => {
                    problems.push(located(source, config, "its module was not fetched"));
                    continue;
                }
            };
            let key = (*module.digest.as_bytes(), config.abi);
            let unchanged = previous.and_then(|apps| {
                apps.iter()
                    .find(|app| app.module == Some(key) && same_config(&app.config, config))
            });
            if let Some(app) = unchanged {
                apps.push(app.clone());
                continue;
            }
            let bound = match &compiled[&key] {
                Ok(module) => module.bind(config).map_err(|e| vec![e]),
                Err(errors) => Err(errors.clone()),
            };
            match bound {
                Ok(guest) => {
                    apps.push(Arc::new(App::new(config.clone(), Some(key), guest, stores)))
                }
                Err(errors) => problems.extend(errors.iter().map(|e| located(source, config, e))),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let compiled = compiled
            .into_iter()
            .filter_map(|(key, module)| Some((key, module.ok()?)))
            .collect();
        Ok(Apps {
            apps,
            compiled,
            engine: self.engine.clone(),
        })
    }
}

/// An app answering with its config's static response: the one of
/// `previous` if the same, else a new one.
fn static_app(
    config: &AppConfig,
    previous: Option<&Apps>,
    stores: &Stores,
) -> Result<Arc<App>, String> {
    let unchanged = previous.and_then(|apps| {
        apps.iter()
            .find(|app| app.module.is_none() && same_config(&app.config, config))
    });
    if let Some(app) = unchanged {
        return Ok(app.clone());
    }
    let response = config
        .static_response
        .as_ref()
        .ok_or("no static response")?;
    let guest = Guest::Static(StaticGuest::new(response)?);
    Ok(Arc::new(App::new(config.clone(), None, guest, stores)))
}

/// Whether two configs of an app ask for the same thing (where in the file
/// it is written does not count).
fn same_config(old: &AppConfig, new: &AppConfig) -> bool {
    old == &AppConfig {
        line: old.line,
        ..new.clone()
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
#[derive(Clone)]
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

/// A module's content (SHA-256) and the ABI it is asked to speak.
type CompiledKey = ([u8; 32], Option<AbiKind>);

/// Compiles each of `wanted` once, on as many threads as there are cores
/// (wasmtime also parallelises within a module), except those in `kept`.
fn compile_all(
    abis: &Abis,
    engine: &WasmEngine,
    modules: &Modules,
    wanted: &[CompiledKey],
    kept: Option<&HashMap<CompiledKey, Compiled>>,
) -> HashMap<CompiledKey, Result<Compiled, Vec<String>>> {
    let mut results = HashMap::new();
    let mut todo: Vec<(CompiledKey, &[u8])> = Vec::new();
    for key in wanted {
        if let Some(module) = kept.and_then(|kept| kept.get(key)) {
            results.insert(*key, Ok(module.clone()));
            continue;
        }
        let bytes = modules
            .values()
            .flatten()
            .find(|m| *m.digest.as_bytes() == key.0);
        if let Some(bytes) = bytes {
            todo.push((*key, &bytes.wasm));
        }
    }
    let (next, finished) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let results = Mutex::new(results);
    let progress = Progress::new(todo.len());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(todo.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some((key, wasm)) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let compiled = compile(abis, engine, wasm, key.1);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(*key, compiled);
                    progress.show(finished.fetch_add(1, Ordering::Relaxed) + 1);
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

fn located(source: Option<&Path>, config: &AppConfig, message: &str) -> String {
    match source {
        Some(file) => format!(
            "{}:{}: app `{}`: {message}",
            file.display(),
            config.line,
            config.name
        ),
        None => format!("{}: {message}", config.source),
    }
}
