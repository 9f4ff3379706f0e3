use super::*;

fn route(url_path: &str) -> Route {
    match Route::parse(url_path) {
        Ok(route) => route,
        Err(error) => panic!("`{url_path}` should parse: {error}"),
    }
}

fn methods(names: &[&str]) -> Methods {
    let parse = |name: &&str| match Method::from_bytes(name.as_bytes()) {
        Ok(method) => method,
        Err(error) => panic!("`{name}`: {error}"),
    };
    Methods::List(names.iter().map(parse).collect())
}

fn router(routes: &[(&str, &[&str])]) -> Router {
    Router::new(routes.iter().map(|(path, names)| {
        let methods = if names == &["*"] {
            Methods::Any
        } else {
            methods(names)
        };
        (route(path), methods)
    }))
}

fn not_allowed(allow: &str) -> Lookup {
    Lookup::MethodNotAllowed {
        allow: HeaderValue::from_str(allow).unwrap_or_else(|error| panic!("{error}")),
    }
}

#[test]
fn parses_exact_and_prefix_routes() {
    assert_eq!(route("/hello"), Route::Exact("/hello".into()));
    assert_eq!(route("/"), Route::Exact("/".into()));
    assert_eq!(route("/static/..."), Route::Prefix("/static".into()));
    assert_eq!(route("/..."), Route::Prefix(String::new()));
    for text in ["/hello", "/", "/static/...", "/...", "/a/b/", "/a.b"] {
        assert_eq!(route(text).to_string(), text);
    }
}

#[test]
fn rejects_malformed_routes() {
    for (text, why) in [
        ("hello", "must start with `/`"),
        ("", "must start with `/`"),
        ("/he llo", "whitespace"),
        ("/hello\t", "whitespace"),
        ("/a?b=1", "query"),
        ("/a#top", "fragment"),
        ("/a/.../b", "`...` may only end a path"),
        ("/a...", "`...` may only end a path"),
        ("/a/.../...", "`...` may only end a path"),
        ("/....", "`...` may only end a path"),
    ] {
        match Route::parse(text) {
            Ok(route) => panic!("`{text}` parsed as {route:?}"),
            Err(error) => assert!(error.contains(why), "`{text}`: {error}"),
        }
    }
}

#[test]
fn exact_route_matches_only_its_path() {
    let hello = route("/hello");
    assert!(hello.matches("/hello"));
    assert!(!hello.matches("/hello/"));
    assert!(!hello.matches("/hello/x"));
    assert!(!hello.matches("/hell"));
}

#[test]
fn prefix_route_matches_itself_and_below_but_not_siblings() {
    let statics = route("/static/...");
    assert!(statics.matches("/static"));
    assert!(statics.matches("/static/"));
    assert!(statics.matches("/static/css/site.css"));
    assert!(!statics.matches("/staticfoo"));
    assert!(!statics.matches("/"));
    let everything = route("/...");
    assert!(everything.matches("/"));
    assert!(everything.matches("/any/path"));
}

#[test]
fn methods_allow_head_wherever_get_is_allowed() {
    let get = methods(&["GET"]);
    assert!(get.allows(&Method::GET));
    assert!(get.allows(&Method::HEAD));
    assert!(!get.allows(&Method::POST));
    assert!(!methods(&["POST"]).allows(&Method::HEAD));
    assert!(Methods::Any.allows(&Method::DELETE));
}

#[test]
fn overlap_is_by_explicitly_listed_methods() {
    assert!(methods(&["GET", "POST"]).overlaps(&methods(&["POST"])));
    assert!(!methods(&["GET"]).overlaps(&methods(&["POST"])));
    assert!(!methods(&["GET"]).overlaps(&methods(&["HEAD"])));
    assert!(Methods::Any.overlaps(&methods(&["PUT"])));
    assert!(methods(&["PUT"]).overlaps(&Methods::Any));
    assert!(Methods::Any.overlaps(&Methods::Any));
    assert!(!Methods::Any.overlaps(&methods(&[])));
}

#[test]
fn methods_display_as_written_in_the_config() {
    assert_eq!(Methods::Any.to_string(), "*");
    assert_eq!(methods(&["GET"]).to_string(), "GET");
    assert_eq!(methods(&["GET", "POST"]).to_string(), "GET, POST");
}

#[test]
fn finds_the_app_by_index() {
    let router = router(&[("/hello", &["GET"]), ("/backend", &["GET"])]);
    assert_eq!(router.lookup(&Method::GET, "/hello"), Lookup::Found(0));
    assert_eq!(router.lookup(&Method::GET, "/backend"), Lookup::Found(1));
    assert_eq!(router.lookup(&Method::GET, "/other"), Lookup::NotFound);
    assert_eq!(
        Router::default().lookup(&Method::GET, "/"),
        Lookup::NotFound
    );
}

#[test]
fn exact_route_beats_prefix_routes() {
    let router = router(&[
        ("/...", &["*"]),
        ("/api/...", &["*"]),
        ("/api/users", &["*"]),
    ]);
    assert_eq!(router.lookup(&Method::GET, "/api/users"), Lookup::Found(2));
    assert_eq!(
        router.lookup(&Method::GET, "/api/users/7"),
        Lookup::Found(1)
    );
    assert_eq!(router.lookup(&Method::GET, "/api"), Lookup::Found(1));
    assert_eq!(router.lookup(&Method::GET, "/apix"), Lookup::Found(0));
    assert_eq!(router.lookup(&Method::GET, "/"), Lookup::Found(0));
}

#[test]
fn longest_prefix_wins() {
    let router = router(&[
        ("/a/...", &["GET"]),
        ("/a/b/c/...", &["GET"]),
        ("/a/b/...", &["GET"]),
    ]);
    assert_eq!(router.lookup(&Method::GET, "/a/b/c/d"), Lookup::Found(1));
    assert_eq!(router.lookup(&Method::GET, "/a/b/cd"), Lookup::Found(2));
    assert_eq!(router.lookup(&Method::GET, "/a/b"), Lookup::Found(2));
    assert_eq!(router.lookup(&Method::GET, "/a/x"), Lookup::Found(0));
    assert_eq!(router.lookup(&Method::GET, "/b"), Lookup::NotFound);
}

#[test]
fn a_less_specific_route_serves_methods_the_specific_one_refuses() {
    let router = router(&[("/api/...", &["POST"]), ("/api/users", &["GET"])]);
    assert_eq!(router.lookup(&Method::GET, "/api/users"), Lookup::Found(1));
    assert_eq!(router.lookup(&Method::POST, "/api/users"), Lookup::Found(0));
}

#[test]
fn same_path_routes_split_by_method() {
    let router = router(&[("/items", &["GET"]), ("/items", &["POST", "PUT"])]);
    assert_eq!(router.lookup(&Method::GET, "/items"), Lookup::Found(0));
    assert_eq!(router.lookup(&Method::PUT, "/items"), Lookup::Found(1));
}

#[test]
fn wrong_method_gets_405_with_sorted_union_of_path_matching_methods() {
    let router = router(&[
        ("/api/...", &["POST", "GET"]),
        ("/api/users", &["PUT", "POST"]),
        ("/other", &["DELETE"]),
    ]);
    assert_eq!(
        router.lookup(&Method::DELETE, "/api/users"),
        not_allowed("GET, HEAD, POST, PUT")
    );
    assert_eq!(
        router.lookup(&Method::PATCH, "/api"),
        not_allowed("GET, HEAD, POST")
    );
    assert_eq!(router.lookup(&Method::GET, "/other"), not_allowed("DELETE"));
}

#[test]
fn route_without_methods_still_answers_405() {
    let router = Router::new([(route("/nothing"), Methods::List(Vec::new()))]);
    assert_eq!(router.lookup(&Method::GET, "/nothing"), not_allowed(""));
}

#[test]
fn head_is_served_by_get_route() {
    let router = router(&[("/page", &["GET"])]);
    assert_eq!(router.lookup(&Method::HEAD, "/page"), Lookup::Found(0));
}

#[test]
fn head_prefers_a_route_listing_it_on_the_same_path() {
    let router = router(&[("/page", &["GET"]), ("/page", &["HEAD"])]);
    assert_eq!(router.lookup(&Method::HEAD, "/page"), Lookup::Found(1));
    assert_eq!(router.lookup(&Method::GET, "/page"), Lookup::Found(0));
}

#[test]
fn head_follows_specificity_before_explicitness() {
    let router = router(&[
        ("/...", &["*"]),
        ("/page", &["GET"]),
        ("/docs/...", &["HEAD"]),
        ("/docs/api/...", &["GET"]),
    ]);
    assert_eq!(router.lookup(&Method::HEAD, "/page"), Lookup::Found(1));
    assert_eq!(
        router.lookup(&Method::HEAD, "/docs/api/x"),
        Lookup::Found(3)
    );
    assert_eq!(router.lookup(&Method::HEAD, "/docs/x"), Lookup::Found(2));
}

#[test]
fn probes_only_cuts_at_prefix_lengths_longest_first() {
    let router = router(&[
        ("/...", &["*"]),
        ("/a/...", &["*"]),
        ("/a/b/...", &["*"]),
        ("/xyz/...", &["*"]),
    ]);
    let bases: Vec<&str> = router.possible_bases("/a/b/c").collect();
    assert_eq!(bases, ["/a/b", "/a", ""]);
    let bases: Vec<&str> = router.possible_bases("/a/bc").collect();
    assert_eq!(bases, ["/a", ""]);
}

#[test]
fn long_paths_of_slashes_are_routed() {
    let router = router(&[("/...", &["GET"]), ("/a/...", &["GET"])]);
    let slashes = "/".repeat(65_000);
    assert_eq!(router.lookup(&Method::GET, &slashes), Lookup::Found(0));
    assert_eq!(
        router.lookup(&Method::GET, &format!("/a{slashes}")),
        Lookup::Found(1)
    );
}

#[test]
fn non_ascii_paths_do_not_split_characters() {
    let router = router(&[("/é/...", &["GET"]), ("/ab/...", &["GET"])]);
    assert_eq!(router.lookup(&Method::GET, "/é/x"), Lookup::Found(0));
    assert_eq!(router.lookup(&Method::GET, "/éé"), Lookup::NotFound);
    assert_eq!(router.lookup(&Method::GET, "/a"), Lookup::NotFound);
}

fn spin(raw: &str) -> Route {
    Route::Spin(SpinRoute::parse(raw).unwrap_or_else(|error| panic!("{raw}: {error}")))
}

fn spin_router(routes: &[&str]) -> Router {
    Router::new(routes.iter().map(|raw| (spin(raw), Methods::Any)))
}

#[test]
fn spin_routes_capture_params_and_path_info() {
    let Route::Spin(route) = spin("/users/:id/posts/...") else {
        unreachable!()
    };
    let captures = route.captures("/users/42/posts/7/edit");
    assert_eq!(
        captures,
        Some(Captures {
            params: vec![("id", "42")],
            path_info: "/7/edit",
        })
    );
    let at_base = route.captures("/users/42/posts").map(|c| c.path_info);
    assert_eq!(at_base, Some(""));
    let slash = route.captures("/users/42/posts/").map(|c| c.path_info);
    assert_eq!(slash, Some("/"));
    assert_eq!(route.captures("/users//posts/x"), None);
    assert_eq!(route.captures("/users/42/postsx"), None);
    assert_eq!(route.param_names().collect::<Vec<_>>(), ["id"]);
}

#[test]
fn spin_exact_routes_take_one_trailing_slash() {
    let route = spin("/hello");
    assert!(route.matches("/hello"));
    assert!(route.matches("/hello/"));
    assert!(!route.matches("/hello/x"));
    assert!(!route.matches("/hell"));
    let root = spin("/");
    assert!(root.matches("/"));
    assert!(!root.matches("/x"));
    assert_eq!(
        spin("/hello/"),
        Route::Spin(SpinRoute::parse("/hello/").unwrap())
    );
    assert_eq!(spin("/hello/").shape(), "/hello");
}

#[test]
fn spin_root_wildcard_matches_everything() {
    let route = spin("/...");
    assert_eq!(route.split("/a/b"), ("", "/a/b"));
    assert_eq!(route.split("/"), ("", "/"));
    assert_eq!(
        spin("/static/...").split("/static/css/x.css"),
        ("/static", "/css/x.css")
    );
    assert_eq!(spin("/a/:b").split("/a/x"), ("/a/x", ""));
}

#[test]
fn spin_routes_refuse_misplaced_ellipses_and_empty_names() {
    for raw in ["/a/.../b", "/a/:", "/a b"] {
        assert!(SpinRoute::parse(raw).is_err(), "{raw}");
    }
}

#[test]
fn literal_beats_param_beats_wildcard_and_longest_wins() {
    let router = spin_router(&[
        "/...",
        "/users/...",
        "/users/:id",
        "/users/me",
        "/users/:id/...",
        "/users/:id/posts/...",
    ]);
    let found = |path| match router.lookup(&Method::GET, path) {
        Lookup::Found(index) => index,
        other => panic!("{path}: {other:?}"),
    };
    assert_eq!(found("/users/me"), 3);
    assert_eq!(found("/users/7"), 2);
    assert_eq!(found("/users/7/"), 2);
    assert_eq!(found("/users/7/posts/1"), 5);
    assert_eq!(found("/users/7/likes"), 4);
    assert_eq!(found("/users"), 1);
    assert_eq!(found("/other"), 0);
    assert_eq!(router.lookup(&Method::DELETE, "/users/7"), Lookup::Found(2));
}

#[test]
fn spin_routes_rank_among_native_ones() {
    let router = Router::new([
        (route("/api/..."), Methods::Any),
        (spin("/api/:version/..."), Methods::Any),
        (route("/api/v1/health"), Methods::Any),
    ]);
    assert_eq!(router.lookup(&Method::GET, "/api/v2/x"), Lookup::Found(1));
    assert_eq!(
        router.lookup(&Method::GET, "/api/v1/health"),
        Lookup::Found(2)
    );
    assert_eq!(router.lookup(&Method::GET, "/api"), Lookup::Found(0));
}

#[test]
fn same_shape_means_same_paths() {
    assert_eq!(spin("/a/:x").shape(), spin("/a/:y").shape());
    assert_eq!(spin("/a/...").shape(), route("/a/...").shape());
    assert_eq!(spin("/a").shape(), route("/a").shape());
    assert_ne!(spin("/a/:x").shape(), spin("/a/x").shape());
}

// The index of Spin routes, precedence across kinds, and large tables.
mod index;
