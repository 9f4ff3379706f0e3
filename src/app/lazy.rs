//! An app's guest, made when first needed and dropped when idle. The first
//! request loads it (concurrent first requests wait for the same load, on a
//! blocking thread, while requests to other apps go on); a sweep releases
//! it once the app has had no request for its `idle_release_seconds`, and
//! the next request loads it again, from the compile cache. A request in
//! flight keeps the guest it started with, released or not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use tracing::Instrument as _;

use super::compiled::{Binding, Compiled, CompiledKey, Compiler};
use crate::abi::Guest;

/// A guest bound to its app, with the compiled module it runs, or every
/// reason it could not be made.
pub(super) type Loaded = Result<Bound, Vec<String>>;

pub(super) struct Bound {
    pub(super) guest: Guest,
    /// Keeps the module compiled while this app holds it.
    _compiled: Arc<Compiled>,
}

/// What an app needs to make its guest, and the guest once made.
pub(super) struct LazyGuest(Arc<Inner>);

struct Inner {
    /// The app's, for the log.
    app: String,
    compiler: Arc<Compiler>,
    wasm: Arc<[u8]>,
    key: CompiledKey,
    binding: Binding,
    loaded: ArcSwapOption<Loaded>,
    /// The load under way, for the requests that arrive while it runs.
    pending: Mutex<Option<Shared<BoxFuture<'static, Arc<Loaded>>>>>,
    /// When a request last asked for the guest, in [`seconds`].
    last_used: AtomicU64,
}

impl LazyGuest {
    pub(super) fn new(
        app: String,
        compiler: Arc<Compiler>,
        wasm: Arc<[u8]>,
        key: CompiledKey,
        binding: Binding,
    ) -> LazyGuest {
        LazyGuest(Arc::new(Inner {
            app,
            compiler,
            wasm,
            key,
            binding,
            loaded: ArcSwapOption::empty(),
            pending: Mutex::new(None),
            last_used: AtomicU64::new(seconds()),
        }))
    }

    /// The guest for a request: the one loaded, or loaded now.
    pub(super) async fn get(&self) -> Arc<Loaded> {
        self.0.last_used.store(seconds(), Ordering::Relaxed);
        match self.0.loaded.load_full() {
            Some(loaded) => loaded,
            None => self.0.clone().load().await,
        }
    }

    /// Loads the guest on this thread unless it is loaded; for loading
    /// ahead of requests (`check`, a reload), not from within the runtime.
    pub(super) fn load_now(&self) -> Arc<Loaded> {
        if let Some(loaded) = self.0.loaded.load_full() {
            return loaded;
        }
        let loaded = Arc::new(self.0.load_blocking());
        self.0.loaded.store(Some(loaded.clone()));
        loaded
    }

    pub(super) fn is_loaded(&self) -> bool {
        self.0.loaded.load().is_some()
    }

    /// Drops the guest if no request has asked for it for `idle`; says
    /// whether it did.
    pub(super) fn release_if_idle(&self, idle: Duration) -> bool {
        let last_used = self.0.last_used.load(Ordering::Relaxed);
        if !self.is_loaded() || seconds().saturating_sub(last_used) < idle.as_secs() {
            return false;
        }
        self.0.loaded.store(None);
        true
    }
}

impl Inner {
    /// Starts the load unless one is under way, and waits for it. The load
    /// runs in a task of its own, so that a request that gives up (its
    /// client gone, its deadline passed) does not waste it.
    async fn load(self: Arc<Self>) -> Arc<Loaded> {
        let pending = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            // Checked again under the lock: a load may have just ended.
            if let Some(loaded) = self.loaded.load_full() {
                return loaded;
            }
            pending
                .get_or_insert_with(|| {
                    let inner = self.clone();
                    tokio::spawn(inner.load_in_background().in_current_span())
                        .map(|joined| {
                            joined.unwrap_or_else(|error| {
                                Arc::new(Err(vec![format!("loading failed: {error}")]))
                            })
                        })
                        .boxed()
                        .shared()
                })
                .clone()
        };
        pending.await
    }

    async fn load_in_background(self: Arc<Self>) -> Arc<Loaded> {
        let started = Instant::now();
        let loaded = {
            // The semaphore is never closed.
            let _permit = self.compiler.permits.acquire().await.ok();
            let inner = self.clone();
            tokio::task::spawn_blocking(move || inner.load_blocking())
                .await
                .unwrap_or_else(|error| Err(vec![format!("loading failed: {error}")]))
        };
        if loaded.is_ok() {
            let millis = started.elapsed().as_secs_f64() * 1000.0;
            tracing::info!("app `{}` loaded in {millis:.1} ms", self.app);
        }
        let loaded = Arc::new(loaded);
        self.loaded.store(Some(loaded.clone()));
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = None;
        loaded
    }

    fn load_blocking(&self) -> Loaded {
        let compiled = self.compiler.get(self.key, &self.wasm)?;
        let guest = compiled.bind(&self.binding).map_err(|e| vec![e])?;
        Ok(Bound {
            guest,
            _compiled: compiled,
        })
    }
}

/// Whole seconds since the first call: a clock cheap enough to read on
/// every request, fine enough for idle times counted in seconds.
fn seconds() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs()
}
