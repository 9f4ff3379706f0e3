//! `http://` and `https://` modules, with reqwest over rustls: a timeout for
//! the whole exchange, at most five redirects, the body streamed and
//! refused as soon as it passes the size limit, and conditional requests
//! (If-None-Match) for revalidation.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};

use super::{Body, ErrorKind, Got, SourceError, chain};

const MAX_REDIRECTS: usize = 5;

pub(super) struct Http {
    client: reqwest::Client,
    timeout: Duration,
    max_bytes: u64,
}

impl Http {
    pub fn new(timeout: Duration, max_bytes: u64) -> anyhow::Result<Http> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .user_agent(concat!("serverless-wasm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| anyhow::anyhow!("cannot create the HTTP client: {}", chain(&error)))?;
        Ok(Http {
            client,
            timeout,
            max_bytes,
        })
    }

    /// GETs `url`, conditionally on `etag` if given.
    pub async fn get(&self, url: &url::Url, etag: Option<&str>) -> Result<Got, SourceError> {
        let name = url.as_str();
        let mut request = self.client.get(url.clone());
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let mut response = request
            .send()
            .await
            .map_err(|error| self.request_failed(name, &error))?;

        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Got::NotModified);
        }
        if !status.is_success() {
            return Err(status_error(name, status));
        }
        let announced = response.content_length();
        if announced.is_some_and(|length| length > self.max_bytes) {
            return Err(super::too_large(name, self.max_bytes));
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);

        let mut body = Body::new(name, self.max_bytes, announced);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => body.push(&chunk)?,
                Ok(None) => break,
                Err(error) if error.is_timeout() => return Err(self.timed_out(name)),
                Err(error) => {
                    return Err(match announced {
                        Some(expected) => truncated(name, body.len(), expected),
                        None => SourceError::new(
                            ErrorKind::Truncated,
                            name,
                            format!(
                                "the download of {name} broke off after {} bytes: {}",
                                body.len(),
                                chain(&error)
                            ),
                        ),
                    });
                }
            }
        }
        // hyper reports a short body as an error; this catches a client
        // that would not.
        if let Some(expected) = announced.filter(|&expected| body.len() < expected) {
            return Err(truncated(name, body.len(), expected));
        }
        let (bytes, digest) = body.finish();
        Ok(Got::Content {
            bytes,
            digest,
            etag,
        })
    }

    fn request_failed(&self, name: &str, error: &reqwest::Error) -> SourceError {
        if error.is_timeout() {
            self.timed_out(name)
        } else if error.is_redirect() {
            SourceError::new(
                ErrorKind::Other,
                name,
                format!("{name}: more than {MAX_REDIRECTS} redirects (or a redirect loop)"),
            )
        } else if error.is_builder() {
            SourceError::new(
                ErrorKind::Other,
                name,
                format!("cannot request {name}: {}", chain(error)),
            )
        } else {
            // Connection refused, DNS failure, TLS failure, reset...
            SourceError::new(
                ErrorKind::Unavailable,
                name,
                format!("cannot fetch {name}: {}", chain(error)),
            )
        }
    }

    fn timed_out(&self, name: &str) -> SourceError {
        SourceError::new(
            ErrorKind::Unavailable,
            name,
            format!("fetching {name} timed out after {:?}", self.timeout),
        )
    }
}

fn status_error(name: &str, status: StatusCode) -> SourceError {
    let kind = match status {
        StatusCode::NOT_FOUND | StatusCode::GONE => ErrorKind::NotFound,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ErrorKind::Denied,
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => ErrorKind::Unavailable,
        status if status.is_server_error() => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    };
    SourceError::new(kind, name, format!("HTTP {} from {name}", status.as_u16()))
}

fn truncated(name: &str, received: u64, expected: u64) -> SourceError {
    SourceError::new(
        ErrorKind::Truncated,
        name,
        format!(
            "the download of {name} is truncated: the connection closed after {received} of \
             the {expected} bytes announced by Content-Length"
        ),
    )
}
