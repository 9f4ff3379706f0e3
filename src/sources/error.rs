//! [`SourceError`]: why a module could not be fetched. Every message names
//! the source; the [`ErrorKind`] decides whether the cached copy may stand
//! in (only for transient failures).

/// Why a fetch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file, URL or object does not exist (HTTP 404/410, S3 NoSuchKey,
    /// a missing file).
    NotFound,
    /// Refused: HTTP 401/403, S3 access denied or bad credentials.
    Denied,
    /// The remote could not be reached or failed: connection refused,
    /// timeout, HTTP 5xx/408/429, S3 down.
    Unavailable,
    /// The transfer broke off before the announced length arrived.
    Truncated,
    /// The content does not hash to the pinned digest.
    DigestMismatch,
    /// The module is larger than `max_bytes`.
    TooLarge,
    /// Anything else: another HTTP status, too many redirects, an unreadable
    /// file, an S3 configuration error.
    Other,
}

/// A failed fetch, with a message that names the source.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    kind: ErrorKind,
    location: String,
    message: String,
}

impl SourceError {
    pub(super) fn new(kind: ErrorKind, location: &str, message: String) -> SourceError {
        SourceError {
            kind,
            location: location.to_owned(),
            message,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The source, as written by [`super::SourceUrl`]'s `Display`.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether the failure says nothing about the module itself, so that
    /// serving the last good copy is right: the remote was unreachable,
    /// slow, failing or cut the transfer short. "Not found", "denied", a
    /// wrong digest or an oversized module are answers about the module and
    /// are never papered over with an old copy.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable | ErrorKind::Truncated)
    }
}
