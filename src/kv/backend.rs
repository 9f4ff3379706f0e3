//! The seam every key-value backend implements: [`Backend`], the errors a
//! store operation can end in, and the limits all stores share.

use async_trait::async_trait;

/// The longest key any store accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// The largest value a store accepts unless its `max_value_bytes` says otherwise.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Why a store operation did not happen. Nothing is written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("this app may not open the store `{0}`")]
    AccessDenied(String),
    #[error("no store is labelled `{0}`")]
    NoSuchStore(String),
    #[error("key of {0} bytes is longer than the limit of {MAX_KEY_BYTES} bytes")]
    KeyTooLarge(usize),
    #[error("value of {size} bytes is larger than the store's limit of {limit} bytes")]
    ValueTooLarge { size: usize, limit: usize },
    #[error("the store already holds its limit of {0} keys")]
    QuotaExceeded(u64),
    #[error("the value of `{0}` is not a decimal integer, so it cannot be incremented")]
    NotAnInteger(String),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

/// Where keys physically live. Every call names its namespace; a backend must
/// keep namespaces apart whatever bytes the keys contain. Integers that
/// [`Backend::increment`] keeps are stored as decimal text, as Redis's `INCRBY`
/// does, so a `get` sees them as such on every backend.
///
/// `max_keys` bounds how many keys the namespace may hold: a write that would
/// add a key beyond it fails with [`KvError::QuotaExceeded`]; overwriting an
/// existing key always succeeds.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// `"embedded"` or `"redis"`, for logs and metrics.
    fn kind(&self) -> &'static str;

    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;

    /// Returns once the write is durable (embedded) or acknowledged (Redis).
    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        max_keys: Option<u64>,
    ) -> Result<(), KvError>;

    /// Whether the key was there.
    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError>;

    async fn exists(&self, namespace: &str, key: &str) -> Result<bool, KvError>;

    /// Up to `limit` keys that begin with `prefix`, in byte order, each
    /// greater than `after` when given (for paging).
    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, KvError>;

    /// Adds `delta` to the key's integer (absent counts as 0) atomically, and
    /// returns the new value.
    async fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        max_keys: Option<u64>,
    ) -> Result<i64, KvError>;

    /// Sets the key to `new` only if its value is still `expected` (`None`:
    /// still absent), atomically; whether it did.
    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        max_keys: Option<u64>,
    ) -> Result<bool, KvError>;
}
