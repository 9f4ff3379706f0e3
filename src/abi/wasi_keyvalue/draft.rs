//! `wasi:keyvalue@0.2.0-draft`, as `wasmtime serve -S keyvalue` offers it: a
//! `u64` cursor (how many keys the guest has seen) and an unsigned increment.

use super::store_and_batch;

wasmtime::component::bindgen!({
    path: "wit/keyvalue-0.2.0-draft",
    world: "wasi:keyvalue/imports",
    imports: { default: async | trappable },
    with: {
        "wasi:keyvalue/store.bucket": crate::kv::Bucket,
    },
});

store_and_batch!();

use wasi::keyvalue::atomics;

type Cursor = u64;

/// The cursor counts keys, so each page walks the keys before it again: a
/// cost only for stores of many pages, and the interface leaves no choice.
async fn list_keys(bucket: &Bucket, cursor: Option<u64>) -> Result<store::KeyResponse, KvError> {
    let skip = cursor.unwrap_or(0);
    let mut after: Option<String> = None;
    let mut seen = 0u64;
    while seen < skip {
        let want = usize::try_from(skip - seen).map_or(super::PAGE, |n| n.min(super::PAGE));
        let keys = bucket.list("", after.as_deref(), want).await?;
        let Some(last) = keys.last() else {
            return Ok(store::KeyResponse {
                keys: Vec::new(),
                cursor: None,
            });
        };
        seen += keys.len() as u64;
        after = Some(last.clone());
    }
    let (keys, more) = super::page(bucket, after.as_deref()).await?;
    let cursor = more.then(|| skip + keys.len() as u64);
    Ok(store::KeyResponse { keys, cursor })
}

impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> wasmtime::Result<Result<u64, store::Error>> {
        let bucket = self.bucket(&bucket)?;
        let Ok(delta) = i64::try_from(delta) else {
            return Ok(Err(store::Error::Other(format!(
                "an increment of {delta} is larger than this store's integers (at most {})",
                i64::MAX
            ))));
        };
        Ok(match bucket.increment(&key, delta).await {
            Ok(value) => u64::try_from(value).map_err(|_| {
                store::Error::Other(format!("`{key}` holds {value}, which is not a u64"))
            }),
            Err(e) => Err(error(e)),
        })
    }
}
