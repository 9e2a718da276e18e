//! A line (or a whole object) that can never be a page view, as the failure queue keeps it:
//! where it is and why, never its values.

use std::net::IpAddr;

use serde::Serialize;

/// Longest reason kept, in bytes.
const MAX_REASON_BYTES: usize = 512;

/// What the failure queue keeps of a rejected line: enough to find it in the raw object while
/// the object exists (48 hours), nothing of what the viewer sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedLine {
    /// What was wrong (`malformed: 5 tab-separated fields where …`, `bad_time: …`), scrubbed
    /// ([`scrub`]).
    pub reason: String,
    /// The log bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The line's number, counted from the object's first line; `None` when the whole object
    /// was rejected (gone, unreadable, an undecodable key).
    pub line: Option<usize>,
}

impl RejectedLine {
    /// A rejection of `line` (or of the whole object) for `reason`, scrubbed.
    pub fn new(bucket: &str, key: &str, line: Option<usize>, reason: &str) -> Self {
        RejectedLine {
            reason: scrub(reason),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            line,
        }
    }
}

/// `reason` with every quoted value that could identify a viewer replaced by `<redacted>`: a
/// quoted value is kept only when it is a short plain token (a time, a status, a field name),
/// not an IP address. Reasons quote values (`sc-status "abc"`, a JSON parser's `invalid type:
/// string "…"`), and a malformed line can put anything where a time should be.
pub fn scrub(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut rest = reason;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else {
            out.push_str("\"<redacted>");
            rest = "";
            break;
        };
        let value = &after[..close];
        out.push('"');
        out.push_str(if is_plain(value) { value } else { "<redacted>" });
        out.push('"');
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    if out.len() > MAX_REASON_BYTES {
        let mut end = MAX_REASON_BYTES;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

fn is_plain(value: &str) -> bool {
    value.len() <= 32
        && value.parse::<IpAddr>().is_err()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":.-_() ".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_address_or_user_agent_survives_a_reason() {
        assert_eq!(scrub("sc-status \"abc\""), "sc-status \"abc\"");
        assert_eq!(
            scrub("date and time \"2026-13-01\" \"03:04:05\""),
            "date and time \"2026-13-01\" \"03:04:05\""
        );
        assert_eq!(
            scrub("not a JSON object (invalid type: string \"192.0.2.1\", expected a map)"),
            "not a JSON object (invalid type: string \"<redacted>\", expected a map)"
        );
        assert_eq!(scrub("x \"2001:db8::1\""), "x \"<redacted>\"");
        assert_eq!(scrub("x \"curl/8.0\" y"), "x \"<redacted>\" y");
        assert_eq!(
            scrub("x \"Mozilla/5.0 (X11; Linux x86_64)\""),
            "x \"<redacted>\""
        );
        assert_eq!(scrub("unclosed \"192.0.2.1"), "unclosed \"<redacted>");
        assert!(scrub(&"a".repeat(2000)).len() <= MAX_REASON_BYTES);
    }
}
