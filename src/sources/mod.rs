//! Where module bytes come from: a source string (a path, `file://`,
//! `http(s)://` or `s3://`) is parsed into a [`SourceUrl`], and [`Sources`]
//! fetches it, checks an optional SHA-256 pin and keeps every remote module
//! it fetched in a content-addressed cache under `data_dir/modules`.
//!
//! The cache is what makes remote modules safe to depend on: a pinned module
//! already in the cache is never fetched again, and a remote source that
//! cannot be reached (connection refused, timeout, 5xx) is served from the
//! last good copy of that source, reported as [`Origin::CachedCopyFallback`]
//! so that the caller can warn about it. A source that answers "not found"
//! or "access denied" is not served from the cache: the module was removed
//! or its permissions changed on purpose, and serving an old copy would hide
//! that.
//!
//! This file owns the public types and the fetch/revalidate policy; the
//! schemes live in [`file`], [`http`] and [`s3`], the on-disk cache in
//! [`blobs`].

mod blobs;
mod digest;
mod error;
mod file;
mod http;
mod s3;
mod source_url;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use sha2::Digest as _;

use self::blobs::{Blobs, Record};
pub use self::digest::Digest;
pub use self::error::{ErrorKind, SourceError};
pub use self::source_url::SourceUrl;

/// Settings of [`Sources`]; the S3 ones override the standard `AWS_*`
/// environment variables, which are read otherwise.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// The S3 endpoint, for S3-compatible stores (MinIO, moto, R2...); else
    /// `AWS_ENDPOINT_URL`, else AWS itself.
    pub s3_endpoint: Option<String>,
    /// Else `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub s3_region: Option<String>,
    /// Else `AWS_ACCESS_KEY_ID` (and the rest of the AWS credential chain).
    pub s3_access_key_id: Option<String>,
    /// Else `AWS_SECRET_ACCESS_KEY`.
    pub s3_secret_access_key: Option<String>,
    /// The longest one request may take, body included (HTTP and S3).
    pub http_timeout: Duration,
    /// The largest module accepted, from any source.
    pub max_bytes: u64,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            http_timeout: Duration::from_secs(30),
            max_bytes: 256 << 20,
        }
    }
}

/// A module's bytes, as fetched.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Bytes,
    pub digest: Digest,
    /// The remote's ETag, used to revalidate cheaply; `None` for files and
    /// for servers that send none.
    pub etag: Option<String>,
    pub origin: Origin,
}

/// How the bytes of a [`Fetched`] were obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from the file, downloaded now, or found in the cache and
    /// confirmed current by the remote (an HTTP 304 / S3 "not modified").
    Fresh,
    /// The source is pinned and its blob was in the cache: nothing was
    /// requested at all.
    NotFetchedPinnedInCache,
    /// The remote could not be reached; these are the bytes it served
    /// `age` ago. The caller should warn with `error`.
    CachedCopyFallback { age: Duration, error: String },
}

/// What a scheme's GET produced.
pub(super) enum Got {
    /// The remote confirmed that the ETag it was given is current.
    NotModified,
    Content {
        bytes: Bytes,
        digest: Digest,
        etag: Option<String>,
    },
}

/// Fetches modules; one per server.
pub struct Sources {
    blobs: Blobs,
    http: http::Http,
    s3: s3::S3,
    max_bytes: u64,
}

impl Sources {
    /// Uses (creating if need be) the cache in `data_dir/modules`.
    pub fn new(data_dir: &Path, options: SourceOptions) -> anyhow::Result<Sources> {
        install_tls_provider();
        Ok(Sources {
            blobs: Blobs::open(&data_dir.join("modules"))?,
            http: http::Http::new(options.http_timeout, options.max_bytes)?,
            s3: s3::S3::new(&options),
            max_bytes: options.max_bytes,
        })
    }

    /// Fetches the module `source`, which must hash to `pinned` if given.
    ///
    /// A pinned module whose blob is in the cache is not requested at all.
    /// A remote source that fails transiently ([`SourceError::is_transient`])
    /// is served from its last good copy, if any and if it matches the pin.
    pub async fn fetch(
        &self,
        source: &SourceUrl,
        pinned: Option<&Digest>,
    ) -> Result<Fetched, SourceError> {
        let name = source.to_string();
        if let Some(pin) = pinned
            && let Some(bytes) = self.read_blob(*pin).await
        {
            let record = self.read_record(&name).await;
            let etag = record.filter(|r| r.digest == *pin).and_then(|r| r.etag);
            return Ok(Fetched {
                bytes,
                digest: *pin,
                etag,
                origin: Origin::NotFetchedPinnedInCache,
            });
        }
        if let SourceUrl::File(path) = source {
            let (bytes, digest) = file::read(path, self.max_bytes).await?;
            check_pin(&name, pinned, digest)?;
            return Ok(fresh(bytes, digest, None));
        }

        // A copy from an earlier run is revalidated rather than downloaded
        // again: a server restart then costs one 304 per module.
        let record = self.read_record(&name).await;
        let cached = match &record {
            Some(record) if record.etag.is_some() => self
                .read_blob(record.digest)
                .await
                .map(|bytes| (record, bytes)),
            _ => None,
        };
        let etag = cached
            .as_ref()
            .and_then(|(record, _)| record.etag.as_deref());
        match self.get_remote(source, etag).await {
            Ok(Got::NotModified) => match cached {
                Some((record, bytes)) => {
                    check_pin(&name, pinned, record.digest)?;
                    self.write_record(&name, record.digest, record.etag.clone())
                        .await;
                    Ok(fresh(bytes, record.digest, record.etag.clone()))
                }
                // Only reachable if the remote answers 304 to a request
                // that carried no ETag.
                None => Err(SourceError::new(
                    ErrorKind::Other,
                    &name,
                    format!("{name}: answered \"not modified\" to an unconditional request"),
                )),
            },
            Ok(Got::Content {
                bytes,
                digest,
                etag,
            }) => {
                check_pin(&name, pinned, digest)?;
                self.store(&name, &bytes, digest, etag.clone()).await;
                Ok(fresh(bytes, digest, etag))
            }
            Err(error) if error.is_transient() => {
                let Some(record) = record.filter(|r| pinned.is_none_or(|pin| r.digest == *pin))
                else {
                    return Err(error);
                };
                let Some(bytes) = self.read_blob(record.digest).await else {
                    return Err(error);
                };
                let age = record.age();
                Ok(Fetched {
                    bytes,
                    digest: record.digest,
                    etag: record.etag,
                    origin: Origin::CachedCopyFallback {
                        age,
                        error: error.to_string(),
                    },
                })
            }
            Err(error) => Err(error),
        }
    }

    /// Checks whether `source` still has the content of `previous`:
    /// `Ok(None)` if so, `Ok(Some(_))` with the new content if not.
    ///
    /// Remote sources are asked with their ETag (If-None-Match), files are
    /// read and hashed. A failure is returned as is, with no fallback: the
    /// caller still has `previous`. A pinned source cannot change, so
    /// callers need not revalidate it; if they do, the new content is not
    /// checked against a pin here.
    pub async fn revalidate(
        &self,
        source: &SourceUrl,
        previous: &Fetched,
    ) -> Result<Option<Fetched>, SourceError> {
        let name = source.to_string();
        if let SourceUrl::File(path) = source {
            let (bytes, digest) = file::read(path, self.max_bytes).await?;
            return Ok((digest != previous.digest).then(|| fresh(bytes, digest, None)));
        }
        // If an earlier revalidation found the same content under a new
        // ETag, the record has the newer one.
        let record = self.read_record(&name).await;
        let etag = match &record {
            Some(record) if record.digest == previous.digest && record.etag.is_some() => {
                record.etag.clone()
            }
            _ => previous.etag.clone(),
        };
        match self.get_remote(source, etag.as_deref()).await? {
            Got::NotModified => {
                self.write_record(&name, previous.digest, etag).await;
                Ok(None)
            }
            Got::Content {
                bytes,
                digest,
                etag,
            } => {
                self.store(&name, &bytes, digest, etag.clone()).await;
                Ok((digest != previous.digest).then(|| fresh(bytes, digest, etag)))
            }
        }
    }

    async fn get_remote(&self, source: &SourceUrl, etag: Option<&str>) -> Result<Got, SourceError> {
        match source {
            SourceUrl::Http(url) => self.http.get(url, etag).await,
            SourceUrl::S3 { bucket, key } => self.s3.get(bucket, key, etag).await,
            // The callers read files themselves; this only keeps the match
            // total without a panic.
            SourceUrl::File(path) => {
                file::read(path, self.max_bytes)
                    .await
                    .map(|(bytes, digest)| Got::Content {
                        bytes,
                        digest,
                        etag: None,
                    })
            }
        }
    }

    /// Keeps `bytes` as the last good copy of `name`. A failure to write
    /// the cache does not fail the fetch: the bytes are good, only the
    /// fallback for a later outage is lost, so it is logged.
    async fn store(&self, name: &str, bytes: &Bytes, digest: Digest, etag: Option<String>) {
        let blobs = self.blobs.clone();
        let bytes = bytes.clone();
        let written = tokio::task::spawn_blocking(move || blobs.write(digest, &bytes)).await;
        match written {
            Ok(Ok(())) => self.write_record(name, digest, etag).await,
            Ok(Err(error)) => {
                tracing::warn!("cannot cache {name} ({digest}) in the module cache: {error:#}")
            }
            Err(error) => tracing::warn!("cannot cache {name}: {error}"),
        }
    }

    async fn write_record(&self, name: &str, digest: Digest, etag: Option<String>) {
        let blobs = self.blobs.clone();
        let record = Record::now(name, digest, etag);
        let written = tokio::task::spawn_blocking(move || blobs.write_record(&record)).await;
        if let Ok(Err(error)) = written {
            tracing::warn!("cannot record the cached copy of {name}: {error:#}");
        }
    }

    async fn read_blob(&self, digest: Digest) -> Option<Bytes> {
        let blobs = self.blobs.clone();
        tokio::task::spawn_blocking(move || blobs.read(digest))
            .await
            .ok()
            .flatten()
    }

    async fn read_record(&self, name: &str) -> Option<Record> {
        let blobs = self.blobs.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || blobs.record(&name))
            .await
            .ok()
            .flatten()
    }
}

/// Makes ring the process's rustls crypto provider, unless one is set.
///
/// reqwest and object_store are built with `rustls-no-provider`: their
/// default, aws-lc, would give rustls a second provider, and then rustls
/// cannot pick one by itself and `rustls::ClientConfig::builder()` (as
/// wasmtime-wasi-http calls it for outgoing HTTPS) panics. The price is that
/// a reqwest client built before this is called panics; [`Sources::new`]
/// calls it, and so should anything else that builds one first.
pub fn install_tls_provider() {
    // `Err` means a provider is installed already, which serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn fresh(bytes: Bytes, digest: Digest, etag: Option<String>) -> Fetched {
    Fetched {
        bytes,
        digest,
        etag,
        origin: Origin::Fresh,
    }
}

fn check_pin(name: &str, pinned: Option<&Digest>, actual: Digest) -> Result<(), SourceError> {
    match pinned {
        Some(expected) if *expected != actual => Err(SourceError::new(
            ErrorKind::DigestMismatch,
            name,
            format!("{name} does not match its pinned digest: expected {expected}, got {actual}"),
        )),
        _ => Ok(()),
    }
}

/// A response body being received: hashed as it arrives and refused as soon
/// as it exceeds the size limit, so an oversized module is never buffered
/// whole.
pub(super) struct Body<'a> {
    name: &'a str,
    limit: u64,
    bytes: Vec<u8>,
    hasher: sha2::Sha256,
}

impl<'a> Body<'a> {
    /// `expected` is the announced length, used only to reserve memory.
    pub(super) fn new(name: &'a str, limit: u64, expected: Option<u64>) -> Self {
        let reserve = expected.unwrap_or(0).min(limit).min(64 << 20);
        Self {
            name,
            limit,
            bytes: Vec::with_capacity(usize::try_from(reserve).unwrap_or(0)),
            hasher: sha2::Sha256::new(),
        }
    }

    pub(super) fn push(&mut self, chunk: &[u8]) -> Result<(), SourceError> {
        if self.bytes.len() as u64 + chunk.len() as u64 > self.limit {
            return Err(too_large(self.name, self.limit));
        }
        self.hasher.update(chunk);
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    pub(super) fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub(super) fn finish(self) -> (Bytes, Digest) {
        let digest = Digest::from_bytes(self.hasher.finalize().into());
        (Bytes::from(self.bytes), digest)
    }
}

pub(super) fn too_large(name: &str, limit: u64) -> SourceError {
    SourceError::new(
        ErrorKind::TooLarge,
        name,
        format!(
            "{name} is larger than the module size limit of {} (max_bytes = {limit})",
            human_size(limit)
        ),
    )
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// `error` and its sources, joined with ": " (the outer messages of HTTP
/// client errors say little; the cause is at the end of the chain).
pub(super) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
