//! `wasi:keyvalue@0.2.0-draft2`: a `string` cursor (the last key of the
//! page), a signed increment, and compare-and-swap.

use super::store_and_batch;

wasmtime::component::bindgen!({
    path: "wit/keyvalue-0.2.0-draft2",
    world: "wasi:keyvalue/imports",
    imports: { default: async | trappable },
    with: {
        "wasi:keyvalue/store.bucket": crate::kv::Bucket,
        "wasi:keyvalue/atomics.cas": Cas,
    },
});

store_and_batch!();

use wasi::keyvalue::atomics;

type Cursor = String;

/// A compare-and-swap handle: the key and the value it was read with.
pub struct Cas {
    bucket: Bucket,
    key: String,
    current: Option<Vec<u8>>,
}

impl Cas {
    async fn read(bucket: Bucket, key: String) -> Result<Cas, KvError> {
        let current = bucket.get(&key).await?;
        Ok(Cas {
            bucket,
            key,
            current,
        })
    }
}

async fn list_keys(bucket: &Bucket, cursor: Option<String>) -> Result<store::KeyResponse, KvError> {
    let (keys, more) = super::page(bucket, cursor.as_deref()).await?;
    let cursor = if more { keys.last().cloned() } else { None };
    Ok(store::KeyResponse { keys, cursor })
}

impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, store::Error>> {
        let bucket = self.bucket(&bucket)?;
        Ok(bucket.increment(&key, delta).await.map_err(error))
    }

    /// Swaps only if the value is still the one `cas` read; if not, the
    /// guest gets a new handle holding the newer value, to retry with.
    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let Cas {
            bucket,
            key,
            current,
        } = self.table.delete(cas)?;
        match bucket
            .compare_and_swap(&key, current.as_deref(), value)
            .await
        {
            Ok(true) => Ok(Ok(())),
            Ok(false) => match Cas::read(bucket, key).await {
                Ok(newer) => Ok(Err(atomics::CasError::CasFailed(self.table.push(newer)?))),
                Err(e) => Ok(Err(atomics::CasError::StoreError(error(e)))),
            },
            Err(e) => Ok(Err(atomics::CasError::StoreError(error(e)))),
        }
    }
}

impl atomics::HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, store::Error>> {
        let bucket = self.bucket(&bucket)?.clone();
        match Cas::read(bucket, key).await {
            Ok(cas) => Ok(Ok(self.table.push(cas)?)),
            Err(e) => Ok(Err(error(e))),
        }
    }

    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(Ok(self.bucket(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}
