//! Routing cost, and what 10,000 routes add to it.
//!
//! The small table is 100 apps, exact and prefix routes, looked up for a hit,
//! a prefix hit deep below its base and a miss; then the same with 20 Spin
//! routes (`:name` segments, wildcards) of one app added.
//!
//! The large tables are what a node with many apps holds, at 100 and at
//! 10,000 routes of the same mix: 40 % exact (`/app1234`), 40 % prefix
//! (`/static/app1234/...`) and 20 % Spin routes of mounted apps, all under
//! one base (`/shop/v1234/items/:id`, `/shop/v1234/files/...`), so that a
//! first-segment index alone would not narrow them down. Each is looked up
//! for exact hits at the start, middle and end of the table, a deep prefix
//! hit, Spin `:param` and wildcard hits, and misses (one under `/shop`).
//!
//!     cargo bench --bench router

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use http::Method;
use serverless_wasm::router::{Lookup, Methods, Route, Router, SpinRoute};

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
        (spin_route(&raw), Methods::Any)
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

fn spin_route(raw: &str) -> Route {
    Route::Spin(SpinRoute::parse(raw).expect("a valid Spin route"))
}

/// `count` routes of many apps: route i is `/app{i}` when i % 5 is 0 or 1,
/// `/static/app{i}/...` when it is 2 or 3, and a Spin route when it is 4
/// (`/shop/v{i}/items/:id`, or `/shop/v{i}/files/...` for every other one).
fn many_apps(count: usize) -> Router {
    Router::new((0..count).map(|i| {
        let route = match i % 5 {
            0 | 1 => Route::parse(&format!("/app{i}")).expect("a valid route"),
            2 | 3 => Route::parse(&format!("/static/app{i}/...")).expect("a valid route"),
            _ if i % 10 == 4 => spin_route(&format!("/shop/v{i}/items/:id")),
            _ => spin_route(&format!("/shop/v{i}/files/...")),
        };
        (route, Methods::List(vec![Method::GET, Method::POST]))
    }))
}

/// The requests for [`many_apps`]`(count)`: each named lookup and its path.
fn many_apps_paths(count: usize) -> Vec<(&'static str, String)> {
    // The exact, prefix and Spin routes nearest to a position in the table.
    let at = |i: usize, kind: usize| i - i % 5 + kind;
    let middle = count / 2;
    vec![
        ("exact hit, first route", format!("/app{}", at(0, 0))),
        ("exact hit, middle", format!("/app{}", at(middle, 1))),
        ("exact hit, last", format!("/app{}", at(count - 1, 1))),
        (
            "prefix hit, deep",
            format!("/static/app{}/css/deep/site.css", at(middle, 2)),
        ),
        (
            "Spin :param hit",
            format!("/shop/v{}/items/42", at(middle, 4) / 10 * 10 + 4),
        ),
        (
            "Spin wildcard hit",
            format!("/shop/v{}/files/a/b.txt", at(middle, 4) / 10 * 10 + 9),
        ),
        ("miss", "/nothing/here/at/all".to_owned()),
        ("miss under /shop", "/shop/v1/items/42".to_owned()),
    ]
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

fn lookups_with_many_apps(c: &mut Criterion) {
    for count in [100, 10_000] {
        let router = many_apps(count);
        for (name, path) in many_apps_paths(count) {
            // Every benchmarked path routes as intended, or the numbers mean nothing.
            let found = router.lookup(&Method::GET, &path);
            let expect_found = !name.starts_with("miss");
            assert_eq!(
                matches!(found, Lookup::Found(_)),
                expect_found,
                "{count} routes, {name}: {path} gave {found:?}"
            );
            c.bench_function(&format!("router, {count} routes: {name}"), |b| {
                b.iter(|| router.lookup(black_box(&Method::GET), black_box(&path)))
            });
        }
    }
}

criterion_group!(
    benches,
    lookups,
    lookups_with_spin_routes,
    lookups_with_many_apps
);
criterion_main!(benches);
