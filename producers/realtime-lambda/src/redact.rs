//! A rejected record as the failure queue may keep it: no client address, user agent, cookie or
//! other header value.

use std::net::IpAddr;

use tally_logs::RealtimeFields;

/// Fields whose values identify a viewer, blanked wherever the field list places them.
const IDENTIFYING: [&str; 7] = [
    "c-ip",
    "x-forwarded-for",
    "cs-user-agent",
    "cs-referer",
    "cs-cookie",
    "cs-headers",
    "cs-header-names",
];

/// Longest value kept, in bytes (longer ones are cut at a character boundary).
const MAX_VALUE_BYTES: usize = 256;

/// `data` (one real-time record) with every identifying value replaced: when the record has as
/// many values as `fields` names, the values of identifying fields become `<redacted>`; when it
/// has not (the positions cannot be trusted), every value but short plain tokens does. Anything
/// that reads as an IP address, or a comma-separated list of them, becomes `<ip>` either way.
pub fn redact(data: &[u8], fields: &RealtimeFields) -> String {
    let text = String::from_utf8_lossy(data);
    let text = text.trim_end_matches(['\n', '\r']);
    let values: Vec<&str> = text.split('\t').collect();
    let aligned = values.len() == fields.names().len();
    let out: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let identifying = aligned
                && IDENTIFYING
                    .iter()
                    .any(|f| fields.names()[i].eq_ignore_ascii_case(f));
            if is_ip_list(value) {
                "<ip>".to_owned()
            } else if identifying || (!aligned && !is_plain(value)) {
                "<redacted>".to_owned()
            } else {
                cut(value).to_owned()
            }
        })
        .collect();
    out.join("\t")
}

fn is_ip_list(value: &str) -> bool {
    !value.is_empty()
        && value
            .split(',')
            .all(|part| part.trim().parse::<IpAddr>().is_ok())
}

/// A short token without spaces or percent-encoding: a status, a method, a path, a number.
fn is_plain(value: &str) -> bool {
    value.len() <= 64 && !value.contains(['%', ' ', ';', '='])
}

fn cut(value: &str) -> &str {
    if value.len() <= MAX_VALUE_BYTES {
        return value;
    }
    let mut end = MAX_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> RealtimeFields {
        RealtimeFields::parse(
            "timestamp,c-ip,sc-status,cs-method,cs-uri-stem,x-edge-request-id,cs-user-agent",
        )
        .expect("fields")
    }

    #[test]
    fn identifying_values_never_survive() {
        let ua = "Mozilla/5.0%20(X11;%20Linux%20x86_64)";
        let aligned = format!("1.5\t192.0.2.1\t200\tGET\t/a/\tid-1\t{ua}\n");
        assert_eq!(
            redact(aligned.as_bytes(), &fields()),
            "1.5\t<ip>\t200\tGET\t/a/\tid-1\t<redacted>"
        );
        // One value short: positions are not trusted, and what is not plain goes.
        let short = format!("1.5\t2001:db8::1, 198.51.100.7\tGET\t/a/\tid-1\t{ua}");
        assert_eq!(
            redact(short.as_bytes(), &fields()),
            "1.5\t<ip>\tGET\t/a/\tid-1\t<redacted>"
        );
        let long = "x".repeat(1000);
        let out = redact(long.as_bytes(), &fields());
        assert_eq!(out, "<redacted>", "a long value in an unaligned record");
    }
}
