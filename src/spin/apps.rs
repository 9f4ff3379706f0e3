//! Spin apps as this server runs them: a manifest and its runtime config
//! resolved into the [`AppConfig`]s and [`StoreConfig`]s the native format
//! produces, one app per routed trigger; the native config's `[[spin_apps]]`
//! mounted beside its own apps, no route claimed twice; and Spin's
//! well-known endpoints (`/.well-known/spin/health` and `.../info`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::files;
use super::manifest::{Component, Executor, Handler, HttpTrigger, Manifest};
use super::runtime_config::{self, RuntimeConfig};
use super::variables::ResolvedComponent;
use crate::abi::AbiKind;
use crate::config::{
    AppConfig, Config, ConfigError, ConfigErrors, DEFAULT_DATA_DIR, DEFAULT_FUNCTION, Limits,
    Residency, SpinMount, StaticResponse, StoreConfig, StoreScope, Variables,
};
use crate::kv::{DEFAULT_MAX_VALUE_BYTES, spin_store_key};
use crate::router::{Methods, Route};

/// Where a Spin app served by its `spin.toml` listens, as `spin up` does.
pub const SPIN_LISTEN_ADDRESS: &str = "127.0.0.1:3000";
const WELL_KNOWN_HEALTH: &str = "/.well-known/spin/health";
const WELL_KNOWN_INFO: &str = "/.well-known/spin/info";
/// Under `data_dir`: the staged `files` of Spin components.
const STAGED_FILES: &str = "spin-files";

/// Reads the config at `path`: a Spin app's `spin.toml` (told by its
/// content), or a native config with the `[[spin_apps]]` it mounts. Relative
/// paths are the file's; `data_dir` overrides the config's.
pub fn load(
    path: &Path,
    runtime_config: Option<&Path>,
    data_dir: Option<&Path>,
) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        single_error(
            path,
            0,
            None,
            format!("cannot read the config file: {error}"),
        )
    })?;
    let mut config = if super::is_spin_manifest(&text) {
        let default_dir = path
            .parent()
            .unwrap_or(Path::new(""))
            .join(DEFAULT_DATA_DIR);
        let mut config = Config::empty(path, &default_dir);
        config.listen_address = SPIN_LISTEN_ADDRESS.to_owned();
        config.spin_apps = vec![SpinMount {
            manifest: path.to_owned(),
            runtime_config: runtime_config.map(Path::to_owned),
            line: 0,
        }];
        config
    } else {
        if runtime_config.is_some() {
            let message = "--runtime-config-file is for a spin.toml; a config gives each of its \
                           [[spin_apps]] a `runtime_config`";
            return Err(single_error(path, 0, None, message.to_owned()));
        }
        Config::parse(&text, path)?
    };
    if let Some(dir) = data_dir {
        config.data_dir = dir.to_owned();
    }
    mount(&mut config)?;
    Ok(config)
}

/// Adds the apps and stores of every Spin app `config` names to it, with
/// Spin's well-known endpoints; refuses two apps on one route.
fn mount(config: &mut Config) -> Result<(), ConfigErrors> {
    if config.spin_apps.is_empty() {
        return Ok(());
    }
    let native = config.apps.len();
    let mut origins: Vec<Origin> = config
        .apps
        .iter()
        .map(|app| Origin {
            file: config.file.clone(),
            line: app.line,
            key: String::new(),
        })
        .collect();
    let mut errors = Vec::new();
    let mut infos: Vec<Known> = Vec::new();
    for spin_mount in &config.spin_apps.clone() {
        match SpinApp::load(spin_mount, &config.data_dir, config.default_limits) {
            Ok(app) => {
                if let Some(other) = infos.iter().find(|known| known.name == app.name) {
                    errors.push(ConfigError {
                        file: spin_mount.manifest.clone(),
                        line: 0,
                        key: Some("application.name".into()),
                        message: format!(
                            "the Spin app of {} is named `{}` too; names must differ",
                            other.manifest.display(),
                            app.name
                        ),
                    });
                    continue;
                }
                infos.push(Known {
                    name: app.name.clone(),
                    manifest: spin_mount.manifest.clone(),
                    info: app.info,
                });
                config.warnings.extend(app.warnings);
                config.key_value_stores.extend(app.stores);
                for (mut app, origin) in app.apps {
                    app.residency = config.default_residency;
                    config.apps.push(app);
                    origins.push(origin);
                }
            }
            Err(ConfigErrors(more)) => errors.extend(more),
        }
    }
    if let Some(first) = infos.first() {
        for (route, response) in well_known(&first.info) {
            config.apps.push(static_app(
                format!("spin{route}"),
                &config.file,
                Route::Exact(route.to_owned()),
                response,
                0,
            ));
            origins.push(Origin {
                file: config.file.clone(),
                line: 0,
                key: "(Spin's well-known endpoints)".into(),
            });
        }
    }
    errors.extend(route_conflicts(&config.apps, &origins, native));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// A Spin app already mounted.
struct Known {
    name: String,
    manifest: PathBuf,
    /// `/.well-known/spin/info`'s answer.
    info: String,
}

/// Where an app was written, for errors naming it.
struct Origin {
    file: PathBuf,
    line: usize,
    key: String,
}

/// Two apps whose routes claim the same paths for a common method, at least
/// one of them from a Spin app (the native config checks its own).
fn route_conflicts(apps: &[AppConfig], origins: &[Origin], native: usize) -> Vec<ConfigError> {
    let mut by_shape: HashMap<String, Vec<usize>> = HashMap::new();
    let mut errors = Vec::new();
    for (index, app) in apps.iter().enumerate() {
        let earlier = by_shape.entry(app.route.shape()).or_default();
        if index >= native
            && let Some(&first) = earlier
                .iter()
                .find(|&&other| apps[other].methods.overlaps(&app.methods))
        {
            let (claimed, other) = (&origins[index], &origins[first]);
            errors.push(ConfigError {
                file: claimed.file.clone(),
                line: claimed.line,
                key: Some(claimed.key.clone()).filter(|key| !key.is_empty()),
                message: format!(
                    "route {} of app `{}` is already routed to app `{}` ({}:{}{})",
                    app.route,
                    app.name,
                    apps[first].name,
                    other.file.display(),
                    other.line,
                    match other.key.as_str() {
                        "" => String::new(),
                        key => format!(", `{key}`"),
                    }
                ),
            });
        }
        earlier.push(index);
    }
    errors
}

/// One Spin app, resolved.
struct SpinApp {
    name: String,
    /// Each app with where its trigger is written.
    apps: Vec<(AppConfig, Origin)>,
    stores: Vec<StoreConfig>,
    warnings: Vec<String>,
    /// `/.well-known/spin/info`'s answer.
    info: String,
}

impl SpinApp {
    /// Reads the app `mount` names; its components run within `limits`,
    /// their memory within the runtime config's `max_instance_memory`.
    fn load(mount: &SpinMount, data_dir: &Path, limits: Limits) -> Result<SpinApp, ConfigErrors> {
        let manifest = Manifest::read(&mount.manifest)?;
        let runtime = mount
            .runtime_config
            .as_deref()
            .map(RuntimeConfig::read)
            .transpose()?;
        runtime_config::check_store_labels(&manifest, runtime.as_ref())?;
        let resolved = manifest.resolve_from_env()?;
        let name = manifest.application.name.clone();
        let mut warnings = manifest.warnings.clone();
        warnings.extend(runtime.iter().flat_map(|config| config.warnings.clone()));
        let memory = runtime
            .as_ref()
            .and_then(|config| config.max_instance_memory);
        let mut apps = Vec::new();
        let mut errors = Vec::new();
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for (number, trigger) in manifest.triggers.iter().enumerate() {
            let origin = Origin {
                file: manifest.file.clone(),
                line: trigger.line,
                key: format!("trigger.http[{}]", number + 1),
            };
            let Some(route) = &trigger.route else {
                // A private endpoint: only other components could call it.
                continue;
            };
            let route = Route::Spin(route.clone());
            let app = match &trigger.handler {
                Handler::Static(response) => Ok(static_app(
                    format!("{name}/{}", trigger.id),
                    &manifest.file,
                    route,
                    response.clone(),
                    trigger.line,
                )),
                Handler::Component(id) => {
                    let count = uses.entry(id.as_str()).or_default();
                    *count += 1;
                    let app_name = match *count {
                        1 => format!("{name}/{id}"),
                        n => format!("{name}/{id}#{n}"),
                    };
                    let limits = Limits {
                        memory_limit_bytes: memory.unwrap_or(limits.memory_limit_bytes),
                        ..limits
                    };
                    component_app(&manifest, &resolved.components, trigger, id, data_dir).map(
                        |app| AppConfig {
                            name: app_name,
                            route,
                            limits,
                            ..app
                        },
                    )
                }
            };
            match app {
                Ok(app) => apps.push((app, origin)),
                Err(message) => errors.push(ConfigError {
                    file: origin.file,
                    line: origin.line,
                    key: Some(origin.key),
                    message,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let stores = stores(&manifest, runtime.as_ref());
        let info = info_json(&manifest);
        Ok(SpinApp {
            name,
            apps,
            stores,
            warnings,
            info,
        })
    }
}

/// The app serving `trigger` with the component `id`.
fn component_app(
    manifest: &Manifest,
    resolved: &[ResolvedComponent],
    trigger: &HttpTrigger,
    id: &str,
    data_dir: &Path,
) -> Result<AppConfig, String> {
    let (Some(component), Some(resolved)) = (
        manifest.component(id),
        resolved.iter().find(|component| component.id == id),
    ) else {
        return Err(format!("no component `{id}`"));
    };
    let staging = data_dir.join(STAGED_FILES);
    let files = files::stage(
        &manifest.dir,
        &component.files,
        &component.exclude_files,
        &staging,
    )
    .map_err(|e| format!("component `{id}`: {e}"))?;
    let (abi, function, argv) = match &trigger.executor {
        Executor::Http => (Some(AbiKind::WasiHttp), DEFAULT_FUNCTION.to_owned(), None),
        Executor::Wagi { argv, entrypoint } => {
            (Some(AbiKind::Wagi), entrypoint.clone(), Some(argv.clone()))
        }
    };
    let variables = resolved
        .variables
        .iter()
        .map(|(name, value)| (name.clone(), value.expose().to_owned()))
        .collect();
    Ok(AppConfig {
        name: id.to_owned(),
        source: component.source.clone(),
        digest: component.digest,
        function,
        methods: Methods::Any,
        route: Route::Exact(String::new()),
        env: component.environment.clone(),
        limits: Limits::default(),
        residency: Residency::default(),
        allowed_outbound_hosts: resolved.outbound.hosts.clone(),
        abi,
        files: files.map(|dir| ("/".to_owned(), dir)).into_iter().collect(),
        reuse: 1,
        concurrent_reuse: 1,
        key_value_stores: component.key_value_stores.clone(),
        max_keys: None,
        store_scope: StoreScope::SpinApp(manifest.application.name.clone()),
        static_response: None,
        variables: Variables(variables),
        argv,
        line: component_line(component, trigger),
    })
}

fn component_line(component: &Component, trigger: &HttpTrigger) -> usize {
    if component.inline {
        trigger.line
    } else {
        component.line
    }
}

/// An app answering `route` with `response`, written in `file`.
fn static_app(
    name: String,
    file: &Path,
    route: Route,
    response: StaticResponse,
    line: usize,
) -> AppConfig {
    AppConfig {
        name,
        methods: Methods::Any,
        route,
        static_response: Some(response),
        line,
        ..AppConfig::for_module(file.to_owned())
    }
}

/// The stores the app's components may open, each declared once.
fn stores(manifest: &Manifest, runtime: Option<&RuntimeConfig>) -> Vec<StoreConfig> {
    let mut labels: Vec<&str> = manifest
        .components
        .iter()
        .flat_map(|component| component.key_value_stores.iter().map(String::as_str))
        .collect();
    labels.sort_unstable();
    labels.dedup();
    labels
        .into_iter()
        .filter_map(|label| {
            let backend = runtime_config::store_backend(runtime, label)?;
            let line = runtime
                .and_then(|config| config.store(label))
                .map_or(0, |store| store.line);
            Some(StoreConfig {
                label: spin_store_key(&manifest.application.name, label),
                backend,
                max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
                line,
            })
        })
        .collect()
}

/// What `/.well-known/spin/info` says of the app, as Spin does.
fn info_json(manifest: &Manifest) -> String {
    let mut info = serde_json::Map::new();
    info.insert("name".into(), manifest.application.name.clone().into());
    if let Some(version) = &manifest.application.version {
        info.insert("version".into(), version.clone().into());
    }
    serde_json::to_string_pretty(&info).unwrap_or_default()
}

/// Spin's health and info endpoints, answered by the host.
fn well_known(info: &str) -> [(&'static str, StaticResponse); 2] {
    [
        (
            WELL_KNOWN_HEALTH,
            StaticResponse {
                status: 200,
                headers: Vec::new(),
                body: b"OK".to_vec(),
            },
        ),
        (
            WELL_KNOWN_INFO,
            StaticResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: info.as_bytes().to_vec(),
            },
        ),
    ]
}

fn single_error(file: &Path, line: usize, key: Option<String>, message: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: file.to_owned(),
        line,
        key,
        message,
    }])
}
