//! [`SourceUrl`]: a module source string, parsed. A string without `://` is
//! a path (relative ones are taken from the configuration's directory);
//! otherwise the scheme says where the module lives.

use std::fmt;
use std::path::{Path, PathBuf};

const SUPPORTED: &str = "a path, file:///abs/path, http://, https:// or s3://bucket/key";

/// Where a module lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceUrl {
    /// An absolute path.
    File(PathBuf),
    /// An `http` or `https` URL with a host.
    Http(url::Url),
    S3 {
        bucket: String,
        key: String,
    },
}

impl SourceUrl {
    /// Parses `text`; a relative path is resolved against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<SourceUrl, String> {
        if text.trim().is_empty() {
            return Err("the module source is empty".to_owned());
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            let path = Path::new(text);
            return Ok(SourceUrl::File(if path.is_absolute() {
                path.to_owned()
            } else {
                base_dir.join(path)
            }));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => parse_file(text),
            "http" | "https" => parse_http(text, rest),
            "s3" => parse_s3(text, rest),
            _ => Err(format!(
                "unsupported scheme \"{scheme}://\" in {text:?}; a module source is {SUPPORTED}"
            )),
        }
    }
}

fn parse_file(text: &str) -> Result<SourceUrl, String> {
    let url = url::Url::parse(text).map_err(|error| format!("invalid URL {text:?}: {error}"))?;
    if url
        .host_str()
        .is_some_and(|host| !host.is_empty() && host != "localhost")
    {
        // `file://dir/m.wasm` reads as a relative path but makes "dir" a host.
        return Err(format!(
            "{text:?}: a file:// URL takes an absolute path and no host \
             (file:///abs/path); for a relative path write the path alone"
        ));
    }
    let path = url
        .to_file_path()
        .map_err(|()| format!("{text:?} is not a usable file path"))?;
    Ok(SourceUrl::File(path))
}

fn parse_http(text: &str, rest: &str) -> Result<SourceUrl, String> {
    let url = url::Url::parse(text).map_err(|error| format!("invalid URL {text:?}: {error}"))?;
    // The URL standard reads "https:///m.wasm" as host "m.wasm"; that is a
    // typo far more often than intended.
    if rest.starts_with(['/', '\\']) || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    Ok(SourceUrl::Http(url))
}

fn parse_s3(text: &str, rest: &str) -> Result<SourceUrl, String> {
    let needs = || format!("{text:?}: s3:// needs a bucket and a key (s3://bucket/key)");
    let (bucket, key) = rest.split_once('/').ok_or_else(needs)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(needs());
    }
    if bucket
        .chars()
        .any(|c| c.is_whitespace() || c == '?' || c == '#')
    {
        return Err(format!("{text:?}: {bucket:?} is not a valid bucket name"));
    }
    Ok(SourceUrl::S3 {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    })
}

/// The canonical form: the absolute path of a file, the URL, or
/// `s3://bucket/key`. Also the key of the source's record in the cache.
impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceUrl::File(path) => write!(f, "{}", path.display()),
            SourceUrl::Http(url) => write!(f, "{url}"),
            SourceUrl::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}
