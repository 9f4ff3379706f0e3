//! Turning a config into [`Apps`] without compiling: every app's module is
//! fetched and checked (its digest, its ABI, that it is valid WebAssembly)
//! and its guest left to be made when first needed. On a reload, an app
//! whose config and module did not change is kept as it is (its loaded
//! guest, idle instances and store handles with it), and the apps that
//! were serving before are loaded before the new config takes over, so a
//! reload never makes their next request wait for a compile.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::compiled::{Binding, CompiledKey, Compiler};
use super::lazy::LazyGuest;
use super::{App, AppGuest, Apps, located, same_config};
use crate::abi::static_response::StaticGuest;
use crate::abi::{AbiKind, Guest, wasi_http};
use crate::compile_cache::CompileCache;
use crate::config::AppConfig;
use crate::engine::WasmEngine;
use crate::fetch::{Modules, module_key};
use crate::kv::Stores;

/// Loads apps on one engine, kept for the server's life: a reload loads the
/// new config on the same engine, so what did not change carries over.
pub struct Loader {
    compiler: Arc<Compiler>,
}

impl Loader {
    /// A loader whose engine has a pool of `max_instances` instances.
    pub fn new(cache: CompileCache, max_instances: u32) -> Result<Loader, Vec<String>> {
        let engine = WasmEngine::new(cache, max_instances).map_err(|e| vec![format!("{e:#}")])?;
        let compiler = Compiler::new(engine).map_err(|e| vec![format!("{e:#}")])?;
        Ok(Loader {
            compiler: Arc::new(compiler),
        })
    }

    /// Checks every app of `configs` and makes it ready to load. Returns
    /// every problem found, each prefixed with `source:line: app `name`:`
    /// when `source` is given.
    pub fn load(
        &self,
        configs: &[AppConfig],
        modules: &Modules,
        source: Option<&Path>,
        stores: &Stores,
        previous: Option<&Apps>,
    ) -> Result<Apps, Vec<String>> {
        let (apps, problems) = self.build(configs, modules, source, stores, previous);
        if !problems.is_empty() {
            return Err(problems);
        }
        if let Some(previous) = previous {
            let serving: HashSet<&str> = previous
                .iter()
                .filter(|app| app.is_loaded())
                .map(|app| app.config.name.as_str())
                .collect();
            apps.load_now(|app| serving.contains(app.config.name.as_str()))?;
        }
        Ok(apps)
    }

    /// Checks every app of `configs` and compiles and links all of them
    /// now, for `check`: every problem of every app, in config order.
    pub fn load_all(
        &self,
        configs: &[AppConfig],
        modules: &Modules,
        source: Option<&Path>,
        stores: &Stores,
    ) -> Result<Apps, Vec<String>> {
        let (apps, mut problems) = self.build(configs, modules, source, stores, None);
        if let Err(more) = apps.load_now(|_| true) {
            problems.extend(more);
        }
        if problems.is_empty() {
            Ok(apps)
        } else {
            Err(problems)
        }
    }

    /// The apps of `configs` that passed their checks, and the problems of
    /// those that did not.
    fn build(
        &self,
        configs: &[AppConfig],
        modules: &Modules,
        source: Option<&Path>,
        stores: &Stores,
        previous: Option<&Apps>,
    ) -> (Apps, Vec<String>) {
        let started = Instant::now();
        let previous_by_name: HashMap<&str, &Arc<App>> = previous
            .iter()
            .flat_map(|apps| apps.iter())
            .map(|app| (app.config.name.as_str(), app))
            .collect();
        let mut checked: HashMap<CompiledKey, Result<Checked, String>> = HashMap::new();
        let mut apps = Vec::with_capacity(configs.len());
        let mut problems = Vec::new();
        for config in configs {
            let Some(module_key) = module_key(config) else {
                let previous = previous_by_name.get(config.name.as_str()).copied();
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
            let digest = *module.digest.as_bytes();
            let key = (digest, config.abi);
            let unchanged = previous_by_name.get(config.name.as_str()).filter(|app| {
                app.module_digest == Some(digest) && same_config(&app.config, config)
            });
            if let Some(app) = unchanged {
                apps.push((*app).clone());
                continue;
            }
            let check = checked.entry(key).or_insert_with(|| {
                let abi = self.compiler.check(&module.wasm, config.abi)?;
                Ok((abi, Arc::from(module.wasm.as_slice())))
            });
            let (abi, wasm) = match check {
                Ok((abi, wasm)) => (*abi, wasm.clone()),
                Err(error) => {
                    problems.push(located(source, config, error));
                    continue;
                }
            };
            if config.reuse > 1 && abi != AbiKind::WasiHttp {
                let message = format!(
                    "`reuse = {}` applies only to wasi:http components; this module is served with the {} ABI",
                    config.reuse,
                    abi.name()
                );
                problems.push(located(source, config, &message));
                continue;
            }
            if let Some(message) =
                wasi_http::refuse_concurrent_reuse(config.concurrent_reuse, abi, &wasm)
            {
                problems.push(located(source, config, &message));
                continue;
            }
            let lazy = LazyGuest::new(
                config.name.clone(),
                self.compiler.clone(),
                wasm,
                key,
                Binding::of(config),
            );
            let mut app = App::new(config.clone(), abi, AppGuest::Module(lazy), stores);
            app.module_digest = Some(digest);
            apps.push(Arc::new(app));
        }
        let apps = Apps {
            apps,
            source: source.map(Path::to_owned),
            compiler: self.compiler.clone(),
        };
        tracing::info!(
            "checked {} apps ({} modules) in {:.2} s; each loads on its first request",
            apps.len(),
            checked.len(),
            started.elapsed().as_secs_f64(),
        );
        (apps, problems)
    }
}

/// A module that passed its checks: the ABI it speaks, and its bytes, which
/// every app running it shares until one compiles them.
type Checked = (AbiKind, Arc<[u8]>);

/// An app answering with its config's static response: `previous` (the
/// app of the same name before a reload) if the same, else a new one.
fn static_app(
    config: &AppConfig,
    previous: Option<&Arc<App>>,
    stores: &Stores,
) -> Result<Arc<App>, String> {
    if let Some(app) =
        previous.filter(|app| app.module_digest.is_none() && same_config(&app.config, config))
    {
        return Ok(app.clone());
    }
    let response = config
        .static_response
        .as_ref()
        .ok_or("no static response")?;
    let guest = Guest::Static(StaticGuest::new(response)?);
    Ok(Arc::new(App::new(
        config.clone(),
        AbiKind::Static,
        AppGuest::Static(guest),
        stores,
    )))
}
