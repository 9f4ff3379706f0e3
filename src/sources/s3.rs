//! `s3://bucket/key` modules, through object_store. Credentials and region
//! come from the standard `AWS_*` environment variables unless
//! [`SourceOptions`] overrides them; a custom endpoint (S3-compatible
//! stores) is addressed path-style, and may be plain http. One client per
//! bucket, built on first use and kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientConfigKey, GetOptions, ObjectStore as _, RetryConfig};

use super::{Body, ErrorKind, Got, SourceError, SourceOptions, chain};

pub(super) struct S3 {
    options: SourceOptions,
    clients: Mutex<HashMap<String, Arc<AmazonS3>>>,
}

impl S3 {
    pub fn new(options: &SourceOptions) -> S3 {
        S3 {
            options: options.clone(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// GETs `s3://bucket/key`, conditionally on `etag` if given.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
    ) -> Result<Got, SourceError> {
        let name = format!("s3://{bucket}/{key}");
        let client = self.client(bucket, &name)?;
        let path = ObjectPath::parse(key).map_err(|error| {
            SourceError::new(
                ErrorKind::Other,
                &name,
                format!("{name}: the key is not usable: {error}"),
            )
        })?;
        let options = GetOptions {
            if_none_match: etag.map(str::to_owned),
            ..GetOptions::default()
        };
        let result = match client.get_opts(&path, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotModified { .. }) if etag.is_some() => {
                return Ok(Got::NotModified);
            }
            Err(error) => return Err(store_error(&name, &error)),
        };
        let limit = self.options.max_bytes;
        let size = result.meta.size;
        if size > limit {
            return Err(super::too_large(&name, limit));
        }
        let etag = result.meta.e_tag.clone();
        let mut body = Body::new(&name, limit, Some(size));
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => body.push(&chunk)?,
                Err(error) => {
                    return Err(SourceError::new(
                        ErrorKind::Truncated,
                        &name,
                        format!(
                            "the download of {name} broke off after {} of {size} bytes: {}",
                            body.len(),
                            chain(&error)
                        ),
                    ));
                }
            }
        }
        if body.len() != size {
            return Err(SourceError::new(
                ErrorKind::Truncated,
                &name,
                format!(
                    "the download of {name} is truncated: {} of {size} bytes arrived",
                    body.len()
                ),
            ));
        }
        let (bytes, digest) = body.finish();
        Ok(Got::Content {
            bytes,
            digest,
            etag,
        })
    }

    fn client(&self, bucket: &str, name: &str) -> Result<Arc<AmazonS3>, SourceError> {
        // Never held across an await: building a client does no I/O.
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(bucket) {
            return Ok(client.clone());
        }
        let client = Arc::new(self.build(bucket).map_err(|error| {
            SourceError::new(
                ErrorKind::Other,
                name,
                format!("{name}: cannot configure the S3 client: {}", chain(&error)),
            )
        })?);
        clients.insert(bucket.to_owned(), client.clone());
        Ok(client)
    }

    fn build(&self, bucket: &str) -> object_store::Result<AmazonS3> {
        let options = &self.options;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(region) = &options.s3_region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &options.s3_access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &options.s3_secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(endpoint) = &options.s3_endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        // The endpoint may also have come from AWS_ENDPOINT_URL.
        if let Some(endpoint) = builder.get_config_value(&AmazonS3ConfigKey::Endpoint) {
            // Custom endpoints rarely have a DNS name per bucket.
            builder = builder.with_virtual_hosted_style_request(false);
            if endpoint.starts_with("http://") {
                builder = builder.with_allow_http(true);
            }
        }
        // object_store retries for up to 3 minutes by default; a module
        // fetch must fail within `http_timeout` so the fallback can serve.
        let timeout = options.http_timeout;
        builder
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(1),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: timeout,
            })
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                format!("{}ms", timeout.as_millis()),
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                format!("{}ms", timeout.min(Duration::from_secs(10)).as_millis()),
            )
            .build()
    }
}

pub(super) fn store_error(name: &str, error: &object_store::Error) -> SourceError {
    use object_store::Error;
    let (kind, what) = match error {
        Error::NotFound { .. } => (ErrorKind::NotFound, "no such object or bucket"),
        Error::PermissionDenied { .. } | Error::Unauthenticated { .. } => {
            (ErrorKind::Denied, "access denied")
        }
        Error::Generic { .. } => match status_in(error) {
            // object_store maps 404/403/401 itself; another 4xx is a request
            // the store will refuse every time (wrong region, bad request).
            Some(status) if (400..500).contains(&status) && status != 408 && status != 429 => {
                (ErrorKind::Other, "refused")
            }
            // Connection failures, timeouts, 5xx after retries.
            _ => (ErrorKind::Unavailable, "unavailable"),
        },
        _ => (ErrorKind::Other, "failed"),
    };
    SourceError::new(kind, name, format!("{name}: {what}: {}", chain(error)))
}

/// The HTTP status in an object_store error, which does not export the
/// type that carries it; its message reads "... status code: 400 Bad
/// Request ...". `None` (a transport failure) when absent.
fn status_in(error: &object_store::Error) -> Option<u16> {
    let text = chain(error);
    let (_, after) = text.split_once("status code: ")?;
    after.get(..3)?.parse().ok()
}
