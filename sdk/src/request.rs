//! The request being handled. The body has been fully received before the
//! guest runs, and nothing here changes during the request, so every getter
//! may be called any number of times, in any order.
//!
//! Method, path and query are UTF-8 (the server checks them); header values
//! and the body are arbitrary bytes, hence [`header_bytes`] and [`body`].

use crate::sys;

/// The request method, such as `"GET"` or `"POST"`.
pub fn method() -> String {
    lossy(sys::request_method().unwrap_or_default())
}

/// The request path, without the query string and as sent (not
/// percent-decoded), such as `"/echo/a%20b"`. It is the whole path, including
/// the part the route matched.
pub fn path() -> String {
    lossy(sys::request_path().unwrap_or_default())
}

/// The query string without the `?`, or `None` when the URI has no `?` at
/// all (`Some("")` for a URI that ends with `?`). Not decoded.
pub fn query() -> Option<String> {
    sys::request_query().map(lossy)
}

/// A request header by name, matched case-insensitively; several headers of
/// that name come joined by `", "`. `None` when there is none.
///
/// Bytes that are not UTF-8 are replaced by U+FFFD; use [`header_bytes`] to
/// get a value exactly as sent.
pub fn header(name: &str) -> Option<String> {
    header_bytes(name).map(lossy)
}

/// Like [`header`], but the value exactly as sent.
pub fn header_bytes(name: &str) -> Option<Vec<u8>> {
    sys::request_header(name.as_bytes())
}

/// The request body, byte for byte (empty when there is none).
pub fn body() -> Vec<u8> {
    sys::request_body().unwrap_or_default()
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
