//! `wasi:keyvalue` for components, at both versions guests import:
//! `0.2.0-draft2` (Spin and current guest tooling; [`draft2`], with Spin's
//! own shape of `batch` in [`draft2_spin`]) and `0.2.0-draft`
//! (`wasmtime serve -S keyvalue`; [`draft`]), each with `store`, `atomics`
//! and `batch`, all on the app's [`AppStores`].
//!
//! Bindings are generated from the vendored WIT in `wit/`. The two versions
//! differ only in the list-keys cursor (`string` / `u64`), the integer of
//! `increment` (`s64` / `u64`) and compare-and-swap (draft2 only); what they
//! share is written once, in [`store_and_batch!`], over each version's
//! generated types. `open("default")` is the app's private store (and so is
//! `open("")`, the one store of `wasmtime serve -S keyvalue`); any other
//! identifier is a store the config granted the app, else `access-denied`.

mod draft;
mod draft2;
mod draft2_spin;

use wasmtime::component::{HasData, Linker, ResourceTable};

use crate::kv::{AppStores, Bucket, DEFAULT_STORE, KvError};

/// Keys one `list-keys` call returns at most; the cursor gives the rest.
const PAGE: usize = 1000;

/// What the host functions reach in the instance's state.
pub struct KeyValueView<'a> {
    pub stores: &'a AppStores,
    pub table: &'a mut ResourceTable,
}

struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValueView<'a>;
}

/// Adds every interface of both versions to `linker`, draft2's `batch` in
/// its upstream shape.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    draft2::Imports::add_to_linker::<T, HasKeyValue>(linker, view)?;
    draft::Imports::add_to_linker::<T, HasKeyValue>(linker, view)
}

/// Replaces, in a linker that [`add_to_linker`] filled, draft2's `batch`
/// with Spin's: same name and version, but `get-many` returns
/// `list<tuple<string, option<list<u8>>>>`. A component built against one
/// shape does not link with the other, so components that fail to link
/// with the upstream shape are tried with this one.
pub fn add_spin_batch_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    draft2_spin::add_to_linker::<T, HasKeyValue>(linker, view)
}

impl KeyValueView<'_> {
    fn open(&mut self, identifier: &str) -> Result<Bucket, KvError> {
        // `wasmtime serve -S keyvalue` names its one store "": components
        // written for it get the app's private store.
        let label = if identifier.is_empty() {
            DEFAULT_STORE
        } else {
            identifier
        };
        self.stores.open(label)
    }

    fn bucket<T: 'static>(
        &self,
        handle: &wasmtime::component::Resource<T>,
    ) -> wasmtime::Result<&T> {
        Ok(self.table.get(handle)?)
    }
}

/// One page of `bucket`'s keys after `after`, and whether more follow.
async fn page(bucket: &Bucket, after: Option<&str>) -> Result<(Vec<String>, bool), KvError> {
    let mut keys = bucket.list("", after, PAGE + 1).await?;
    let more = keys.len() > PAGE;
    keys.truncate(PAGE);
    Ok((keys, more))
}

/// Each key with its value, `None` where absent, in the order asked.
async fn get_many(
    bucket: &Bucket,
    keys: Vec<String>,
) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
    let mut found = Vec::with_capacity(keys.len());
    for key in keys {
        let value = bucket.get(&key).await?;
        found.push((key, value));
    }
    Ok(found)
}

/// Stops at the first refusal; the writes before it stay.
async fn set_many(bucket: &Bucket, key_values: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
    for (key, value) in key_values {
        bucket.set(&key, value).await?;
    }
    Ok(())
}

async fn delete_many(bucket: &Bucket, keys: Vec<String>) -> Result<(), KvError> {
    for key in keys {
        bucket.delete(&key).await?;
    }
    Ok(())
}

/// The `store` and `batch` interfaces over the generated bindings of the
/// version module it is invoked in, which defines `Cursor` and `list_keys`.
macro_rules! store_and_batch {
    () => {
        use wasi::keyvalue::{batch, store};
        use wasmtime::component::Resource;

        use super::KeyValueView;
        use crate::kv::{Bucket, KvError};

        pub(super) fn error(error: KvError) -> store::Error {
            match error {
                KvError::AccessDenied(_) => store::Error::AccessDenied,
                KvError::NoSuchStore(_) => store::Error::NoSuchStore,
                other => store::Error::Other(other.to_string()),
            }
        }

        impl store::Host for KeyValueView<'_> {
            async fn open(
                &mut self,
                identifier: String,
            ) -> wasmtime::Result<Result<Resource<Bucket>, store::Error>> {
                match KeyValueView::open(self, &identifier) {
                    Ok(bucket) => Ok(Ok(self.table.push(bucket)?)),
                    Err(e) => Ok(Err(error(e))),
                }
            }
        }

        impl store::HostBucket for KeyValueView<'_> {
            async fn get(
                &mut self,
                bucket: Resource<Bucket>,
                key: String,
            ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
                Ok(self.bucket(&bucket)?.get(&key).await.map_err(error))
            }

            async fn set(
                &mut self,
                bucket: Resource<Bucket>,
                key: String,
                value: Vec<u8>,
            ) -> wasmtime::Result<Result<(), store::Error>> {
                Ok(self.bucket(&bucket)?.set(&key, value).await.map_err(error))
            }

            async fn delete(
                &mut self,
                bucket: Resource<Bucket>,
                key: String,
            ) -> wasmtime::Result<Result<(), store::Error>> {
                let deleted = self.bucket(&bucket)?.delete(&key).await;
                Ok(deleted.map(|_| ()).map_err(error))
            }

            async fn exists(
                &mut self,
                bucket: Resource<Bucket>,
                key: String,
            ) -> wasmtime::Result<Result<bool, store::Error>> {
                Ok(self.bucket(&bucket)?.exists(&key).await.map_err(error))
            }

            async fn list_keys(
                &mut self,
                bucket: Resource<Bucket>,
                cursor: Option<Cursor>,
            ) -> wasmtime::Result<Result<store::KeyResponse, store::Error>> {
                let bucket = self.bucket(&bucket)?;
                Ok(list_keys(bucket, cursor).await.map_err(error))
            }

            async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
                self.table.delete(bucket)?;
                Ok(())
            }
        }

        impl batch::Host for KeyValueView<'_> {
            async fn get_many(
                &mut self,
                bucket: Resource<Bucket>,
                keys: Vec<String>,
            ) -> wasmtime::Result<Result<Vec<Option<(String, Vec<u8>)>>, store::Error>> {
                let found = super::get_many(self.bucket(&bucket)?, keys).await;
                let pairs = |found: Vec<(String, Option<Vec<u8>>)>| {
                    let present = |(key, value): (String, Option<Vec<u8>>)| Some((key, value?));
                    found.into_iter().map(present).collect()
                };
                Ok(found.map(pairs).map_err(error))
            }

            async fn set_many(
                &mut self,
                bucket: Resource<Bucket>,
                key_values: Vec<(String, Vec<u8>)>,
            ) -> wasmtime::Result<Result<(), store::Error>> {
                let bucket = self.bucket(&bucket)?;
                Ok(super::set_many(bucket, key_values).await.map_err(error))
            }

            async fn delete_many(
                &mut self,
                bucket: Resource<Bucket>,
                keys: Vec<String>,
            ) -> wasmtime::Result<Result<(), store::Error>> {
                let bucket = self.bucket(&bucket)?;
                Ok(super::delete_many(bucket, keys).await.map_err(error))
            }
        }
    };
}
use store_and_batch;
