//! The router's indexes: the Spin route trie against matching each route,
//! precedence between exact, prefix and Spin routes, the two ways of probing
//! prefix bases, and tables of thousands of routes.

use super::*;

/// The routes `router` finds for `path` through its index of Spin routes.
fn spin_matches(router: &Router, path: &str) -> Vec<usize> {
    let mut found = Vec::new();
    router
        .spin_trie
        .for_each_match(path, |index| found.push(index));
    found.sort_unstable();
    found
}

#[test]
fn the_spin_index_finds_what_matching_each_route_finds() {
    // Empty segments, a trailing '/', params and wildcards at every depth.
    let raws = [
        "/",
        "/...",
        "/a",
        "/a/",
        "/a//",
        "/a//b",
        "/a/b",
        "/a/:x",
        "/a/:x/...",
        "/a/...",
        "/:x",
        "/:x/...",
        "/:x/:y",
        "/:x/b",
        "/a/b/c",
        "/a/b/...",
        "/b/:x/c/...",
        "//a",
    ];
    let routes: Vec<SpinRoute> = raws
        .iter()
        .map(|raw| SpinRoute::parse(raw).unwrap_or_else(|error| panic!("{raw}: {error}")))
        .collect();
    let router = spin_router(&raws);
    let paths = [
        "", "/", "//", "///", "/a", "/a/", "/a//", "/a///", "/a//b", "/a//b/", "/a/b", "/a/b/",
        "/a/b/c", "/a/b/c/", "/a/b/c/d", "/a/x", "/a/x/", "/a/x/y", "/b", "/b/x/c", "/b/x/c/d",
        "/b//c", "/x/b", "/x/y/z", "a", "a/b", "/é", "/a/é/",
    ];
    for path in paths {
        let expected: Vec<usize> = (0..routes.len())
            .filter(|&index| routes[index].matches(path))
            .collect();
        assert_eq!(spin_matches(&router, path), expected, "{path:?}");
    }
}

#[test]
fn spin_routes_of_one_app_under_one_segment_are_routed_by_the_index() {
    let raws: Vec<String> = (0..2000)
        .map(|i| match i % 2 {
            0 => format!("/shop/v{i}/items/:id"),
            _ => format!("/shop/v{i}/files/..."),
        })
        .collect();
    let raws: Vec<&str> = raws.iter().map(String::as_str).collect();
    let router = spin_router(&raws);
    assert_eq!(
        router.lookup(&Method::GET, "/shop/v0/items/7"),
        Lookup::Found(0)
    );
    assert_eq!(
        router.lookup(&Method::GET, "/shop/v1000/items/7/"),
        Lookup::Found(1000)
    );
    assert_eq!(
        router.lookup(&Method::GET, "/shop/v1999/files/a/b"),
        Lookup::Found(1999)
    );
    assert_eq!(router.lookup(&Method::GET, "/shop/v1999"), Lookup::NotFound);
    assert_eq!(
        router.lookup(&Method::GET, "/shop/v10/items/"),
        Lookup::NotFound
    );
    assert_eq!(spin_matches(&router, "/shop/v10/items/7"), [10]);
}

#[test]
fn a_native_route_beats_a_spin_route_of_its_shape_whatever_the_order() {
    for spin_first in [false, true] {
        let mut routes = vec![
            (route("/hello"), Methods::Any),
            (route("/static/..."), Methods::Any),
        ];
        let mut spins = vec![
            (spin("/hello"), Methods::Any),
            (spin("/static/..."), Methods::Any),
        ];
        let (hello, statics) = if spin_first {
            spins.append(&mut routes);
            routes = spins;
            (2, 3)
        } else {
            routes.append(&mut spins);
            (0, 1)
        };
        let router = Router::new(routes);
        assert_eq!(router.lookup(&Method::GET, "/hello"), Lookup::Found(hello));
        assert_eq!(
            router.lookup(&Method::GET, "/static/x"),
            Lookup::Found(statics)
        );
        assert_eq!(
            router.lookup(&Method::GET, "/static"),
            Lookup::Found(statics)
        );
        // Spin's trailing slash is the Spin route's only.
        let spin_hello = if spin_first { 0 } else { 2 };
        assert_eq!(
            router.lookup(&Method::GET, "/hello/"),
            Lookup::Found(spin_hello)
        );
    }
}

#[test]
fn spin_routes_outrank_native_ones_by_their_segments() {
    let router = Router::new([
        (route("/..."), Methods::Any),
        (route("/api/..."), Methods::Any),
        (spin("/api/:id"), Methods::Any),
        (spin("/api/users"), Methods::Any),
        (route("/api/users/..."), Methods::Any),
        (spin("/:any/users/..."), Methods::Any),
        (route("/api/users/me"), Methods::Any),
    ]);
    let found = |path| match router.lookup(&Method::GET, path) {
        Lookup::Found(index) => index,
        other => panic!("{path}: {other:?}"),
    };
    assert_eq!(found("/api/7"), 2);
    assert_eq!(found("/api/users"), 3);
    assert_eq!(found("/api/users/7"), 4);
    assert_eq!(found("/api/users/me"), 6);
    assert_eq!(found("/web/users/7"), 5);
    assert_eq!(found("/api/7/x"), 1);
    assert_eq!(found("/web"), 0);
}

#[test]
fn equally_specific_spin_routes_keep_their_config_order() {
    // Same shape, different methods: HEAD goes to the first route that
    // takes it, listed or as GET.
    for (first, second) in [(["GET"], ["HEAD"]), (["HEAD"], ["GET"])] {
        let router = Router::new([
            (spin("/a/:x"), methods(&first)),
            (spin("/a/:y"), methods(&second)),
        ]);
        let get = if first == ["GET"] { 0 } else { 1 };
        assert_eq!(router.lookup(&Method::HEAD, "/a/1"), Lookup::Found(0));
        assert_eq!(router.lookup(&Method::GET, "/a/1"), Lookup::Found(get));
    }
    let router = Router::new([
        (spin("/a/:x"), methods(&["GET"])),
        (spin("/a/:x"), methods(&["HEAD"])),
        (spin("/a/:y"), methods(&["GET"])),
    ]);
    assert_eq!(router.lookup(&Method::HEAD, "/a/1"), Lookup::Found(1));
    assert_eq!(router.lookup(&Method::GET, "/a/1"), Lookup::Found(0));
}

#[test]
fn method_not_allowed_counts_the_spin_routes_the_index_finds() {
    let router = Router::new([
        (route("/api/..."), methods(&["POST"])),
        (spin("/api/:id"), methods(&["PUT"])),
        (spin("/:any/7"), methods(&["DELETE"])),
    ]);
    assert_eq!(
        router.lookup(&Method::GET, "/api/7"),
        not_allowed("DELETE, POST, PUT")
    );
}

#[test]
fn many_prefix_lengths_route_as_few() {
    let routes: Vec<String> = (1..200)
        .map(|n| format!("/{}/...", "x".repeat(n)))
        .collect();
    let mut table: Vec<(&str, &[&str])> =
        routes.iter().map(|r| (r.as_str(), &["GET"][..])).collect();
    table.push(("/...", &["GET"]));
    let router = router(&table);
    let path = format!("/{}/y/z", "x".repeat(150));
    assert_eq!(router.lookup(&Method::GET, &path), Lookup::Found(149));
    assert_eq!(
        router.lookup(&Method::GET, &"x".repeat(300)),
        Lookup::NotFound
    );
    assert_eq!(router.lookup(&Method::GET, "/xx"), Lookup::Found(1));
    assert_eq!(router.lookup(&Method::GET, "/y"), Lookup::Found(199));
}

#[test]
fn prefix_bases_are_probed_at_every_cut_they_could_be() {
    // Against every cut of the path at a length some base has.
    let few = ["/...", "/a/...", "/é/...", "/a/b/..."];
    let many: Vec<String> = (1..40)
        .map(|n| format!("/{}/...", "ab/".repeat(n).trim_end_matches('/')))
        .chain(few.iter().map(|route| route.to_string()))
        .collect();
    for routes in [few.map(str::to_owned).to_vec(), many] {
        let table: Vec<(&str, &[&str])> =
            routes.iter().map(|r| (r.as_str(), &["GET"][..])).collect();
        let router = router(&table);
        let lengths: Vec<usize> = router.prefix.keys().map(String::len).collect();
        for path in [
            "",
            "/",
            "//",
            "/a",
            "/a/",
            "/a/b",
            "/ab/ab/ab/x",
            "/é",
            "/é/x",
            "/a/b/c/d",
            "x/y",
        ] {
            let mut expected: Vec<&str> = (0..=path.len())
                .rev()
                .filter(|length| lengths.contains(length))
                .filter_map(|length| {
                    let rest = path.get(length..)?;
                    (rest.is_empty() || rest.starts_with('/')).then(|| &path[..length])
                })
                .collect();
            expected.dedup();
            let bases: Vec<&str> = router.possible_bases(path).collect();
            assert_eq!(bases, expected, "{} routes, {path:?}", routes.len());
        }
    }
}
