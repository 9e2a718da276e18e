//! CloudFront standard logging v2 in its JSON output: one JSON object a line, keyed by the
//! standard logs' field names (`date`, `time`, `c-ip`, `sc-status`, `x-edge-request-id`…).

use std::sync::{Arc, LazyLock};

use serde_json::{Map, Value};

use crate::record::{Columns, Field, LogLine, Malformed};

/// The layout of every JSON record once its values are extracted: one per [`Field`].
static COLUMNS: LazyLock<Arc<Columns>> = LazyLock::new(|| Arc::new(Columns::identity()));

/// Reads one JSON line. Values may be strings or numbers; `null`, `"-"` and absent keys are
/// empty; keys the mapping does not read are ignored. Anything but an object, or an object or
/// array where a value the mapping reads belongs, is [`Malformed`], naming the key.
pub(crate) fn parse_line(text: &str, number: usize) -> Result<LogLine, Malformed> {
    let malformed = |reason: String| Malformed {
        line: number,
        reason,
    };
    let object: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| malformed(format!("not a JSON object ({e})")))?;
    let mut values: [Option<String>; Field::ALL.len()] = Default::default();
    for (key, value) in &object {
        let Some(field) = Field::standard(key) else {
            continue;
        };
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Null => continue,
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(malformed(format!("{key:?} is not a string or a number")));
            }
        };
        values[Field::ALL
            .iter()
            .position(|f| *f == field)
            .unwrap_or_default()] = Some(value);
    }
    let mut joined = String::with_capacity(text.len());
    let mut spans = Vec::with_capacity(values.len());
    for value in values {
        let start = joined.len();
        joined.push_str(value.as_deref().unwrap_or_default());
        spans.push((start, joined.len()));
    }
    Ok(LogLine::new(number, joined, spans, Arc::clone(&COLUMNS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_numbers_and_empties() {
        let line = parse_line(
            r#"{"date":"2026-03-07","time":"08:15:02","sc-status":200,"c-ip":"-","cs(Referer)":null,"x-edge-request-id":"id-1","sc-bytes":"512"}"#,
            4,
        )
        .expect("a record");
        assert_eq!(line.number, 4);
        assert_eq!(
            line.get(Field::Status),
            Some("200"),
            "a number reads as text"
        );
        assert_eq!(line.get(Field::Date), Some("2026-03-07"));
        assert_eq!(line.get(Field::ClientIp), None, "- is empty");
        assert_eq!(line.get(Field::Referer), None, "null is empty");
        assert_eq!(line.get(Field::UserAgent), None, "absent");
        assert_eq!(line.field("x-edge-request-id"), Some("id-1"));
    }

    #[test]
    fn what_is_not_a_record_is_malformed() {
        for (text, reason) in [
            ("[1,2]", "not a JSON object"),
            ("{\"date\":", "not a JSON object"),
            (
                r#"{"sc-status":{"code":200}}"#,
                "\"sc-status\" is not a string or a number",
            ),
        ] {
            let err = parse_line(text, 9).expect_err("an error");
            assert_eq!(err.line, 9);
            assert!(err.reason.starts_with(reason), "{text}: {err}");
        }
        assert!(
            parse_line(r#"{"cs-headers":{"a":1}}"#, 1).is_ok(),
            "unread keys are ignored"
        );
    }
}
