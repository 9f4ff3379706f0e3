//! Request routing: which application serves a request, decided by each application's
//! `url_path` ([`Route`]) and `method` ([`Methods`]). Spin's routes ([`SpinRoute`]:
//! `:name` segments, a trailing `/...`) share the table, ranked by the same rule:
//! a literal segment beats a `:name` one, which beats a wildcard. Every kind of route
//! is indexed, so that what a lookup costs does not grow with the number of routes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use http::{HeaderValue, Method};

mod spin_route;
mod spin_trie;

pub use spin_route::{Captures, SpinRoute};
use spin_route::{Kind, Specificity};
use spin_trie::SpinTrie;

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
    /// A route of a Spin app, matched as Spin matches it.
    Spin(SpinRoute),
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
            Route::Prefix(base) => prefix_rest(base, path).is_some(),
            Route::Spin(route) => route.matches(path),
        }
    }

    /// `path` cut where the route's fixed part ends: what the route matched (CGI's
    /// `SCRIPT_NAME`) and the rest (`PATH_INFO`), empty for an exact match.
    pub fn split<'p>(&self, path: &'p str) -> (&'p str, &'p str) {
        let matched = match self {
            Route::Exact(_) => path.len(),
            Route::Prefix(base) => base.len().min(path.len()),
            Route::Spin(route) => route
                .captures(path)
                .map_or(path.len(), |captures| path.len() - captures.path_info.len()),
        };
        path.split_at_checked(matched).unwrap_or((path, ""))
    }

    /// The route as a pattern, for telling whether two routes claim the same paths:
    /// literal segments as written, every `:name` as `:`, a wildcard as `/...`.
    pub fn shape(&self) -> String {
        match self {
            Route::Exact(path) => path.clone(),
            Route::Prefix(base) => format!("{base}{PREFIX_SUFFIX}"),
            Route::Spin(route) => route.shape(),
        }
    }

    fn base(&self) -> &str {
        match self {
            Route::Exact(path) | Route::Prefix(path) => path,
            Route::Spin(route) => route.raw(),
        }
    }
}

/// What follows `base` in `path` when `path` is `base` or below it.
fn prefix_rest<'p>(base: &str, path: &'p str) -> Option<&'p str> {
    path.strip_prefix(base)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn is_forbidden_in_path(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == '?' || c == '#'
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Exact(path) => f.write_str(path),
            Route::Prefix(base) => write!(f, "{base}{PREFIX_SUFFIX}"),
            Route::Spin(route) => f.write_str(route.raw()),
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
///
/// No lookup goes through the routes one by one: its cost depends on the request
/// path, the routes that match it and the number of distinct prefix lengths, not
/// on how many routes there are (a node may serve 10,000 apps).
#[derive(Debug, Clone, Default)]
pub struct Router {
    exact: HashMap<String, Vec<Target>>,
    /// Keyed by [`Route::Prefix`]'s base.
    prefix: HashMap<String, Vec<Target>>,
    /// The distinct lengths of those bases, longest first: a lookup probes the request
    /// path cut at these lengths only, so its cost is bounded by the config, whatever
    /// the path (probing every '/' of a long path of slashes would be quadratic). There
    /// are no more of them than the longest base has bytes, however many routes:
    /// 10,000 routes `/static/app0/...` to `/static/app9999/...` have 4. (Looking for
    /// the path's '/'s instead, up to the longest base, costs every lookup some 30 ns
    /// more in `cargo bench --bench router`.)
    prefix_lengths: Vec<usize>,
    /// Spin's routes, each with how specific it is; distinct routes, in the
    /// order of their first app.
    spin: Vec<(Specificity, Vec<Target>)>,
    /// The routes of `spin` by their segments.
    spin_trie: SpinTrie,
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
        // Apps of one Spin route (as written) share its entry in `spin`.
        let mut spin_index: HashMap<SpinRoute, usize> = HashMap::new();
        for (app, (route, methods)) in routes.into_iter().enumerate() {
            let target = Target { methods, app };
            let (table, key) = match route {
                Route::Exact(path) => (&mut router.exact, path),
                Route::Prefix(base) => (&mut router.prefix, base),
                Route::Spin(route) => {
                    match spin_index.get(&route) {
                        Some(&index) => router.spin[index].1.push(target),
                        None => {
                            let index = router.spin.len();
                            router.spin_trie.insert(&route, index);
                            router.spin.push((route.specificity(), vec![target]));
                            spin_index.insert(route, index);
                        }
                    }
                    continue;
                }
            };
            table.entry(key).or_default().push(target);
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
        // Looked up once: a miss or a 405 goes through the groups twice.
        let exact = self.exact.get(path).map(Vec::as_slice);
        // An exact route is as specific as a route can be: nothing ranks above it.
        if let Some(app) = exact.and_then(|group| choose_target(group, method)) {
            return Lookup::Found(app);
        }
        let mut spin_matches = Vec::new();
        if !self.spin.is_empty() {
            self.spin_trie
                .for_each_match(path, |index| spin_matches.push(index));
        }
        if spin_matches.is_empty() {
            // Nothing to rank: spare the ranking its allocations.
            return lookup_in(self.same_path_groups(exact, path), method);
        }
        lookup_in(
            self.ranked_groups(exact, path, spin_matches).into_iter(),
            method,
        )
    }

    /// The targets whose native route matches `path`, one group per route, most
    /// specific first; `exact` is the exact route's.
    fn same_path_groups<'a>(
        &'a self,
        exact: Option<&'a [Target]>,
        path: &'a str,
    ) -> impl Iterator<Item = &'a [Target]> + Clone {
        let prefixes = self
            .possible_bases(path)
            .filter_map(|base| self.prefix.get(base).map(Vec::as_slice));
        exact.into_iter().chain(prefixes)
    }

    /// [`Router::same_path_groups`] with the Spin routes that match `path` (indexes
    /// into `spin`) ranked among them.
    fn ranked_groups<'a>(
        &'a self,
        exact: Option<&'a [Target]>,
        path: &'a str,
        spin_matches: Vec<usize>,
    ) -> Vec<&'a [Target]> {
        // Each with its rank among equally specific routes: the exact route, the
        // prefixes longest first, then the Spin routes in table order.
        let mut ranked: Vec<(Cow<'_, Specificity>, usize, &[Target])> = Vec::new();
        if let Some(targets) = exact {
            let specificity = Specificity::of_literal(path, Kind::End);
            ranked.push((Cow::Owned(specificity), 0, targets));
        }
        for base in self.possible_bases(path) {
            if let Some(targets) = self.prefix.get(base) {
                let specificity = Specificity::of_literal(base, Kind::Wildcard);
                ranked.push((Cow::Owned(specificity), ranked.len(), targets));
            }
        }
        let natives = ranked.len();
        for index in spin_matches {
            let (specificity, targets) = &self.spin[index];
            ranked.push((Cow::Borrowed(specificity), natives + index, targets));
        }
        ranked.sort_unstable_by(|left, right| right.0.cmp(&left.0).then(left.1.cmp(&right.1)));
        ranked.into_iter().map(|(.., targets)| targets).collect()
    }

    /// The cuts of `path`, longest first, that a prefix route's base could equal: at a
    /// base length, and where the path ends or a '/' follows.
    fn possible_bases<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + Clone {
        self.prefix_lengths.iter().filter_map(move |&length| {
            let base = path.get(..length)?;
            let rest = path.get(length..)?;
            (rest.is_empty() || rest.starts_with('/')).then_some(base)
        })
    }
}

/// The first group, most specific first, with a target for `method`; failing
/// that, why none serves the request.
fn lookup_in<'a>(groups: impl Iterator<Item = &'a [Target]> + Clone, method: &Method) -> Lookup {
    if let Some(app) = groups
        .clone()
        .find_map(|group| choose_target(group, method))
    {
        return Lookup::Found(app);
    }
    let mut path_matched = false;
    let mut allowed = Vec::new();
    for target in groups.flatten() {
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
mod tests;
