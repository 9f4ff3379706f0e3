//! The text log line, written for speed: a request pays for its access line
//! and its span on the request path. Same shape as `tracing-subscriber`'s
//! default (`2026-12-07T01:02:03.456789Z  INFO request{request_id=… app=…}:
//! target: message key=value`), with the date formatted once a second per
//! thread and each field written with one formatting call (the default
//! styles every name and `=` separately, even without colours). Control
//! characters a guest or client puts in a message or value are escaped, as
//! the default does, so a log line cannot drive the operator's terminal.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats an event: time, level, the spans it is in, target, fields.
pub struct TextLine {
    pub ansi: bool,
}

impl<S, N> FormatEvent<S, N> for TextLine
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
        write_timestamp(&mut writer)?;
        let level = match *meta.level() {
            Level::ERROR => ("ERROR", "\x1b[31m"),
            Level::WARN => (" WARN", "\x1b[33m"),
            Level::INFO => (" INFO", "\x1b[32m"),
            Level::DEBUG => ("DEBUG", "\x1b[34m"),
            Level::TRACE => ("TRACE", "\x1b[35m"),
        };
        if self.ansi {
            write!(writer, " {}{}\x1b[0m ", level.1, level.0)?;
        } else {
            write!(writer, " {} ", level.0)?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_str(": ")?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// Formats fields as `message key=value key=value`: strings as they are,
/// other values by their `Debug` (a `%value` field's is its `Display`),
/// control characters escaped.
pub struct TextFields;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = FieldWriter {
            writer,
            result: Ok(()),
            first: true,
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct FieldWriter<'w> {
    writer: Writer<'w>,
    result: fmt::Result,
    first: bool,
}

impl FieldWriter<'_> {
    /// Writes what comes before a field's value: a space after the first
    /// field, and `name=` for all but the message. `None`: skip the field.
    fn start(&mut self, field: &Field) -> Option<()> {
        if self.result.is_err() {
            return None;
        }
        let name = written_name(field)?;
        let mut result = Ok(());
        if !std::mem::take(&mut self.first) {
            result = self.writer.write_char(' ');
        }
        if name != "message" {
            result = result
                .and_then(|()| self.writer.write_str(name))
                .and_then(|()| self.writer.write_char('='));
        }
        self.result = result;
        self.result.is_ok().then_some(())
    }
}

impl Visit for FieldWriter<'_> {
    /// Strings are written as they are, unquoted.
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.start(field).is_some() {
            self.result = Escaping(&mut self.writer).write_str(value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.start(field).is_some() {
            self.result = write_decimal(&mut self.writer, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.start(field).is_some() {
            self.result = write!(Escaping(&mut self.writer), "{value:?}");
        }
    }
}

/// A field's name as a log line shows it, `r#` taken off; `None` for the
/// `log.` fields of a `log` crate record, which carry the target and place
/// already written.
pub(super) fn written_name(field: &Field) -> Option<&'static str> {
    let name = field.name();
    if name.starts_with("log.") {
        return None;
    }
    Some(name.strip_prefix("r#").unwrap_or(name))
}

/// Writes `value` in decimal without the formatting machinery.
fn write_decimal(writer: &mut Writer<'_>, mut value: u64) -> fmt::Result {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    writer.write_str(std::str::from_utf8(&digits[start..]).map_err(|_| fmt::Error)?)
}

/// Escapes the control characters that could steer a terminal.
struct Escaping<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // ESC, BEL, BS, FF, DEL, and 0xC2, the first byte of the C1
        // controls (and of a few printable characters, which take the
        // slower path for nothing).
        let suspect = |b: u8| matches!(b, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f | 0xc2);
        if !text.bytes().any(suspect) {
            return self.0.write_str(text);
        }
        let steers = |c: char| {
            matches!(
                c,
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
            )
        };
        for c in text.chars() {
            if steers(c) {
                write!(self.0, "\\u{{{:x}}}", c as u32)?;
            } else {
                self.0.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// Writes the time as RFC 3339 in UTC with microseconds. The part up to the
/// second changes once a second, so each thread keeps it formatted.
pub(super) fn write_timestamp(writer: &mut Writer<'_>) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = now.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != seconds {
            *cached = seconds;
            text.clear();
            let _ = write_date_time(text, seconds);
        }
        write!(writer, "{text}.{:06}Z", now.subsec_micros())
    })
}

/// `YYYY-MM-DDTHH:MM:SS` of `seconds` since the epoch (UTC), by Howard
/// Hinnant's days-to-civil algorithm.
fn write_date_time(out: &mut String, seconds: u64) -> fmt::Result {
    let days = (seconds / 86_400) as i64;
    let in_day = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date_time(seconds: u64) -> String {
        let mut out = String::new();
        write_date_time(&mut out, seconds).unwrap();
        out
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(date_time(0), "1970-01-01T00:00:00");
        assert_eq!(date_time(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(date_time(1_796_605_323), "2026-12-07T01:02:03");
        assert_eq!(date_time(4_107_542_399), "2100-02-28T23:59:59");
    }
}
