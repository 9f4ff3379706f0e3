//! What a request routed by a Spin route looks like to its component: an
//! absolute URI, and Spin's `spin-*` headers saying how it was routed
//! (`spin-full-url`, `spin-path-info`, `spin-matched-route`, `spin-base-path`,
//! `spin-raw-component-route`, `spin-component-route`, `spin-client-addr`, and
//! `spin-path-match-<name>` for each `:name` segment). A client's own headers
//! of those names are replaced.

use http::header::{CONNECTION, HOST};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};

use crate::abi::ConnectionInfo;
use crate::router::SpinRoute;

/// The base every route is under: Spin serves apps at `/`.
const BASE_PATH: &str = "/";

/// Rewrites `request` as Spin hands it to a component `route` matched.
pub fn prepare<B>(route: &SpinRoute, request: &mut Request<B>) {
    let path = request.uri().path().to_owned();
    let Some(captures) = route.captures(&path) else {
        return;
    };
    let authority = authority(request);
    let scheme = request.uri().scheme().cloned().unwrap_or_else(|| {
        let connection = request.extensions().get::<ConnectionInfo>();
        connection.map_or(Scheme::HTTP, ConnectionInfo::scheme)
    });
    let path_and_query = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let full_url = format!("{scheme}://{authority}{path_and_query}");
    if let Ok(uri) = Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
    {
        *request.uri_mut() = uri;
    }
    let client = request
        .extensions()
        .get::<ConnectionInfo>()
        .map(|connection| connection.remote.to_string());
    let raw = route.raw();
    let headers = request.headers_mut();
    // Transport information for this hop only; a guest forwarding the request
    // must not pass it on.
    headers.remove(CONNECTION);
    set(headers, "spin-full-url", &full_url);
    set(headers, "spin-path-info", captures.path_info);
    set(headers, "spin-matched-route", &based_route(raw));
    set(headers, "spin-base-path", BASE_PATH);
    set(headers, "spin-raw-component-route", raw);
    set(
        headers,
        "spin-component-route",
        raw.strip_suffix("/...").unwrap_or(raw),
    );
    if let Some(client) = client {
        set(headers, "spin-client-addr", &client);
    }
    for (name, value) in captures.params {
        let name = format!(
            "spin-path-match-{}",
            name.to_ascii_lowercase().replace('_', "-")
        );
        set(headers, &name, value);
    }
}

/// The request's authority: its URI's (HTTP/2), else its `Host` header, else
/// `localhost`, as Spin does.
fn authority<B>(request: &Request<B>) -> Authority {
    request
        .uri()
        .authority()
        .cloned()
        .or_else(|| {
            let host = request.headers().get(HOST)?.to_str().ok()?;
            host.parse().ok()
        })
        .unwrap_or_else(|| Authority::from_static("localhost"))
}

/// The route under the base path: leading `/` added, trailing `/` dropped.
fn based_route(raw: &str) -> String {
    let absolute = if raw.starts_with('/') {
        raw.to_owned()
    } else {
        format!("/{raw}")
    };
    absolute.strip_suffix('/').unwrap_or(&absolute).to_owned()
}

fn set(headers: &mut HeaderMap, name: &str, value: &str) {
    let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) else {
        return;
    };
    headers.insert(name, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(request: &'a Request<()>, name: &str) -> &'a str {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn sets_spins_headers_and_an_absolute_uri() {
        let route = SpinRoute::parse("/users/:user_id/...").unwrap();
        let mut request = Request::builder()
            .uri("/users/42/posts/7?x=1")
            .header(HOST, "example.test:8080")
            .header("spin-path-info", "forged")
            .body(())
            .unwrap();
        request.extensions_mut().insert(ConnectionInfo {
            local: "127.0.0.1:8080".parse().unwrap(),
            remote: "127.0.0.1:50000".parse().unwrap(),
            tls: false,
        });
        prepare(&route, &mut request);
        assert_eq!(
            request.uri().to_string(),
            "http://example.test:8080/users/42/posts/7?x=1"
        );
        let full_url = "http://example.test:8080/users/42/posts/7?x=1";
        assert_eq!(header(&request, "spin-full-url"), full_url);
        assert_eq!(header(&request, "spin-path-info"), "/posts/7");
        assert_eq!(
            header(&request, "spin-matched-route"),
            "/users/:user_id/..."
        );
        assert_eq!(header(&request, "spin-base-path"), "/");
        assert_eq!(
            header(&request, "spin-raw-component-route"),
            "/users/:user_id/..."
        );
        assert_eq!(header(&request, "spin-component-route"), "/users/:user_id");
        assert_eq!(header(&request, "spin-client-addr"), "127.0.0.1:50000");
        assert_eq!(header(&request, "spin-path-match-user-id"), "42");
    }

    #[test]
    fn the_root_route_matches_as_the_empty_route() {
        let route = SpinRoute::parse("/").unwrap();
        let mut request = Request::builder().uri("/").body(()).unwrap();
        prepare(&route, &mut request);
        assert_eq!(header(&request, "spin-matched-route"), "");
        assert_eq!(header(&request, "spin-path-info"), "");
        assert_eq!(request.uri().to_string(), "http://localhost/");
    }
}
