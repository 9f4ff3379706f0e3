//! The JSON log line (`--log-format json`), one object per line:
//! `timestamp`, `level`, `target`, the event's fields at the top level, and
//! the innermost span's fields under `span` (a request's `request_id` and
//! `app`). Written directly rather than through `tracing-subscriber`'s JSON
//! formatter, which keeps a span's fields as JSON text and parses them again
//! for every event: three times the cost of the text line per request.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::line::{write_timestamp, written_name};

/// Formats an event as one JSON object.
pub struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\",\"target\":", meta.level())?;
        JsonString(&mut writer).write_quoted(meta.target())?;
        let mut fields = FieldWriter {
            writer: writer.by_ref(),
            result: Ok(()),
            first: false,
        };
        event.record(&mut fields);
        fields.result?;
        if let Some(span) = ctx.lookup_current() {
            writer.write_str(",\"span\":{\"name\":")?;
            JsonString(&mut writer).write_quoted(span.name())?;
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<N>>()
                && !fields.is_empty()
            {
                write!(writer, ",{fields}")?;
            }
            writer.write_char('}')?;
        }
        writer.write_str("}\n")
    }
}

/// Formats fields as `"name":value` pairs, separated by commas: a span's
/// fields as they are kept, to be put in its `span` object.
pub struct JsonFields;

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = FieldWriter {
            writer,
            result: Ok(()),
            first: true,
        };
        fields.record(&mut visitor);
        visitor.result
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        let mut visitor = FieldWriter {
            writer: current.as_writer(),
            result: Ok(()),
            first,
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct FieldWriter<'w> {
    writer: Writer<'w>,
    result: fmt::Result,
    /// Whether no pair has been written before this one.
    first: bool,
}

impl FieldWriter<'_> {
    /// Writes `,"name":` (no comma first); `None`: skip the field.
    fn start(&mut self, field: &Field) -> Option<()> {
        if self.result.is_err() {
            return None;
        }
        let name = written_name(field)?;
        let comma = if std::mem::take(&mut self.first) {
            ""
        } else {
            ","
        };
        self.result = self
            .writer
            .write_str(comma)
            .and_then(|()| JsonString(&mut self.writer).write_quoted(name))
            .and_then(|()| self.writer.write_char(':'));
        self.result.is_ok().then_some(())
    }
}

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.start(field).is_some() {
            self.result = JsonString(&mut self.writer).write_quoted(value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.start(field).is_some() {
            self.result = write!(self.writer, "{value}");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.start(field).is_some() {
            self.result = write!(self.writer, "{value}");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.start(field).is_some() {
            self.result = write!(self.writer, "{value}");
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.start(field).is_some() {
            // JSON has no NaN or infinity.
            self.result = if value.is_finite() {
                write!(self.writer, "{value}")
            } else {
                JsonString(&mut self.writer).write_quoted(&value.to_string())
            };
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.start(field).is_some() {
            self.result = self
                .writer
                .write_char('"')
                .and_then(|()| write!(JsonString(&mut self.writer), "{value:?}"))
                .and_then(|()| self.writer.write_char('"'));
        }
    }
}

/// Writes text as the inside of a JSON string.
struct JsonString<'a, 'w>(&'a mut Writer<'w>);

impl JsonString<'_, '_> {
    fn write_quoted(&mut self, text: &str) -> fmt::Result {
        self.0.write_char('"')?;
        self.write_str(text)?;
        self.0.write_char('"')
    }
}

impl fmt::Write for JsonString<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ' || c == '\x7f') {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '"' => self.0.write_str("\\\"")?,
                '\\' => self.0.write_str("\\\\")?,
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                other => write!(self.0, "\\u{:04x}", other as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}
