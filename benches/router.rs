//! Routing cost: a lookup in a table of 100 apps, exact and prefix routes,
//! for a hit, a prefix hit deep below its base, and a miss; and the same
//! table with 20 Spin routes (`:name` segments, wildcards) added, which
//! every lookup then also tries.
//!
//!     cargo bench --bench router

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use http::Method;
use serverless_wasm::router::{Methods, Route, Router, SpinRoute};

fn table() -> Router {
    Router::new(native_routes())
}

/// [`table`] and, after its routes, 20 Spin routes of an app.
fn table_with_spin_routes() -> Router {
    let spin = (0..20).map(|i| {
        let raw = match i % 2 {
            0 => format!("/shop/v{i}/items/:id"),
            _ => format!("/shop/v{i}/users/:user/..."),
        };
        let route = SpinRoute::parse(&raw).expect("a valid Spin route");
        (Route::Spin(route), Methods::Any)
    });
    Router::new(native_routes().chain(spin))
}

fn native_routes() -> impl Iterator<Item = (Route, Methods)> {
    (0..100).map(|i| {
        let path = if i % 2 == 0 {
            format!("/api/v1/app{i}")
        } else {
            format!("/static/app{i}/...")
        };
        let route = Route::parse(&path).expect("a valid route");
        (route, Methods::List(vec![Method::GET, Method::POST]))
    })
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

fn lookups_with_spin_routes(c: &mut Criterion) {
    let router = table_with_spin_routes();
    for (name, path) in [
        ("exact hit beside Spin routes", "/api/v1/app42"),
        ("Spin :param hit", "/shop/v10/items/42"),
        ("Spin wildcard hit", "/shop/v11/users/ann/posts/7"),
        ("miss beside Spin routes", "/nothing/here/at/all"),
    ] {
        c.bench_function(&format!("router: {name}"), |b| {
            b.iter(|| router.lookup(black_box(&Method::GET), black_box(path)))
        });
    }
}

criterion_group!(benches, lookups, lookups_with_spin_routes);
criterion_main!(benches);
