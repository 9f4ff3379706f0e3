//! Where an app's module comes from: `file_path` or its synonym `source`
//! (a path, `file://`, `http(s)://` or `s3://`), and the `digest` it must have.

use std::time::Duration;

use toml::Spanned;

use super::{Located, RawApp, RawTop, Reader, Reported, Section, check_not_empty};
use crate::sources::SourceUrl;

/// At least this long between revalidations of every remote source.
const POLL_SECONDS: std::ops::RangeInclusive<u64> = 1..=86_400;

impl Reader<'_> {
    /// `poll_seconds` and `s3_endpoint`, the top-level source settings.
    pub(super) fn read_source_settings(
        &mut self,
        raw: &RawTop,
    ) -> (Option<Duration>, Option<String>) {
        let poll = self.check_optional(&raw.poll_seconds, "poll_seconds".into(), |n: &u64| {
            if POLL_SECONDS.contains(n) {
                Ok(Duration::from_secs(*n))
            } else {
                Err(format!(
                    "must be {} to {} seconds",
                    POLL_SECONDS.start(),
                    POLL_SECONDS.end()
                ))
            }
        });
        let endpoint = self.check_optional(&raw.s3_endpoint, "s3_endpoint".into(), |url: &str| {
            if url.starts_with("http://") || url.starts_with("https://") {
                Ok(url.trim_end_matches('/').to_string())
            } else {
                Err(format!("{url:?} is not an http:// or https:// URL"))
            }
        });
        (
            poll.ok().flatten().map(|poll| poll.value),
            endpoint.ok().flatten().map(|endpoint| endpoint.value),
        )
    }

    /// The module source as written, and, when it is a URL, parsed. A plain
    /// path is resolved later, with the working-directory fallback.
    pub(super) fn read_source(
        &mut self,
        own: &RawApp,
        section: &Section<'_, '_>,
    ) -> (
        Result<Located<String>, Reported>,
        Result<Option<SourceUrl>, Reported>,
    ) {
        let (written, key): (&Option<Spanned<String>>, _) = match (&own.file_path, &own.source) {
            (None, Some(_)) => (&own.source, "source"),
            (Some(_), Some(both)) => {
                let _ = self.check(both, section.key("source"), |_: &str| {
                    Err::<(), _>("`source` and `file_path` both name the module: give one".into())
                });
                (&own.file_path, "file_path")
            }
            _ => (&own.file_path, "file_path"),
        };
        let text = self.check_required(written, section, key, check_not_empty);
        let base = self
            .file
            .parent()
            .map(|dir| dir.to_path_buf())
            .unwrap_or_default();
        let source = match written {
            Some(value) if value.get_ref().contains("://") => self
                .check(value, section.key(key), |text: &str| {
                    SourceUrl::parse(text, &base)
                })
                .map(|source| Some(source.value)),
            _ => Ok(None),
        };
        (text, source)
    }
}

#[cfg(test)]
mod tests;
