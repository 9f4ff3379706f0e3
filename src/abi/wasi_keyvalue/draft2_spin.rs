//! Spin's `wasi:keyvalue/batch@0.2.0-draft2`, whose `get-many` answers every
//! key, `none` where absent (wasi-keyvalue PR #55), where upstream's answers
//! `option<tuple<...>>` per key. `store` and `atomics` are upstream's.

use wasmtime::component::Resource;

use super::KeyValueView;
use super::draft2::error;
use super::draft2::wasi::keyvalue::store::Error;
use crate::kv::Bucket;

wasmtime::component::bindgen!({
    path: "wit/keyvalue-0.2.0-draft2-spin",
    world: "wasi:keyvalue/imports",
    imports: { default: async | trappable },
    with: {
        "wasi:keyvalue/store": super::draft2::wasi::keyvalue::store,
        "wasi:keyvalue/atomics": super::draft2::wasi::keyvalue::atomics,
    },
});

pub use wasi::keyvalue::batch::add_to_linker;

impl wasi::keyvalue::batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, Error>> {
        let found = super::get_many(self.bucket(&bucket)?, keys).await;
        Ok(found.map_err(error))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let bucket = self.bucket(&bucket)?;
        Ok(super::set_many(bucket, key_values).await.map_err(error))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let bucket = self.bucket(&bucket)?;
        Ok(super::delete_many(bucket, keys).await.map_err(error))
    }
}
