//! One record of any log format: the fields the importer reads, by name, with line numbers.

use std::fmt;
use std::sync::Arc;

/// The fields of a log record the mapping reads. Each format names them its own way
/// ([`Field::standard`] for the standard logs' W3C and JSON names, [`Field::realtime`] for
/// real-time logs').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `date`: `YYYY-MM-DD`, UTC.
    Date,
    /// `time`: `HH:MM:SS`, UTC, when the response finished.
    Time,
    /// `timestamp`: seconds since the epoch (a fraction allowed), or RFC 3339.
    Timestamp,
    /// `timestamp(ms)`: milliseconds since the epoch (standard logging v2).
    TimestampMs,
    /// `c-ip`: the viewer's address (only ever enters the keyed visitor hash).
    ClientIp,
    /// `cs-method`.
    Method,
    /// `cs-uri-stem`: the path (real-time logs: with the query string).
    UriStem,
    /// `cs-uri-query`.
    Query,
    /// `sc-status`.
    Status,
    /// The `Referer` header, URL-encoded.
    Referer,
    /// The `User-Agent` header, URL-encoded.
    UserAgent,
    /// `x-edge-request-id`: CloudFront's request id.
    RequestId,
    /// The `Host` the viewer sent.
    Host,
    /// `c-country`.
    Country,
}

impl Field {
    /// Every field, in index order.
    pub const ALL: [Field; 14] = [
        Field::Date,
        Field::Time,
        Field::Timestamp,
        Field::TimestampMs,
        Field::ClientIp,
        Field::Method,
        Field::UriStem,
        Field::Query,
        Field::Status,
        Field::Referer,
        Field::UserAgent,
        Field::RequestId,
        Field::Host,
        Field::Country,
    ];

    /// The field a standard log (W3C `#Fields` line, or a v2 JSON key) calls `name`, compared
    /// without case. In standard logs `x-host-header` is the viewer's `Host` (`cs(Host)` is the
    /// distribution's domain).
    pub fn standard(name: &str) -> Option<Field> {
        let fields = [
            ("date", Field::Date),
            ("time", Field::Time),
            ("timestamp", Field::Timestamp),
            ("timestamp(ms)", Field::TimestampMs),
            ("c-ip", Field::ClientIp),
            ("cs-method", Field::Method),
            ("cs-uri-stem", Field::UriStem),
            ("cs-uri-query", Field::Query),
            ("sc-status", Field::Status),
            ("cs(Referer)", Field::Referer),
            ("cs(User-Agent)", Field::UserAgent),
            ("x-edge-request-id", Field::RequestId),
            ("x-host-header", Field::Host),
            ("c-country", Field::Country),
        ];
        lookup(&fields, name)
    }

    /// The field a real-time log configuration calls `name`, compared without case. In real-time
    /// logs `cs-host` is the viewer's `Host` (`x-host-header` is the distribution's domain).
    pub fn realtime(name: &str) -> Option<Field> {
        let fields = [
            ("timestamp", Field::Timestamp),
            ("c-ip", Field::ClientIp),
            ("cs-method", Field::Method),
            ("cs-uri-stem", Field::UriStem),
            ("cs-uri-query", Field::Query),
            ("sc-status", Field::Status),
            ("cs-referer", Field::Referer),
            ("cs-user-agent", Field::UserAgent),
            ("x-edge-request-id", Field::RequestId),
            ("cs-host", Field::Host),
            ("c-country", Field::Country),
        ];
        lookup(&fields, name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

fn lookup(fields: &[(&str, Field)], name: &str) -> Option<Field> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, f)| *f)
}

/// Where each [`Field`] is among a record's values: the column layout of a W3C `#Fields` line or a
/// real-time field list, or the fixed layout of a JSON record's extracted values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// How many values a record has.
    pub(crate) count: usize,
    at: [Option<usize>; Field::ALL.len()],
}

impl Columns {
    /// The layout of `names`, read by `field` (unknown names are columns the mapping skips).
    pub(crate) fn new<'a>(
        names: impl IntoIterator<Item = &'a str>,
        field: fn(&str) -> Option<Field>,
    ) -> Self {
        let mut columns = Columns {
            count: 0,
            at: [None; Field::ALL.len()],
        };
        for (i, name) in names.into_iter().enumerate() {
            columns.count = i + 1;
            if let Some(f) = field(name)
                && columns.at[f.index()].is_none()
            {
                columns.at[f.index()] = Some(i);
            }
        }
        columns
    }

    /// One value per field, in [`Field::ALL`] order (a JSON record's extracted values).
    pub(crate) fn identity() -> Self {
        let mut at = [None; Field::ALL.len()];
        for (i, slot) in at.iter_mut().enumerate() {
            *slot = Some(i);
        }
        Columns {
            count: Field::ALL.len(),
            at,
        }
    }

    /// Whether records in this layout have `field`.
    pub fn has(&self, field: Field) -> bool {
        self.at[field.index()].is_some()
    }
}

/// A record that is not one: its 1-based line number in the file (header lines count; for a
/// stream record, its position in the batch) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct Malformed {
    /// The line's number, counted from the file's first line.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// One record of a log, whatever its format: its values and where each field is among them.
#[derive(Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its 1-based line number in the file.
    pub number: usize,
    text: String,
    spans: Vec<(usize, usize)>,
    columns: Arc<Columns>,
}

impl fmt::Debug for LogLine {
    // The line holds a client IP: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogLine")
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

impl LogLine {
    /// A record of `text` split into `spans` (byte ranges), laid out by `columns`.
    pub(crate) fn new(
        number: usize,
        text: String,
        spans: Vec<(usize, usize)>,
        columns: Arc<Columns>,
    ) -> Self {
        LogLine {
            number,
            text,
            spans,
            columns,
        }
    }

    /// The value of `field`, `None` when the record lacks it or holds CloudFront's `-`.
    pub fn get(&self, field: Field) -> Option<&str> {
        let (start, end) = *self.spans.get(self.columns.at[field.index()]?)?;
        let value = &self.text[start..end];
        (value != "-" && !value.is_empty()).then_some(value)
    }

    /// The value of a field by its standard-log name (`-` reads as `None`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.get(Field::standard(name)?)
    }
}

/// Splits `text` at tabs: the byte range of each value.
pub(crate) fn tab_spans(text: &str, capacity: usize) -> Vec<(usize, usize)> {
    let mut spans = Vec::with_capacity(capacity);
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\t' {
            spans.push((start, i));
            start = i + 1;
        }
    }
    spans.push((start, text.len()));
    spans
}
