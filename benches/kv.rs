//! What a key-value read costs a classic guest: one request through
//! `App::handle` (as `benches/instance.rs` measures it) calling `db_get` of a
//! present key 0 or 100 times, on the embedded store. The difference of the
//! two, divided by 100, is the cost of one `db_get`. Also the store's own
//! `get`, without the guest, for comparison.
//!
//!     cargo bench --bench kv

use std::path::Path;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt as _;
use serverless_wasm::abi::full_body;
use serverless_wasm::app::Apps;
use serverless_wasm::compile_cache::CompileCache;
use serverless_wasm::config::{AppConfig, StoreScope};
use serverless_wasm::kv::Stores;

/// Calls `db_get("present")` `$reads` times, then answers 200 with the value.
const GUEST: &str = r#"(module
  (import "env" "db_get" (func $db_get (param i32 i64 i32 i64) (result i64)))
  (import "env" "response_set_body" (func $body (param i32 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "present")
  (func (export "handle")
    (local $i i32) (local $len i64)
    (local.set $len (i64.const 0))
    (block $done
      (loop $again
        (br_if $done (i32.ge_u (local.get $i) (i32.const READS)))
        (local.set $len (call $db_get (i32.const 0) (i64.const 7) (i32.const 64) (i64.const 256)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))
    (call $body (i32.const 64) (local.get $len))))
"#;

fn load(dir: &Path, reads: u32, stores: &Stores) -> Apps {
    let module = dir.join(format!("reads{reads}.wat"));
    std::fs::write(&module, GUEST.replace("READS", &reads.to_string())).expect("write the guest");
    let config = AppConfig::for_module(module);
    // Every variant reads the same key of its own private store.
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let store = stores.for_app(&config.name, &[], None, &StoreScope::Own);
    runtime
        .block_on(store.default_store().set("present", vec![b'v'; 64]))
        .expect("store the key");
    Apps::load(&[config], None, CompileCache::disabled(), stores).expect("load the guest")
}

fn db_get(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let stores = Stores::open(&[], &dir.path().join("data")).expect("open the store");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    for reads in [0, 100] {
        let apps = load(dir.path(), reads, &stores);
        let app = apps.get(0).expect("one app");
        c.bench_function(&format!("classic request, {reads} db_get"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let request = Request::get("/").body(full_body(Bytes::new())).unwrap();
                    let response = app.handle(request).await.unwrap_or_else(|e| panic!("{e}"));
                    let body = response.into_body().collect().await.expect("a body");
                    assert_eq!(body.to_bytes().len(), if reads == 0 { 0 } else { 64 });
                })
            })
        });
    }
    let bucket = stores
        .for_app("reads0", &[], None, &StoreScope::Own)
        .default_store()
        .clone();
    c.bench_function("embedded store get, no guest", |b| {
        b.iter(|| runtime.block_on(bucket.get("present")).expect("get"))
    });
}

criterion_group!(benches, db_get);
criterion_main!(benches);
