//! Walking a TOML document by hand, value by value, for Spin's files: their
//! tables hold values of several shapes (`route` is a string or a table,
//! `component` an id or a whole component), which a serde struct reports
//! poorly. Every problem becomes a [`ConfigError`] with the file, the line and
//! the key path (`component.api.files[2].source`), as the native config's are.

use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::keys;
use crate::config::{ConfigError, ConfigErrors, LineIndex};

/// A value of the document and where it is written.
pub(super) type Value<'i> = Spanned<DeValue<'i>>;
/// A key of a table and where it is written.
pub(super) type Key<'i> = Spanned<Cow<'i, str>>;

/// How a table treats one of its keys.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rule {
    /// Read by the caller.
    Read,
    /// Accepted and otherwise ignored, with this warning.
    Ignore(&'static str),
    /// Refused with this message.
    Refuse(&'static str),
    /// Refused with this message unless it asks for nothing: an empty array
    /// or table, or `false`.
    RefuseIfUsed(&'static str),
}

/// Parses `text` and hands its root table to `read`; any problem `read`
/// records, or any syntax error, fails the whole file.
pub(super) fn read_document<T>(
    text: &str,
    file: &Path,
    read: impl FnOnce(&mut Reader<'_>, &DeTable<'_>) -> T,
) -> Result<(T, Vec<String>), ConfigErrors> {
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    let mut reader = Reader {
        lines: LineIndex::new(text),
        file,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    if !syntax_errors.is_empty() {
        for error in &syntax_errors {
            let offset = error.span().map_or(0, |span| span.start);
            reader.error(offset..offset, "", error.message());
        }
        // The parser's later errors on a line mostly follow from its first.
        reader.errors.sort_by_key(|error| error.line);
        reader.errors.dedup_by_key(|error| error.line);
        return Err(reader.into_errors());
    }
    let value = read(&mut reader, document.get_ref());
    if reader.errors.is_empty() {
        Ok((value, reader.warnings))
    } else {
        Err(reader.into_errors())
    }
}

/// An error about a whole file, such as one that cannot be read.
pub(super) fn file_error(file: &Path, message: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: file.to_owned(),
        line: 0,
        key: None,
        message,
    }])
}

/// Reads one file, collecting every problem instead of stopping at the first.
pub(super) struct Reader<'a> {
    pub lines: LineIndex,
    pub file: &'a Path,
    pub errors: Vec<ConfigError>,
    /// One line each, already located: `file:line: `key`: message`.
    pub warnings: Vec<String>,
}

impl Reader<'_> {
    fn into_errors(mut self) -> ConfigErrors {
        self.errors.sort_by_key(|error| error.line);
        ConfigErrors(self.errors)
    }

    pub fn line(&self, offset: usize) -> usize {
        self.lines.line(offset)
    }

    fn located(&self, line: usize, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line,
            key: Some(key.to_owned()).filter(|key| !key.is_empty()),
            message: message.into(),
        }
    }

    /// An empty `key` stands for none.
    pub fn error(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.error_at_line(self.line(span.start), key, message);
    }

    pub fn error_at_line(&mut self, line: usize, key: &str, message: impl Into<String>) {
        let error = self.located(line, key, message);
        self.errors.push(error);
    }

    pub fn warn(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        let warning = self.located(self.line(span.start), key, message);
        self.warnings.push(warning.to_string());
    }

    /// Reports each key of `table` that is not `Read` by `rules`: unknown keys
    /// (with the nearest known one), refused keys, and ignored ones (a warning).
    pub fn check_keys(&mut self, table: &DeTable<'_>, path: &str, rules: &[(&str, Rule)]) {
        for (key, value) in entries(table) {
            let name: &str = key.get_ref();
            let key_path = join(path, name);
            match rules.iter().find(|(known, _)| *known == name) {
                Some((_, Rule::Read)) => {}
                Some((_, Rule::Ignore(message))) => self.warn(key.span(), &key_path, *message),
                Some((_, Rule::Refuse(message))) => self.error(key.span(), &key_path, *message),
                Some((_, Rule::RefuseIfUsed(message))) => {
                    if asks_for_something(value.get_ref()) {
                        self.error(key.span(), &key_path, *message);
                    }
                }
                None => {
                    let known: Vec<&str> = rules.iter().map(|(known, _)| *known).collect();
                    self.error(key.span(), &key_path, unknown_key_message(name, &known));
                }
            }
        }
    }

    /// `value` as a table, or an error naming what was expected instead.
    pub fn table<'t, 'i>(&mut self, value: &'t Value<'i>, key: &str) -> Option<&'t DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            other => {
                let message = format!("expected a table, got {}", other.type_str());
                self.error(value.span(), key, message);
                None
            }
        }
    }

    pub fn string(&mut self, value: &Value<'_>, key: &str) -> Option<String> {
        match value.get_ref() {
            DeValue::String(text) => Some(text.to_string()),
            other => {
                let message = format!("expected a string, got {}", other.type_str());
                self.error(value.span(), key, message);
                None
            }
        }
    }

    pub fn boolean(&mut self, value: &Value<'_>, key: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            other => {
                let message = format!("expected true or false, got {}", other.type_str());
                self.error(value.span(), key, message);
                None
            }
        }
    }

    pub fn integer(&mut self, value: &Value<'_>, key: &str) -> Option<i64> {
        let parsed = match value.get_ref() {
            DeValue::Integer(integer) => {
                i64::from_str_radix(integer.as_str(), integer.radix()).ok()
            }
            _ => None,
        };
        if parsed.is_none() {
            let message = format!("expected an integer, got {}", value.get_ref().type_str());
            self.error(value.span(), key, message);
        }
        parsed
    }

    /// An array whose items are all strings, each with where it is written.
    pub fn strings(&mut self, value: &Value<'_>, key: &str) -> Option<Vec<Spanned<String>>> {
        let DeValue::Array(items) = value.get_ref() else {
            let message = format!(
                "expected an array of strings, got {}",
                value.get_ref().type_str()
            );
            self.error(value.span(), key, message);
            return None;
        };
        let mut strings = Vec::new();
        let mut failed = false;
        for (index, item) in items.iter().enumerate() {
            match self.string(item, &indexed(key, index)) {
                Some(text) => strings.push(Spanned::new(item.span(), text)),
                None => failed = true,
            }
        }
        (!failed).then_some(strings)
    }

    /// A table whose values are all strings, in file order.
    pub fn string_table(&mut self, value: &Value<'_>, key: &str) -> Option<Vec<(String, String)>> {
        let table = self.table(value, key)?;
        let mut entries_read = Vec::new();
        let mut failed = false;
        for (name, value) in entries(table) {
            match self.string(value, &join(key, name.get_ref())) {
                Some(text) => entries_read.push((name.get_ref().to_string(), text)),
                None => failed = true,
            }
        }
        (!failed).then_some(entries_read)
    }
}

fn asks_for_something(value: &DeValue<'_>) -> bool {
    match value {
        DeValue::Array(items) => !items.is_empty(),
        DeValue::Table(table) => !table.is_empty(),
        DeValue::Boolean(flag) => *flag,
        _ => true,
    }
}

/// The entries of `table` in the order they are written.
pub(super) fn entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Key<'i>, &'t Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// `path.key`, the key quoted when TOML needs it quoted.
pub(super) fn join(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// `path[n]`: `index` counts from 0, the key from 1, as people count.
pub(super) fn indexed(path: &str, index: usize) -> String {
    format!("{path}[{}]", index + 1)
}

pub(super) fn unknown_key_message(key: &str, known: &[&str]) -> String {
    keys::unknown_key_message(key, known, None)
}

/// The known name within a typo of `name`, or that `name` begins; the nearest wins.
pub(super) fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    keys::closest_key(name, known)
}

/// Checks an identifier as Spin's manifest does: words of ASCII letters and
/// digits, each starting with a letter and all one case, joined by `delimiter`;
/// `lower_only` refuses upper-case words.
pub(super) fn check_id(id: &str, delimiter: char, lower_only: bool) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let wrong = if delimiter == '-' { '_' } else { '-' };
    if id.contains(wrong) {
        return Err(format!(
            "words must be separated with {delimiter:?}, not {wrong:?}"
        ));
    }
    for word in id.split(delimiter) {
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return Err(format!("{delimiter:?}-separated words must not be empty"));
        };
        if !first.is_ascii_alphabetic() {
            return Err(format!(
                "{delimiter:?}-separated words must start with an ASCII letter; got {first:?}"
            ));
        }
        let upper = first.is_ascii_uppercase();
        for c in chars {
            if !c.is_ascii_alphanumeric() {
                return Err(format!(
                    "{delimiter:?}-separated words may only contain alphanumeric ASCII; got {c:?}"
                ));
            }
            if c.is_ascii_alphabetic() && c.is_ascii_uppercase() != upper {
                return Err(format!(
                    "{delimiter:?}-separated words must be all lowercase or all UPPERCASE; got {word:?}"
                ));
            }
        }
        if lower_only && upper {
            return Err(format!("must be all lowercase; got {id:?}"));
        }
    }
    Ok(())
}
