//! CloudFront real-time log records: tab-separated values in the order of the real-time log
//! configuration's field list.

use std::sync::Arc;

use crate::record::{Columns, Field, LogLine, Malformed, tab_spans};

/// The fields a real-time record must have to be a page view.
const REQUIRED: [&str; 5] = [
    "timestamp",
    "cs-method",
    "cs-uri-stem",
    "sc-status",
    "x-edge-request-id",
];

/// The fields of the `RealtimeLogConfig` Tally deploys, in order: what `tally deploy` puts in the
/// configuration's `Fields` and, joined by commas, in the real-time Lambda's
/// `TALLY_REALTIME_FIELDS`, so the records are read by the list they were written with. Every
/// field the mapping reads, plus `x-edge-result-type` (hit or miss, for inspection); never a
/// cookie or a header beyond referrer and user agent. The real-time Lambda's fixtures are written
/// with this list (`producers/realtime-lambda/fixtures/realtime-fields.txt`).
pub const REALTIME_FIELDS: [&str; 12] = [
    "timestamp",
    "c-ip",
    "sc-status",
    "cs-method",
    "cs-host",
    "cs-uri-stem",
    "x-edge-request-id",
    "cs-user-agent",
    "cs-referer",
    "cs-uri-query",
    "x-edge-result-type",
    "c-country",
];

/// Why a real-time field list cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldListError {
    /// No field names at all.
    #[error("the real-time field list is empty")]
    Empty,
    /// An empty or blank name.
    #[error("the real-time field list has an empty name at position {0}")]
    EmptyName(usize),
    /// A name given twice.
    #[error("the real-time field list names {0:?} twice")]
    Duplicate(String),
    /// Fields a page view needs are missing.
    #[error("the real-time field list lacks {0}: a page view needs them")]
    Missing(String),
}

/// The field list of a `RealtimeLogConfig`, in the order CloudFront sends the values (the order
/// `GetRealtimeLogConfig` returns them in). Records are read by it, never by fixed positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealtimeFields {
    names: Vec<String>,
    columns: Arc<Columns>,
}

impl RealtimeFields {
    /// The list `names`, checked: not empty, no blank or repeated name, and every field a page
    /// view needs (`timestamp`, `cs-method`, `cs-uri-stem`, `sc-status`, `x-edge-request-id`).
    /// Names the mapping does not read (`time-taken`, a field added later…) are kept as columns.
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Result<Self, FieldListError> {
        let names: Vec<String> = names
            .into_iter()
            .map(|n| n.as_ref().trim().to_owned())
            .collect();
        if names.is_empty() {
            return Err(FieldListError::Empty);
        }
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(FieldListError::EmptyName(i + 1));
            }
            if names[..i].iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(FieldListError::Duplicate(name.clone()));
            }
        }
        let missing: Vec<&str> = REQUIRED
            .into_iter()
            .filter(|r| !names.iter().any(|n| n.eq_ignore_ascii_case(r)))
            .collect();
        if !missing.is_empty() {
            return Err(FieldListError::Missing(missing.join(", ")));
        }
        let columns = Arc::new(Columns::new(
            names.iter().map(String::as_str),
            Field::realtime,
        ));
        Ok(RealtimeFields { names, columns })
    }

    /// A comma-separated list (`timestamp,c-ip,sc-status,…`), as `--fields` and the Lambda's
    /// environment give it.
    pub fn parse(list: &str) -> Result<Self, FieldListError> {
        if list.trim().is_empty() {
            return Err(FieldListError::Empty);
        }
        RealtimeFields::new(list.split(','))
    }

    /// The names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether the records carry `field`.
    pub fn has(&self, field: Field) -> bool {
        self.columns.has(field)
    }

    /// Reads one record (a Kinesis record's data, or a line of a file of them; one trailing line
    /// break is allowed). `number` names it in a [`Malformed`].
    pub fn parse_record(&self, data: &[u8], number: usize) -> Result<LogLine, Malformed> {
        let mut data = data;
        while let [rest @ .., b'\n' | b'\r'] = data {
            data = rest;
        }
        let text = std::str::from_utf8(data).map_err(|e| Malformed {
            line: number,
            reason: format!("not utf-8 text ({e})"),
        })?;
        self.parse_text(text, number)
    }

    pub(crate) fn parse_text(&self, text: &str, number: usize) -> Result<LogLine, Malformed> {
        let spans = tab_spans(text, self.names.len());
        if spans.len() != self.names.len() {
            return Err(Malformed {
                line: number,
                reason: format!(
                    "{} tab-separated fields where the real-time log configuration names {}",
                    spans.len(),
                    self.names.len()
                ),
            });
        }
        Ok(LogLine::new(
            number,
            text.to_owned(),
            spans,
            Arc::clone(&self.columns),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &str = "timestamp,c-ip,sc-status,cs-method,cs-uri-stem,x-edge-request-id";

    #[test]
    fn records_are_read_by_the_field_list() {
        let fields = RealtimeFields::parse(FIELDS).expect("fields");
        let line = fields
            .parse_record(b"1700000000.123\t192.0.2.1\t200\tGET\t/a/?x=1\tid-1\n", 7)
            .expect("a record");
        assert_eq!(line.number, 7);
        assert_eq!(line.get(Field::Status), Some("200"));
        assert_eq!(line.get(Field::UriStem), Some("/a/?x=1"));
        assert_eq!(line.get(Field::Host), None, "not in the list");
        // Another order, another reading: positions come from the list.
        let other = RealtimeFields::parse(
            "sc-status,timestamp,cs-method,cs-uri-stem,x-edge-request-id,c-ip",
        )
        .expect("fields");
        let line = other
            .parse_record(b"304\t1700000000.123\tGET\t/b/\tid-2\t-", 1)
            .expect("a record");
        assert_eq!(line.get(Field::Status), Some("304"));
        assert_eq!(line.get(Field::ClientIp), None, "- is empty");
    }

    #[test]
    fn a_record_of_another_length_is_rejected_naming_the_counts() {
        let fields = RealtimeFields::parse(FIELDS).expect("fields");
        let err = fields
            .parse_record(b"1700000000.123\t192.0.2.1\t200\tGET\t/a/", 3)
            .expect_err("an error");
        assert_eq!(
            err.to_string(),
            "line 3: 5 tab-separated fields where the real-time log configuration names 6"
        );
        let err = fields
            .parse_record(b"a\tb\tc\td\te\tf\tg", 4)
            .expect_err("an error");
        assert!(err.reason.starts_with("7 tab-separated"), "{err}");
        let err = fields.parse_record(b"\xff\tb", 5).expect_err("an error");
        assert!(err.reason.starts_with("not utf-8"), "{err}");
    }

    #[test]
    fn field_lists_are_checked() {
        assert_eq!(RealtimeFields::parse(" "), Err(FieldListError::Empty));
        assert_eq!(
            RealtimeFields::parse("timestamp,,sc-status"),
            Err(FieldListError::EmptyName(2))
        );
        assert_eq!(
            RealtimeFields::parse(&format!("{FIELDS},sc-status")),
            Err(FieldListError::Duplicate("sc-status".into()))
        );
        let err = RealtimeFields::parse("timestamp,c-ip,sc-status").expect_err("an error");
        assert_eq!(
            err.to_string(),
            "the real-time field list lacks cs-method, cs-uri-stem, x-edge-request-id: a page view needs them"
        );
        let with_unknown = RealtimeFields::parse(&format!("{FIELDS},time-taken,new-field"));
        assert_eq!(with_unknown.map(|f| f.names().len()), Ok(8));
    }
}
