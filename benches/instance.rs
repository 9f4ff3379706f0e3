//! The life of one instance, measured through the same path a request takes
//! (`App::handle`): instantiate a fresh instance from the pool, call the
//! guest, read its whole response, drop the instance. For the classic
//! `examples/hello.wat` and the wasi:http 0.2 hello component of
//! `examples/wasi-http/rust` (built here when missing).
//!
//!     cargo bench --bench instance

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt as _;
use serverless_wasm::abi::full_body;
use serverless_wasm::app::Apps;
use serverless_wasm::compile_cache::CompileCache;
use serverless_wasm::config::AppConfig;
use serverless_wasm::kv::Stores;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn hello_component() -> Option<PathBuf> {
    let project = repo().join("examples/wasi-http/rust");
    let wasm = project.join("target/wasm32-wasip2/release/hello.wasm");
    if !wasm.exists() {
        let built = Command::new("cargo")
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "-p",
                "hello",
            ])
            .current_dir(&project)
            .status();
        if !built.is_ok_and(|status| status.success()) {
            eprintln!("cannot build {}; skipping the component", wasm.display());
            return None;
        }
    }
    Some(wasm)
}

fn load(module: PathBuf) -> Apps {
    let config = AppConfig::for_module(module.clone());
    match Apps::load(&[config], None, CompileCache::disabled(), &Stores::none()) {
        Ok(apps) => apps,
        Err(problems) => panic!("{}: {}", module.display(), problems.join("\n")),
    }
}

/// One request through a freshly loaded app, timed from the call to the
/// last byte of the response body.
fn bench_app(c: &mut Criterion, name: &str, apps: &Apps) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let app = apps.get(0).expect("one app");
    c.bench_function(name, |b| {
        b.iter(|| {
            runtime.block_on(async {
                let request = Request::get("/hello")
                    .header("host", "localhost")
                    .body(full_body(Bytes::new()))
                    .unwrap();
                let response = app.handle(request).await.unwrap_or_else(|e| panic!("{e}"));
                let body = response.into_body().collect().await.expect("a body");
                assert!(!body.to_bytes().is_empty());
            })
        })
    });
}

fn instance_lifecycle(c: &mut Criterion) {
    let classic = load(repo().join("examples/hello.wat"));
    bench_app(c, "classic hello: instantiate, call, drop", &classic);
    if let Some(component) = hello_component() {
        let component = load(component);
        bench_app(c, "wasi:http hello: instantiate, call, drop", &component);
    }
}

criterion_group!(benches, instance_lifecycle);
criterion_main!(benches);
