//! Request routing: which application serves a request, decided by each application's
//! `url_path` ([`Route`]) and `method` ([`Methods`]).

use std::collections::HashMap;
use std::fmt;

use http::{HeaderValue, Method};

/// The methods an application accepts: `"*"`, `"GET"` or `["GET", "POST"]` in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Methods {
    Any,
    List(Vec<Method>),
}

impl Methods {
    /// Whether a request with `method` is accepted; HEAD is accepted wherever GET is.
    pub fn allows(&self, method: &Method) -> bool {
        self.names(method) || (method == Method::HEAD && self.names(&Method::GET))
    }

    /// Whether some method is accepted by both, as written: a GET route and a HEAD route
    /// may share a path, the HEAD one taking the HEAD requests.
    pub fn overlaps(&self, other: &Methods) -> bool {
        match (self, other) {
            (Methods::Any, Methods::Any) => true,
            (Methods::Any, Methods::List(list)) | (Methods::List(list), Methods::Any) => {
                !list.is_empty()
            }
            (Methods::List(left), Methods::List(right)) => {
                left.iter().any(|method| right.contains(method))
            }
        }
    }

    /// Whether `method` is accepted explicitly, without the HEAD-via-GET rule.
    fn names(&self, method: &Method) -> bool {
        match self {
            Methods::Any => true,
            Methods::List(list) => list.contains(method),
        }
    }
}

impl fmt::Display for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Methods::Any => f.write_str("*"),
            Methods::List(list) => f.write_str(&join_method_names(list.iter())),
        }
    }
}

/// The path part of a URL an application serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// This path only.
    Exact(String),
    /// This path and everything below it. Holds the path without its `/...` suffix, so
    /// `/static/...` is `Prefix("/static")` and `/...` is `Prefix("")`.
    Prefix(String),
}

const PREFIX_SUFFIX: &str = "/...";
const ELLIPSIS: &str = "...";

impl Route {
    /// Reads a `url_path`: it starts with '/', and a trailing "/..." makes it a prefix
    /// route: "/static/..." matches "/static" and everything below "/static/" (but not
    /// "/staticfoo"); "/..." matches every path.
    pub fn parse(url_path: &str) -> Result<Route, String> {
        if !url_path.starts_with('/') {
            return Err(format!("`{url_path}` must start with `/`"));
        }
        if let Some(bad) = url_path.chars().find(|&c| is_forbidden_in_path(c)) {
            return Err(format!(
                "`{url_path}` contains {bad:?}; a route is a path without whitespace, query or fragment"
            ));
        }
        let route = match url_path.strip_suffix(PREFIX_SUFFIX) {
            Some(base) => Route::Prefix(base.to_owned()),
            None => Route::Exact(url_path.to_owned()),
        };
        if route.base().contains(ELLIPSIS) {
            return Err(format!(
                "`{url_path}`: `...` may only end a path, as in `/static/...`"
            ));
        }
        Ok(route)
    }

    pub fn matches(&self, path: &str) -> bool {
        match self {
            Route::Exact(exact) => exact == path,
            Route::Prefix(base) => path
                .strip_prefix(base.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        }
    }

    fn base(&self) -> &str {
        match self {
            Route::Exact(path) | Route::Prefix(path) => path,
        }
    }
}

fn is_forbidden_in_path(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == '?' || c == '#'
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Exact(path) => f.write_str(path),
            Route::Prefix(base) => write!(f, "{base}{PREFIX_SUFFIX}"),
        }
    }
}

/// The outcome of routing one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The index of the application that serves it.
    Found(usize),
    NotFound,
    /// Some route has the path but none takes the method; `allow` is for the `Allow`
    /// header of the 405 response.
    MethodNotAllowed {
        allow: HeaderValue,
    },
}

/// Maps method and path to an application index; built once, then only read.
///
/// The most specific route that accepts the method wins: an exact route beats every
/// prefix route, and a longer prefix beats a shorter one. Routes with the same path
/// differ in their methods (overlaps are rejected by the config); of those, one that
/// lists HEAD takes a HEAD request before one that accepts it as GET.
#[derive(Debug, Clone, Default)]
pub struct Router {
    exact: HashMap<String, Vec<Target>>,
    /// Keyed by [`Route::Prefix`]'s base.
    prefix: HashMap<String, Vec<Target>>,
    /// The distinct lengths of those bases, longest first: a lookup probes the request
    /// path cut at these lengths only, so its cost is bounded by the config, whatever
    /// the path (probing every '/' of a long path of slashes would be quadratic).
    prefix_lengths: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Target {
    methods: Methods,
    app: usize,
}

impl Router {
    /// The i-th item routes to app index i.
    pub fn new(routes: impl IntoIterator<Item = (Route, Methods)>) -> Router {
        let mut router = Router::default();
        for (app, (route, methods)) in routes.into_iter().enumerate() {
            let (table, key) = match route {
                Route::Exact(path) => (&mut router.exact, path),
                Route::Prefix(base) => (&mut router.prefix, base),
            };
            table.entry(key).or_default().push(Target { methods, app });
        }
        router.prefix_lengths = router.prefix.keys().map(String::len).collect();
        router
            .prefix_lengths
            .sort_unstable_by(|left, right| right.cmp(left));
        router.prefix_lengths.dedup();
        router
    }

    /// Routes a request; `path` is without the query string.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup {
        if let Some(app) = self
            .same_path_groups(path)
            .find_map(|group| choose_target(group, method))
        {
            return Lookup::Found(app);
        }
        let mut path_matched = false;
        let mut allowed = Vec::new();
        for target in self.same_path_groups(path).flatten() {
            path_matched = true;
            if let Methods::List(list) = &target.methods {
                allowed.extend(list.iter().cloned());
            }
        }
        if path_matched {
            Lookup::MethodNotAllowed {
                allow: allow_header(allowed),
            }
        } else {
            Lookup::NotFound
        }
    }

    /// The targets whose route matches `path`, one group per route, most specific first.
    fn same_path_groups<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a [Target]> {
        let exact = self.exact.get(path);
        let prefixes = self
            .possible_bases(path)
            .filter_map(|base| self.prefix.get(base));
        exact.into_iter().chain(prefixes).map(Vec::as_slice)
    }

    /// The cuts of `path`, longest first, that a prefix route's base could equal: at a
    /// base length, and where the path ends or a '/' follows.
    fn possible_bases<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> {
        self.prefix_lengths.iter().filter_map(move |&length| {
            let base = path.get(..length)?;
            let rest = path.get(length..)?;
            (rest.is_empty() || rest.starts_with('/')).then_some(base)
        })
    }
}

fn choose_target(group: &[Target], method: &Method) -> Option<usize> {
    group
        .iter()
        .find(|target| target.methods.names(method))
        .or_else(|| group.iter().find(|target| target.methods.allows(method)))
        .map(|target| target.app)
}

fn allow_header(mut methods: Vec<Method>) -> HeaderValue {
    if methods.contains(&Method::GET) {
        methods.push(Method::HEAD);
    }
    methods.sort_by(|left, right| left.as_str().cmp(right.as_str()));
    methods.dedup();
    // Method names are tokens, always valid in a header; the fallback is unreachable.
    HeaderValue::from_str(&join_method_names(methods.iter()))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn join_method_names<'a>(methods: impl Iterator<Item = &'a Method>) -> String {
    methods.map(Method::as_str).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
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
}
