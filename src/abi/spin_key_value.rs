//! Spin's key-value interface for components, at both versions Spin guests
//! import: `fermyon:spin/key-value@2.0.0` (plain functions) and
//! `spin:key-value/key-value@3.0.0` (`async func`s; `get-keys` answers a
//! `stream<string>` and a `future` for its outcome). Both act on the app's
//! [`AppStores`](crate::kv::AppStores) through the [`KeyValueView`] that
//! `wasi:keyvalue` uses, so a Spin guest and a `wasi:keyvalue` guest of the
//! same app see the same stores.
//!
//! `open(label)` is the app's store of that label (`default`, or one the
//! config granted), else `access-denied`; store errors map to `error` as in
//! `wasi:keyvalue` (`no-such-store`, `access-denied`, else `other(message)`).
//! `get-keys` lists every key, [`PAGE`] at a time from the backend: 2.0.0
//! answers them in one list, 3.0.0 streams each page as the guest reads.
//! Bindings come from the vendored WIT in `wit/` (`spin-2.0.0/`,
//! `spin-key-value-3.0.0/`) with an inline world that imports only these two
//! interfaces.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Accessor, Destination, FutureReader, HasData, Linker, Resource, StreamProducer, StreamReader,
    StreamResult, VecBuffer,
};

use super::wasi_keyvalue::KeyValueView;
use crate::kv::{Bucket, KvError};

wasmtime::component::bindgen!({
    inline: "
        package serverless-wasm:spin-key-value;

        world imports {
            import fermyon:spin/key-value@2.0.0;
            import spin:key-value/key-value@3.0.0;
        }
    ",
    path: ["wit/spin-2.0.0", "wit/spin-key-value-3.0.0"],
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::kv::Bucket,
        "spin:key-value/key-value.store": crate::kv::Bucket,
    },
});

use fermyon::spin::key_value as v2;
use spin::key_value::key_value as v3;

/// Keys asked of the backend at once.
const PAGE: usize = 1000;

struct HasSpinKeyValue;

impl HasData for HasSpinKeyValue {
    type Data<'a> = KeyValueView<'a>;
}

/// Adds both versions of Spin's key-value interface to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    v2::add_to_linker::<T, HasSpinKeyValue>(linker, view)?;
    v3::add_to_linker::<T, HasSpinKeyValue>(linker, view)
}

/// A store error as both versions' `error` say it.
macro_rules! error_of {
    ($version:ident) => {
        |error: KvError| match error {
            KvError::AccessDenied(_) => $version::Error::AccessDenied,
            KvError::NoSuchStore(_) => $version::Error::NoSuchStore,
            other => $version::Error::Other(other.to_string()),
        }
    };
}

/// Every key of `bucket`, in key order.
async fn all_keys(bucket: &Bucket) -> Result<Vec<String>, KvError> {
    let mut keys: Vec<String> = Vec::new();
    loop {
        let page = bucket
            .list("", keys.last().map(String::as_str), PAGE)
            .await?;
        let last_page = page.len() < PAGE;
        keys.extend(page);
        if last_page {
            return Ok(keys);
        }
    }
}

impl v2::Host for KeyValueView<'_> {}

impl v2::HostStore for KeyValueView<'_> {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, v2::Error>> {
        match self.stores.open(&label) {
            Ok(bucket) => Ok(Ok(self.table.push(bucket)?)),
            Err(e) => Ok(Err(error_of!(v2)(e))),
        }
    }

    async fn get(
        &mut self,
        store: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, v2::Error>> {
        let bucket = self.table.get(&store)?;
        Ok(bucket.get(&key).await.map_err(error_of!(v2)))
    }

    async fn set(
        &mut self,
        store: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v2::Error>> {
        let bucket = self.table.get(&store)?;
        Ok(bucket.set(&key, value).await.map_err(error_of!(v2)))
    }

    async fn delete(
        &mut self,
        store: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), v2::Error>> {
        let bucket = self.table.get(&store)?;
        Ok(bucket.delete(&key).await.map(|_| ()).map_err(error_of!(v2)))
    }

    async fn exists(
        &mut self,
        store: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, v2::Error>> {
        let bucket = self.table.get(&store)?;
        Ok(bucket.exists(&key).await.map_err(error_of!(v2)))
    }

    async fn get_keys(
        &mut self,
        store: Resource<Bucket>,
    ) -> wasmtime::Result<Result<Vec<String>, v2::Error>> {
        let bucket = self.table.get(&store)?;
        Ok(all_keys(bucket).await.map_err(error_of!(v2)))
    }

    async fn drop(&mut self, store: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl v3::Host for KeyValueView<'_> {}

impl v3::HostStore for KeyValueView<'_> {
    async fn drop(&mut self, store: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

/// The bucket behind a guest's handle, cloned out of the instance's table
/// so that the call can wait on the backend without holding the store.
fn bucket<T>(
    accessor: &Accessor<T, HasSpinKeyValue>,
    store: &Resource<Bucket>,
) -> wasmtime::Result<Bucket> {
    accessor.with(|mut access| Ok(access.get().table.get(store)?.clone()))
}

impl<T> v3::HostStoreWithStore<T> for HasSpinKeyValue {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, v3::Error>> {
        accessor.with(|mut access| {
            let view = access.get();
            match view.stores.open(&label) {
                Ok(bucket) => Ok(Ok(view.table.push(bucket)?)),
                Err(e) => Ok(Err(error_of!(v3)(e))),
            }
        })
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, v3::Error>> {
        let bucket = bucket(accessor, &store)?;
        Ok(bucket.get(&key).await.map_err(error_of!(v3)))
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let bucket = bucket(accessor, &store)?;
        Ok(bucket.set(&key, value).await.map_err(error_of!(v3)))
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let bucket = bucket(accessor, &store)?;
        Ok(bucket.delete(&key).await.map(|_| ()).map_err(error_of!(v3)))
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, v3::Error>> {
        let bucket = bucket(accessor, &store)?;
        Ok(bucket.exists(&key).await.map_err(error_of!(v3)))
    }

    /// The keys stream out a page at a time, each page read from the
    /// backend only once the guest has taken the one before; the future
    /// resolves when the stream ends: `ok` after the last key, or the error
    /// that cut the listing short.
    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<Bucket>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), v3::Error>>)> {
        let bucket = bucket(accessor, &store)?;
        let (outcome_tx, outcome_rx) = oneshot::channel();
        accessor.with(|mut access| {
            let keys = StreamReader::new(&mut access, KeyStream::new(bucket, outcome_tx))?;
            let outcome = FutureReader::new(&mut access, outcome_rx)?;
            Ok((keys, outcome))
        })
    }
}

/// One page of keys being read from the backend.
type PendingPage = Pin<Box<dyn Future<Output = Result<Vec<String>, KvError>> + Send>>;

/// The producer of `get-keys`' stream: pages of a bucket's keys, in order.
struct KeyStream {
    bucket: Bucket,
    /// The last key handed out: the next page starts after it.
    after: Option<String>,
    /// The page being read, if a read has started.
    pending: Option<PendingPage>,
    /// Where the outcome goes once the keys end; `None` once sent.
    outcome: Option<oneshot::Sender<Result<(), v3::Error>>>,
}

impl KeyStream {
    fn new(bucket: Bucket, outcome: oneshot::Sender<Result<(), v3::Error>>) -> KeyStream {
        KeyStream {
            bucket,
            after: None,
            pending: None,
            outcome: Some(outcome),
        }
    }

    /// Sends the outcome (the guest may have dropped its future: no matter).
    fn end(&mut self, outcome: Result<(), v3::Error>) {
        if let Some(sender) = self.outcome.take() {
            let _ = sender.send(outcome);
        }
    }
}

impl Drop for KeyStream {
    /// A guest that drops the stream early still gets its future resolved.
    fn drop(&mut self) {
        self.end(Ok(()));
    }
}

impl<D> StreamProducer<D> for KeyStream {
    type Item = String;
    type Buffer = VecBuffer<String>;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut destination: Destination<'a, Self::Item, Self::Buffer>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let this = self.get_mut();
        // A zero-length read asks whether keys are ready: say yes, and read
        // the page when the guest asks for keys.
        if destination.remaining(&mut store) == Some(0) {
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        let pending = this.pending.get_or_insert_with(|| {
            let bucket = this.bucket.clone();
            let after = this.after.clone();
            Box::pin(async move { bucket.list("", after.as_deref(), PAGE).await })
        });
        let page = match pending.as_mut().poll(cx) {
            Poll::Ready(page) => page,
            Poll::Pending if finish => {
                // Listing changes nothing: a cancelled read just drops it.
                this.pending = None;
                return Poll::Ready(Ok(StreamResult::Cancelled));
            }
            Poll::Pending => return Poll::Pending,
        };
        this.pending = None;
        match page {
            Ok(keys) => {
                let last_page = keys.len() < PAGE;
                this.after = keys.last().cloned().or(this.after.take());
                destination.set_buffer(keys.into());
                if last_page {
                    this.end(Ok(()));
                    Poll::Ready(Ok(StreamResult::Dropped))
                } else {
                    Poll::Ready(Ok(StreamResult::Completed))
                }
            }
            Err(e) => {
                this.end(Err(error_of!(v3)(e)));
                Poll::Ready(Ok(StreamResult::Dropped))
            }
        }
    }
}
