//! Key-value stores for guests: the [`Backend`] seam with its two backends
//! ([`embedded`]: redb in `data_dir`; [`redis`]), the limits every store
//! enforces, and [`AppStores`]: which stores one app may open.
//!
//! Every store a guest opens is a [`Bucket`]: a backend plus a namespace. An
//! app's private `default` store is the namespace `app/<name>`; a shared store
//! declared as `[key_value_stores.<label>]` is `store/<label>`. A backend
//! keeps namespaces apart itself, so no key a guest writes can reach another
//! namespace. The guest faces (classic `db_*`, `wasi:keyvalue`) sit beside
//! the ABIs that expose them and call only [`Bucket`].

mod backend;
pub mod embedded;
pub mod redis;

pub use backend::{Backend, DEFAULT_MAX_VALUE_BYTES, KvError, MAX_KEY_BYTES};

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::config::{StoreBackend, StoreConfig, StoreScope};

/// The label of an app's private store, in every guest interface.
pub const DEFAULT_STORE: &str = "default";

/// The limits one bucket enforces before its backend is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketLimits {
    pub max_value_bytes: usize,
    pub max_keys: Option<u64>,
}

/// One store as an app sees it: a backend, a namespace in it, and limits.
#[derive(Clone)]
pub struct Bucket {
    label: Arc<str>,
    namespace: Arc<str>,
    backend: Arc<dyn Backend>,
    limits: BucketLimits,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("label", &self.label)
            .field("namespace", &self.namespace)
            .field("backend", &self.backend.kind())
            .field("limits", &self.limits)
            .finish()
    }
}

impl Bucket {
    pub fn new(
        label: &str,
        namespace: &str,
        backend: Arc<dyn Backend>,
        limits: BucketLimits,
    ) -> Bucket {
        Bucket {
            label: label.into(),
            namespace: namespace.into(),
            backend,
            limits,
        }
    }

    /// The label the app opens it by (`default` for its private store).
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn limits(&self) -> BucketLimits {
        self.limits
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        check_key(key)?;
        self.observed("get", self.backend.get(&self.namespace, key).await)
    }

    pub async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        check_key(key)?;
        self.check_value(&value)?;
        let max_keys = self.limits.max_keys;
        let result = self
            .backend
            .set(&self.namespace, key, value, max_keys)
            .await;
        self.observed("set", result)
    }

    pub async fn delete(&self, key: &str) -> Result<bool, KvError> {
        check_key(key)?;
        self.observed("delete", self.backend.delete(&self.namespace, key).await)
    }

    pub async fn exists(&self, key: &str) -> Result<bool, KvError> {
        check_key(key)?;
        self.observed("exists", self.backend.exists(&self.namespace, key).await)
    }

    pub async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, KvError> {
        let result = self
            .backend
            .list(&self.namespace, prefix, after, limit)
            .await;
        self.observed("list", result)
    }

    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        check_key(key)?;
        let max_keys = self.limits.max_keys;
        let result = self
            .backend
            .increment(&self.namespace, key, delta, max_keys)
            .await;
        self.observed("increment", result)
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
    ) -> Result<bool, KvError> {
        check_key(key)?;
        self.check_value(&new)?;
        let max_keys = self.limits.max_keys;
        let result = self
            .backend
            .compare_and_swap(&self.namespace, key, expected, new, max_keys)
            .await;
        self.observed("compare_and_swap", result)
    }

    /// Counts what the backend answered, by this store's label: a refusal
    /// before the backend is asked (a key too long) is not an operation.
    fn observed<T>(
        &self,
        operation: &'static str,
        result: Result<T, KvError>,
    ) -> Result<T, KvError> {
        crate::metrics::global().kv_operation(&self.label, operation, result.is_ok());
        result
    }

    fn check_value(&self, value: &[u8]) -> Result<(), KvError> {
        let limit = self.limits.max_value_bytes;
        if value.len() > limit {
            return Err(KvError::ValueTooLarge {
                size: value.len(),
                limit,
            });
        }
        Ok(())
    }
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::KeyTooLarge(key.len()));
    }
    Ok(())
}

/// The stores one app may open: its private default (unless it belongs to a
/// Spin app, whose `default` is shared by its components) and those granted to it.
#[derive(Debug, Clone)]
pub struct AppStores {
    default: Bucket,
    /// Whether `default` is the app's own, opened by the label `default`.
    private_default: bool,
    granted: Vec<Bucket>,
}

impl AppStores {
    /// Stores that cannot be used: every operation fails as unavailable. For
    /// contexts that only exist to be inspected, never to serve.
    pub fn unavailable() -> AppStores {
        let limits = BucketLimits {
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_keys: None,
        };
        AppStores {
            default: Bucket::new(DEFAULT_STORE, "", Arc::new(NoBackend), limits),
            private_default: true,
            granted: Vec::new(),
        }
    }

    /// The app's private store.
    pub fn default_store(&self) -> &Bucket {
        &self.default
    }

    /// The store labelled `label`, if this app may open it.
    pub fn open(&self, label: &str) -> Result<Bucket, KvError> {
        if label == DEFAULT_STORE && self.private_default {
            return Ok(self.default.clone());
        }
        self.granted
            .iter()
            .find(|bucket| &*bucket.label == label)
            .cloned()
            .ok_or_else(|| KvError::AccessDenied(label.to_string()))
    }
}

/// Every backend a config declares, opened once and shared by all apps.
pub struct Stores {
    /// The backend of every app's private store.
    default: BackendEntry,
    /// Shared stores by label.
    shared: HashMap<String, BackendEntry>,
}

struct BackendEntry {
    backend: Arc<dyn Backend>,
    max_value_bytes: usize,
}

impl Stores {
    /// Opens the backends `configs` declare (an embedded one in `data_dir`,
    /// created if need be). Without a `default` entry, apps' private stores
    /// are embedded. Redis backends connect lazily and reconnect by
    /// themselves, so an unreachable Redis is no error here.
    pub fn open(configs: &[StoreConfig], data_dir: &Path) -> anyhow::Result<Stores> {
        let mut embedded: Option<Arc<dyn Backend>> = None;
        let mut open_embedded = || -> anyhow::Result<Arc<dyn Backend>> {
            if let Some(backend) = &embedded {
                return Ok(backend.clone());
            }
            let backend: Arc<dyn Backend> = Arc::new(embedded::Embedded::open(data_dir)?);
            embedded = Some(backend.clone());
            Ok(backend)
        };
        let mut default = None;
        let mut shared = HashMap::new();
        for config in configs {
            let backend = match &config.backend {
                StoreBackend::Embedded => open_embedded()?,
                StoreBackend::Redis { url } => Arc::new(redis::Redis::open(url)?),
            };
            let entry = BackendEntry {
                backend,
                max_value_bytes: config.max_value_bytes,
            };
            if config.label == DEFAULT_STORE {
                default = Some(entry);
            } else {
                shared.insert(config.label.clone(), entry);
            }
        }
        let default = match default {
            Some(entry) => entry,
            None => BackendEntry {
                backend: open_embedded()?,
                max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            },
        };
        Ok(Stores { default, shared })
    }

    /// No backend at all: every app's stores fail as unavailable. For
    /// loading apps only to check them (`check`), which must not open, and
    /// so lock, the data directory of a server that may be running.
    pub fn none() -> Stores {
        let entry = BackendEntry {
            backend: Arc::new(NoBackend),
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        };
        Stores {
            default: entry,
            shared: HashMap::new(),
        }
    }

    /// The stores of the app `name`: its private one, holding at most
    /// `max_keys` keys, and the shared ones in `grants` (labels the config
    /// has already checked). A component of a Spin app has no private store:
    /// every label it was granted, `default` too, is its Spin app's.
    pub fn for_app(
        &self,
        name: &str,
        grants: &[String],
        max_keys: Option<u64>,
        scope: &StoreScope,
    ) -> AppStores {
        let bucket = |label: &str, namespace: String, entry: &BackendEntry, max_keys| {
            let limits = BucketLimits {
                max_value_bytes: entry.max_value_bytes,
                max_keys,
            };
            Bucket::new(label, &namespace, entry.backend.clone(), limits)
        };
        // Where each granted label is declared, and the namespace it opens.
        let store = |label: &str| match scope {
            StoreScope::Own => (label.to_owned(), format!("store/{label}")),
            StoreScope::SpinApp(app) => (spin_store_key(app, label), format!("spin/{app}/{label}")),
        };
        let granted = grants
            .iter()
            .filter_map(|label| {
                let (key, namespace) = store(label);
                let entry = self.shared.get(&key)?;
                Some(bucket(label, namespace, entry, None))
            })
            .collect();
        AppStores {
            default: bucket(
                DEFAULT_STORE,
                format!("app/{name}"),
                &self.default,
                max_keys,
            ),
            private_default: *scope == StoreScope::Own,
            granted,
        }
    }
}

/// The label under which the store `label` of the Spin app `app` is declared
/// among the server's stores; no label of a native config can take this form.
pub fn spin_store_key(app: &str, label: &str) -> String {
    format!("spin:{app}:{label}")
}

/// The backend of [`AppStores::unavailable`].
struct NoBackend;

impl NoBackend {
    fn refuse<T>() -> Result<T, KvError> {
        Err(KvError::Unavailable(
            "no key-value store is configured".into(),
        ))
    }
}

#[async_trait::async_trait]
impl Backend for NoBackend {
    fn kind(&self) -> &'static str {
        "none"
    }

    async fn get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, KvError> {
        Self::refuse()
    }

    async fn set(&self, _: &str, _: &str, _: Vec<u8>, _: Option<u64>) -> Result<(), KvError> {
        Self::refuse()
    }

    async fn delete(&self, _: &str, _: &str) -> Result<bool, KvError> {
        Self::refuse()
    }

    async fn exists(&self, _: &str, _: &str) -> Result<bool, KvError> {
        Self::refuse()
    }

    async fn list(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: usize,
    ) -> Result<Vec<String>, KvError> {
        Self::refuse()
    }

    async fn increment(&self, _: &str, _: &str, _: i64, _: Option<u64>) -> Result<i64, KvError> {
        Self::refuse()
    }

    async fn compare_and_swap(
        &self,
        _: &str,
        _: &str,
        _: Option<&[u8]>,
        _: Vec<u8>,
        _: Option<u64>,
    ) -> Result<bool, KvError> {
        Self::refuse()
    }
}
