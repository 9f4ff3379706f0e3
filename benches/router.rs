//! Routing cost: a lookup in a table of 100 apps, exact and prefix routes,
//! for a hit, a prefix hit deep below its base, and a miss.
//!
//!     cargo bench --bench router

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use http::Method;
use serverless_wasm::router::{Methods, Route, Router};

fn table() -> Router {
    let routes = (0..100).map(|i| {
        let path = if i % 2 == 0 {
            format!("/api/v1/app{i}")
        } else {
            format!("/static/app{i}/...")
        };
        let route = Route::parse(&path).expect("a valid route");
        (route, Methods::List(vec![Method::GET, Method::POST]))
    });
    Router::new(routes)
}

fn lookups(c: &mut Criterion) {
    let router = table();
    for (name, path) in [
        ("exact hit", "/api/v1/app42"),
        ("prefix hit", "/static/app43/css/deep/site.css"),
        ("miss", "/nothing/here/at/all"),
    ] {
        c.bench_function(&format!("router: {name}"), |b| {
            b.iter(|| router.lookup(black_box(&Method::GET), black_box(path)))
        });
    }
}

criterion_group!(benches, lookups);
criterion_main!(benches);
