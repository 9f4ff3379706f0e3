//! Local modules: read whole and hashed, off the async threads. A file is
//! its own copy, so it is never put in the cache.

use std::io::Read as _;
use std::path::Path;

use bytes::Bytes;

use super::{Body, Digest, ErrorKind, SourceError};

/// Reads `path`, refusing a file over `limit` bytes.
pub(super) async fn read(path: &Path, limit: u64) -> Result<(Bytes, Digest), SourceError> {
    let name = path.display().to_string();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || read_blocking(&path, limit))
        .await
        .map_err(|error| {
            SourceError::new(
                ErrorKind::Other,
                &name,
                format!("cannot read {name}: {error}"),
            )
        })?
}

fn read_blocking(path: &Path, limit: u64) -> Result<(Bytes, Digest), SourceError> {
    let name = path.display().to_string();
    let failed = |error: std::io::Error| {
        let kind = match error.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorKind::Denied,
            _ => ErrorKind::Other,
        };
        SourceError::new(kind, &name, format!("cannot read {name}: {error}"))
    };
    let mut file = std::fs::File::open(path).map_err(failed)?;
    let metadata = file.metadata().map_err(failed)?;
    if metadata.is_dir() {
        return Err(SourceError::new(
            ErrorKind::Other,
            &name,
            format!("cannot read {name}: it is a directory"),
        ));
    }
    if metadata.len() > limit {
        return Err(super::too_large(&name, limit));
    }
    // Read through `Body` rather than trusting the length: the file may
    // grow while it is read.
    let mut body = Body::new(&name, limit, Some(metadata.len()));
    let mut buffer = vec![0; 1 << 16];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => body.push(&buffer[..n])?,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(failed(error)),
        }
    }
    Ok(body.finish())
}
