//! Where an app's module comes from: `file_path` or its synonym `source`
//! (a path, `file://`, `http(s)://` or `s3://`), and the `digest` it must have.

use toml::Spanned;

use super::{Located, RawApp, Reader, Reported, Section, check_not_empty};
use crate::sources::SourceUrl;

impl Reader<'_> {
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
