//! The response being built. Until the guest sets anything it is a `200 OK`
//! with no headers and an empty body. The server adds `content-length` itself.
//!
//! The host checks what it is given: an invalid status, reason phrase, header
//! name or header value stops the guest (a trap), and the client gets a
//! `500 Internal Server Error` instead of this response.

use crate::sys;

/// Sets the status code (100 to 999) and the reason phrase. Pass `""` (or the
/// standard phrase, such as `"Not Found"`) to use the standard one; a custom
/// phrase may hold only visible ASCII, spaces and tabs.
///
/// The last call wins.
pub fn set_status(status: u16, reason: &str) {
    sys::set_status_line(i32::from(status), reason.as_bytes());
}

/// Adds a header; calling it twice with the same name sends both values.
/// `content-length` and `transfer-encoding` are ignored: the server frames the
/// body itself.
///
/// The value is bytes so that a header read with
/// [`request::header_bytes`](crate::request::header_bytes) can be sent back
/// unchanged; a `&str` or `String` works as well.
pub fn set_header(name: &str, value: impl AsRef<[u8]>) {
    sys::set_header(name.as_bytes(), value.as_ref());
}

/// Sets the body, replacing any body set before. The host copies it, so the
/// buffer may be dropped or reused right after.
pub fn set_body(body: impl AsRef<[u8]>) {
    sys::set_body(body.as_ref());
}
