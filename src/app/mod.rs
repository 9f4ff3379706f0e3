//! Apps: each configured app's guest (of whichever ABI its binary speaks),
//! limits and environment, and the one place a request's deadline and body
//! limit are enforced ([`App::handle`]). The [`Loader`] checks a config's
//! apps without compiling them; an app's guest is made on its first request
//! (or ahead of it: `preload`, `check`, a reload) and released when idle
//! ([`lazy`]), from modules compiled once per content ([`compiled`]).

mod compiled;
mod lazy;
mod loader;

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use http::header::CONTENT_LENGTH;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Limited};

use crate::abi::{AbiKind, Guest, GuestError, RequestBody, ResponseBody};
use crate::compile_cache::CompileCache;
use crate::config::AppConfig;
use crate::context::AppContext;
use crate::engine::DEFAULT_MAX_INSTANCES;
use crate::fetch;
use crate::kv::Stores;
use crate::router::Route;
use crate::spin;
use compiled::Compiler;
use lazy::LazyGuest;
pub use loader::Loader;

/// One configured app, ready to serve.
pub struct App {
    pub context: Arc<AppContext>,
    pub config: AppConfig,
    abi: AbiKind,
    /// The SHA-256 of its module as fetched; `None` for a static response.
    module_digest: Option<[u8; 32]>,
    guest: AppGuest,
}

/// A static response is made once; a module's guest when first needed.
enum AppGuest {
    Static(Guest),
    Module(LazyGuest),
}

impl App {
    /// Runs one request on a fresh instance, within the app's deadline and
    /// body limit. The deadline bounds the guest, not loading it: a first
    /// request waits for the app to load (seconds, for a large module that
    /// is not in the compile cache), as requests waited for the start-up.
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
        let loaded;
        let guest = match &self.guest {
            AppGuest::Static(guest) => guest,
            AppGuest::Module(lazy) => {
                loaded = lazy.get().await;
                match &*loaded {
                    Ok(bound) => &bound.guest,
                    Err(problems) => return Err(GuestError::Unloadable(problems.join("; "))),
                }
            }
        };
        // Dropping the guest's future on timeout unwinds it: an epoch tick
        // makes any guest loop yield, so the drop happens within one tick.
        tokio::time::timeout(limits.timeout, guest.handle(&self.context, request))
            .await
            .unwrap_or(Err(GuestError::Timeout(limits.timeout)))
    }

    /// The SHA-256 of the module it runs, as fetched; `None` when it runs none.
    pub fn module_digest(&self) -> Option<[u8; 32]> {
        self.module_digest
    }

    /// The ABI this app's guest speaks.
    pub fn abi(&self) -> AbiKind {
        self.abi
    }

    /// Whether its guest is loaded (a static response always is).
    pub fn is_loaded(&self) -> bool {
        match &self.guest {
            AppGuest::Static(_) => true,
            AppGuest::Module(lazy) => lazy.is_loaded(),
        }
    }

    fn new(config: AppConfig, abi: AbiKind, guest: AppGuest, stores: &Stores) -> App {
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
            abi,
            module_digest: None,
            guest,
        }
    }
}

/// All apps of a config, sharing one engine. Index `i` is `config.apps[i]`.
pub struct Apps {
    apps: Vec<Arc<App>>,
    /// Where each app's `file:line: app `name`` is, for its load errors.
    source: Option<std::path::PathBuf>,
    compiler: Arc<Compiler>,
}

impl Apps {
    /// Loads every app of `configs`, compiling and linking them all now:
    /// for running apps outside a server (`run`, benchmarks).
    pub fn load(
        configs: &[AppConfig],
        source: Option<&Path>,
        cache: CompileCache,
        stores: &Stores,
    ) -> Result<Apps, Vec<String>> {
        let modules = fetch::read_local(configs);
        let loader = Loader::new(cache, DEFAULT_MAX_INSTANCES)?;
        loader.load_all(configs, &modules, source, stores)
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
        self.compiler.engine().max_instances()
    }

    /// Compiles and links, on this thread and as many more as there are
    /// cores, each app `which` picks that is not loaded yet. Returns every
    /// problem found, each prefixed with where the app is configured.
    pub fn load_now(&self, which: impl Fn(&App) -> bool + Sync) -> Result<(), Vec<String>> {
        let todo: Vec<(&App, &LazyGuest)> = self
            .apps
            .iter()
            .filter_map(|app| match &app.guest {
                AppGuest::Module(lazy) if !lazy.is_loaded() && which(app) => Some((&**app, lazy)),
                _ => None,
            })
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let (cached_before, compiled_before) = self.compiler.engine().cache_counts();
        let next = AtomicUsize::new(0);
        let progress = Progress::new(todo.len());
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(todo.len());
        let mut problems: Vec<(usize, String)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut problems = Vec::new();
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            let Some((app, lazy)) = todo.get(index) else {
                                return problems;
                            };
                            if let Err(errors) = &*lazy.load_now() {
                                problems
                                    .extend(errors.iter().map(|e| (index, self.located(app, e))));
                            }
                            progress.show(index + 1);
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().unwrap_or_default())
                .collect()
        });
        progress.finish();
        let (cached, compiled) = self.compiler.engine().cache_counts();
        tracing::info!(
            "loaded {} apps in {:.2} s ({} modules from the compile cache, {} compiled)",
            todo.len(),
            started.elapsed().as_secs_f64(),
            cached - cached_before,
            compiled - compiled_before,
        );
        // In config order, whichever thread found them.
        problems.sort();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.into_iter().map(|(_, problem)| problem).collect())
        }
    }

    /// Loads in the background every app that asks for it (`preload`),
    /// without holding up requests to any app.
    pub fn preload(&self) {
        let apps: Vec<Arc<App>> = self
            .apps
            .iter()
            .filter(|app| app.config.residency.preload && !app.is_loaded())
            .cloned()
            .collect();
        if apps.is_empty() {
            return;
        }
        tokio::spawn(async move {
            let started = Instant::now();
            let loads = apps.iter().map(|app| async move {
                if let AppGuest::Module(lazy) = &app.guest
                    && let Err(problems) = &*lazy.get().await
                {
                    tracing::error!("app `{}`: {}", app.config.name, problems.join("; "));
                }
            });
            futures_util::future::join_all(loads).await;
            tracing::info!(
                "preloaded {} apps in {:.2} s",
                apps.len(),
                started.elapsed().as_secs_f64()
            );
        });
    }

    /// Releases the guest of every app idle for longer than its
    /// `idle_release_seconds`; returns how many it released.
    pub fn release_idle(&self) -> usize {
        let released = self
            .apps
            .iter()
            .filter(
                |app| match (&app.guest, app.config.residency.idle_release) {
                    (AppGuest::Module(lazy), Some(idle)) => lazy.release_if_idle(idle),
                    _ => false,
                },
            )
            .count();
        if released > 0 {
            self.compiler.forget_released();
            tracing::debug!(
                "released {released} idle apps; {} modules stay compiled",
                self.compiler.live_modules()
            );
        }
        released
    }

    /// How many apps have their guest loaded.
    pub fn loaded(&self) -> usize {
        self.apps.iter().filter(|app| app.is_loaded()).count()
    }

    fn located(&self, app: &App, message: &str) -> String {
        located(self.source.as_deref(), &app.config, message)
    }
}

/// Whether two configs of an app ask for the same thing (where in the file
/// it is written does not count).
fn same_config(old: &AppConfig, new: &AppConfig) -> bool {
    old == &AppConfig {
        line: old.line,
        ..new.clone()
    }
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

/// A `loading apps: 12/100` line, redrawn in place while apps load, shown
/// only when stderr is a terminal and there is more than one app.
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
            eprint!("\rloading apps: {done}/{}", self.total);
        }
    }

    fn finish(&self) {
        if self.visible {
            // Clears the line for the log lines that follow.
            eprint!("\r\x1b[2K");
        }
    }
}
