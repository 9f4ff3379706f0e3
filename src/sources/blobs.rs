//! The module cache in `data_dir/modules`: content-addressed blobs in
//! `sha256/<hex>`, and per source a small JSON record in
//! `sources/<sha256 of the source>.json` naming its last good blob.
//!
//! Every file is written to a temporary file in its final directory,
//! synced, then renamed into place, so a crash leaves either the old file or
//! the new one, never half of one. Blobs are hashed again when read: a
//! corrupt blob (bit rot, a hand edit) is deleted and treated as missing.
//! All of this is blocking I/O; the caller runs it on the blocking pool.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Digest;

/// Temporary files start with this; any left by a crash are removed at
/// start-up once they are old enough not to belong to a live writer.
const PARTIAL: &str = ".partial-";
const STALE_PARTIAL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub(super) struct Blobs {
    blobs: PathBuf,
    records: PathBuf,
}

/// The last good copy of one source.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub source: String,
    pub digest: Digest,
    pub etag: Option<String>,
    /// When the remote last served or confirmed this content (Unix seconds).
    pub fetched_at: u64,
}

/// The on-disk form of a [`Record`].
#[derive(Serialize, Deserialize)]
struct RecordFile {
    source: String,
    digest: String,
    etag: Option<String>,
    fetched_at: u64,
}

impl Record {
    pub fn now(source: &str, digest: Digest, etag: Option<String>) -> Record {
        Record {
            source: source.to_owned(),
            digest,
            etag,
            fetched_at: super::unix_now(),
        }
    }

    /// How long ago the remote last vouched for this content.
    pub fn age(&self) -> Duration {
        Duration::from_secs(super::unix_now().saturating_sub(self.fetched_at))
    }
}

impl Blobs {
    /// Opens (creating if need be) the cache rooted at `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Blobs> {
        let blobs = Blobs {
            blobs: dir.join("sha256"),
            records: dir.join("sources"),
        };
        for dir in [&blobs.blobs, &blobs.records] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the module cache {}", dir.display()))?;
            remove_stale_partials(dir);
        }
        Ok(blobs)
    }

    fn blob_path(&self, digest: Digest) -> PathBuf {
        self.blobs.join(digest.to_hex())
    }

    /// The blob of `digest`, if present and intact.
    pub fn read(&self, digest: Digest) -> Option<Bytes> {
        let path = self.blob_path(digest);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!("cannot read the cached module {}: {error}", path.display());
                return None;
            }
        };
        let actual = Digest::of(&bytes);
        if actual != digest {
            tracing::warn!(
                "the cached module {} is corrupt (its content hashes to {actual}); deleting it",
                path.display()
            );
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some(Bytes::from(bytes))
    }

    /// Stores `bytes`, whose digest the caller computed as `digest`.
    pub fn write(&self, digest: Digest, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.blob_path(digest);
        // Same name, same length: the same content, barring corruption,
        // which `read` catches.
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
            return Ok(());
        }
        write_atomically(&self.blobs, &path, bytes)
    }

    fn record_path(&self, source: &str) -> PathBuf {
        self.records
            .join(format!("{}.json", Digest::of(source.as_bytes()).to_hex()))
    }

    /// The record of `source`; a missing, unreadable or foreign one is none.
    pub fn record(&self, source: &str) -> Option<Record> {
        let path = self.record_path(source);
        let text = std::fs::read(&path).ok()?;
        let file: RecordFile = match serde_json::from_slice(&text) {
            Ok(file) => file,
            Err(error) => {
                tracing::warn!("ignoring the unreadable record {}: {error}", path.display());
                return None;
            }
        };
        // The name is a hash of the source; check it is this source's.
        if file.source != source {
            return None;
        }
        Some(Record {
            source: file.source,
            digest: Digest::parse(&file.digest).ok()?,
            etag: file.etag,
            fetched_at: file.fetched_at,
        })
    }

    pub fn write_record(&self, record: &Record) -> anyhow::Result<()> {
        let file = RecordFile {
            source: record.source.clone(),
            digest: record.digest.to_string(),
            etag: record.etag.clone(),
            fetched_at: record.fetched_at,
        };
        let text = serde_json::to_vec_pretty(&file)?;
        write_atomically(&self.records, &self.record_path(&record.source), &text)
    }
}

/// Writes `path` (in `dir`) via a synced temporary file and a rename.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut temp = tempfile::Builder::new()
        .prefix(PARTIAL)
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", temp.path().display()))?;
    temp.persist(path)
        .with_context(|| format!("cannot rename into {}", path.display()))?;
    // Make the rename itself durable.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn remove_stale_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_partial = entry.file_name().to_string_lossy().starts_with(PARTIAL);
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok())
            .is_some_and(|age| age > STALE_PARTIAL);
        if is_partial && stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
