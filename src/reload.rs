//! Live reload: reading the config again, loading every new or changed app
//! beside the ones being served, and swapping the whole set in at once; or,
//! when anything fails, keeping the old apps and saying why. What triggers a
//! reload lives here too: `SIGHUP`, `serve --watch` and `poll_seconds`.
//!
//! A reload changes apps only. The listener and the key-value stores are
//! opened once; a config that changes them says so and the rest applies.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode};
use tokio::sync::mpsc;

use crate::app::{Apps, Loader};
use crate::config::{Config, ConfigErrors, StoreConfig};
use crate::fetch::fetch_all;
use crate::kv::Stores;
use crate::service::Service;
use crate::sources::{Origin, SourceUrl, Sources};
use crate::spin;

/// Edits closer together than this are one reload: an editor's save is
/// often several writes and a rename.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// How often a server without `poll_seconds` looks whether a reload set it.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// What the command line set over the config, kept over every reload.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    /// Spin's runtime config, for a Spin app served by its `spin.toml`.
    pub runtime_config: Option<PathBuf>,
    /// Load every app as soon as it is configured (`--preload`), as if
    /// each said `preload = true`.
    pub preload: bool,
}

impl Overrides {
    /// Reads the config at `path` (a native config with the Spin apps it
    /// mounts, or a Spin app's `spin.toml`) with these overrides.
    pub fn load(&self, path: &Path) -> Result<Config, ConfigErrors> {
        let mut config = spin::load(
            path,
            self.runtime_config.as_deref(),
            self.data_dir.as_deref(),
        )?;
        if self.preload {
            for app in &mut config.apps {
                app.residency.preload = true;
            }
        }
        Ok(config)
    }
}

/// Why a reload asked for with [`Reloader::try_reload`] changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadError {
    /// Another reload is running.
    Busy,
    /// The config or a module did not load, for this reason; the previous
    /// apps are still served.
    Failed(String),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::Busy => f.write_str("another reload is running"),
            ReloadError::Failed(reason) => f.write_str(reason),
        }
    }
}

pub struct Reloader {
    path: PathBuf,
    overrides: Overrides,
    loader: Loader,
    sources: Sources,
    stores: Stores,
    service: Arc<Service>,
    /// The config being served; held for the whole of a reload, so that
    /// reloads never overlap.
    running: Mutex<Config>,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        overrides: Overrides,
        loader: Loader,
        sources: Sources,
        stores: Stores,
        service: Arc<Service>,
        running: Config,
    ) -> Reloader {
        Reloader {
            path,
            overrides,
            loader,
            sources,
            stores,
            service,
            running: Mutex::new(running),
        }
    }

    /// Reloads now, logging the outcome in one line (or the errors in full);
    /// whether the new apps are being served. `trigger` is for the log.
    pub fn reload(&self, trigger: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        self.reload_locked(running, trigger).is_ok()
    }

    /// Like [`reload`](Self::reload), for a caller that answers someone (the
    /// admin listener): what changed, or why nothing did. Does not wait for
    /// a reload already running, since its caller would wait on a request.
    pub fn try_reload(&self, trigger: &str) -> Result<String, ReloadError> {
        let running = match self.running.try_lock() {
            Ok(running) => running,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(ReloadError::Busy),
        };
        self.reload_locked(running, trigger)
            .map_err(ReloadError::Failed)
    }

    /// Reloads with the running config locked (so reloads never overlap):
    /// the summary of what changed, or the errors, both logged and counted.
    fn reload_locked(
        &self,
        running: MutexGuard<'_, Config>,
        trigger: &str,
    ) -> Result<String, String> {
        let result = self.apply(running, trigger);
        crate::metrics::global().reload(result.is_ok());
        result
    }

    fn apply(&self, mut running: MutexGuard<'_, Config>, trigger: &str) -> Result<String, String> {
        let started = Instant::now();
        let config = match self.overrides.load(&self.path) {
            Ok(config) => config,
            Err(errors) => {
                let reason = format!("invalid config:\n{errors}");
                tracing::error!(
                    "reload ({trigger}) failed, still serving the previous apps: {reason}"
                );
                return Err(reason);
            }
        };
        for warning in &config.warnings {
            tracing::warn!("{warning}");
        }
        self.warn_about_restart(&running, &config);
        let previous = self.service.current();
        let loaded = tokio::task::block_in_place(|| {
            let fetching = fetch_all(&config.apps, &self.sources);
            let modules = tokio::runtime::Handle::current().block_on(fetching);
            self.loader.load(
                &config.apps,
                &modules,
                Some(&config.file),
                &self.stores,
                Some(previous.apps()),
            )
        });
        let apps = match loaded {
            Ok(apps) => apps,
            Err(problems) => {
                let reason = problems.join("\n");
                tracing::error!(
                    "reload ({trigger}) failed, still serving the previous apps:\n{reason}"
                );
                return Err(reason);
            }
        };
        let summary = Summary::between(previous.apps(), &apps).to_string();
        apps.preload();
        self.service.replace(apps);
        *running = config;
        tracing::info!(
            "reloaded ({trigger}) in {:.1} ms: {summary}",
            started.elapsed().as_secs_f64() * 1000.0
        );
        Ok(summary)
    }

    fn warn_about_restart(&self, running: &Config, config: &Config) {
        if self.overrides.listen.is_none() && config.listen_address != running.listen_address {
            tracing::warn!(
                "`listen_address` changed to {}: that takes a restart (still listening on {})",
                config.listen_address,
                running.listen_address
            );
        }
        let stores = |config: &Config| -> Vec<StoreConfig> {
            let mut stores = config.key_value_stores.clone();
            stores.iter_mut().for_each(|store| store.line = 0);
            stores
        };
        if config.data_dir != running.data_dir || stores(config) != stores(running) {
            tracing::warn!(
                "`data_dir` or `key_value_stores` changed: that takes a restart \
                 (apps keep the stores the server started with)"
            );
        }
        // The listeners' settings are read once, at bind, and the pool's at
        // start. New
        // contents of the same TLS files need no restart: SIGHUP reloads them.
        let (old, new) = (&running.server, &config.server);
        let changed: Vec<&str> = [
            ("tls_cert/tls_key", old.tls != new.tls),
            (
                "max_connections",
                old.max_connections != new.max_connections,
            ),
            (
                "header_read_timeout_ms",
                old.header_read_timeout != new.header_read_timeout,
            ),
            (
                "max_header_bytes",
                old.max_header_bytes != new.max_header_bytes,
            ),
            (
                "keep_alive_timeout_ms",
                old.keep_alive_timeout != new.keep_alive_timeout,
            ),
            (
                "h2_max_concurrent_streams",
                old.h2_max_concurrent_streams != new.h2_max_concurrent_streams,
            ),
            ("max_instances", old.max_instances != new.max_instances),
            (
                "admin_address/admin_token",
                old.admin_address != new.admin_address || old.admin_token != new.admin_token,
            ),
        ]
        .into_iter()
        .filter_map(|(key, differs)| differs.then_some(key))
        .collect();
        if !changed.is_empty() {
            tracing::warn!(
                "{} changed: that takes a restart (the server keeps the settings it started with)",
                changed.join(", ")
            );
        }
    }

    /// Reloads on every `SIGHUP`, for as long as the server runs. Listens
    /// from the moment it is called (before the future runs), so that a
    /// `SIGHUP` right after start-up cannot take the default action of ending
    /// the process.
    pub fn on_hangup(self: Arc<Self>) -> impl Future<Output = ()> + Send + 'static {
        crate::signals::on_every_hangup("the config", move || {
            self.reload("SIGHUP");
        })
    }

    /// Every `poll_seconds`, revalidates each remote module source (a 304
    /// when unchanged) and reloads if one has new content.
    pub async fn poll_sources(self: Arc<Self>) {
        loop {
            let every = self.running_config().poll;
            tokio::time::sleep(every.unwrap_or(IDLE_POLL)).await;
            if every.is_none() {
                continue;
            }
            if let Some(source) = self.changed_source().await {
                self.reload(&format!("{source} changed"));
            }
        }
    }

    /// The first remote source whose content is not what its app runs.
    async fn changed_source(&self) -> Option<String> {
        let deployment = self.service.current();
        let mut checked = BTreeSet::new();
        for app in deployment.apps().iter() {
            let source = &app.config.source;
            // A file is --watch's business; a pinned module cannot change.
            if matches!(source, SourceUrl::File(_)) || app.config.digest.is_some() {
                continue;
            }
            if !checked.insert(source.to_string()) {
                continue;
            }
            match self.sources.fetch(source, None).await {
                Ok(fetched) if fetched.origin == Origin::Fresh => {
                    if Some(*fetched.digest.as_bytes()) != app.module_digest() {
                        return Some(source.to_string());
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::debug!("poll of {source}: {error}"),
            }
        }
        None
    }

    /// Reloads when the config file or a local module changes (`--watch`).
    pub async fn watch(self: Arc<Self>) {
        if let Err(error) = self.clone().watch_files().await {
            tracing::warn!("--watch stopped: {error:#}");
        }
    }

    async fn watch_files(self: Arc<Self>) -> anyhow::Result<()> {
        let (events, mut changes) = mpsc::unbounded_channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let _ = events.send(event);
            })?;
        let mut watched = Watched::default();
        watched.update(&mut watcher, &self.running_config())?;
        tracing::info!("watching {} files for changes", watched.files.len());
        while let Some(event) = changes.recv().await {
            if !watched.is_relevant(&event) {
                continue;
            }
            // One reload per burst of edits.
            while let Ok(Some(_)) = tokio::time::timeout(DEBOUNCE, changes.recv()).await {}
            self.reload("file change");
            watched.update(&mut watcher, &self.running_config())?;
        }
        Ok(())
    }

    fn running_config(&self) -> Config {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The files `--watch` looks at, through the directories that hold them:
/// editors save by writing a new file and renaming it over the old one,
/// which a watch on the file itself would lose.
#[derive(Default)]
struct Watched {
    directories: BTreeSet<PathBuf>,
    /// Each file as (its directory, canonical; its name).
    files: BTreeSet<(PathBuf, std::ffi::OsString)>,
}

impl Watched {
    fn update(
        &mut self,
        watcher: &mut impl notify::Watcher,
        config: &Config,
    ) -> notify::Result<()> {
        let modules = config.apps.iter().filter_map(|app| match &app.source {
            SourceUrl::File(path) => Some(path.as_path()),
            _ => None,
        });
        let manifests = config.spin_apps.iter().flat_map(|mount| {
            std::iter::once(mount.manifest.as_path()).chain(mount.runtime_config.as_deref())
        });
        let paths = std::iter::once(config.file.as_path())
            .chain(manifests)
            .chain(modules);
        let files: BTreeSet<_> = paths.filter_map(split).collect();
        let directories: BTreeSet<PathBuf> = files.iter().map(|(dir, _)| dir.clone()).collect();
        for gone in self.directories.difference(&directories) {
            let _ = watcher.unwatch(gone);
        }
        for new in directories.difference(&self.directories) {
            watcher.watch(new, RecursiveMode::NonRecursive)?;
        }
        self.directories = directories;
        self.files = files;
        Ok(())
    }

    fn is_relevant(&self, event: &notify::Result<notify::Event>) -> bool {
        let Ok(event) = event else {
            return true;
        };
        !matches!(event.kind, EventKind::Access(_))
            && event
                .paths
                .iter()
                .filter_map(|path| split(path))
                .any(|file| self.files.contains(&file))
    }
}

/// A path as (its directory, canonical; its file name).
fn split(path: &Path) -> Option<(PathBuf, std::ffi::OsString)> {
    let name = path.file_name()?.to_owned();
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    Some((parent.canonicalize().ok()?, name))
}

/// What a reload changed, by app name.
struct Summary {
    added: usize,
    removed: usize,
    changed: usize,
    unchanged: usize,
}

impl Summary {
    fn between(old: &Apps, new: &Apps) -> Summary {
        let old_by_name: HashMap<&str, _> = old
            .iter()
            .map(|app| (app.config.name.as_str(), app))
            .collect();
        let mut summary = Summary {
            added: 0,
            removed: 0,
            changed: 0,
            unchanged: 0,
        };
        for app in new.iter() {
            match old_by_name.get(app.config.name.as_str()) {
                None => summary.added += 1,
                Some(old) if Arc::ptr_eq(old, app) => summary.unchanged += 1,
                Some(_) => summary.changed += 1,
            }
        }
        let new_names: BTreeSet<&str> = new.iter().map(|app| app.config.name.as_str()).collect();
        summary.removed = old_by_name
            .keys()
            .filter(|name| !new_names.contains(*name))
            .count();
        summary
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} added, {} removed, {} changed, {} unchanged",
            self.added, self.removed, self.changed, self.unchanged
        )
    }
}
