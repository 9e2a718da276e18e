//! Campaign (`utm_*`) parameters from the query string.
//!
//! - Parameters are `&`-separated `name=value` pairs; names are matched exactly (lower-case
//!   `utm_source`, `utm_medium`, `utm_campaign`, `utm_term`, `utm_content`) after
//!   percent-decoding.
//! - Values are decoded as HTML forms encode them: `+` is a space, then `%XX` once; malformed
//!   escapes are kept as they are and invalid UTF-8 becomes U+FFFD.
//! - Control characters are removed and the value trimmed; an empty value counts as absent.
//! - Each value is cut to 128 characters (the schema's bound).
//! - The first occurrence of a name wins; scanning stops once all five are found.

use std::borrow::Cow;

use tally_schema::page_view::MAX_UTM_CHARS;
use tally_schema::page_view::path::{percent_decode, truncate_chars};

/// The five campaign parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utm {
    /// `utm_source`.
    pub source: Option<String>,
    /// `utm_medium`.
    pub medium: Option<String>,
    /// `utm_campaign`.
    pub campaign: Option<String>,
    /// `utm_term`.
    pub term: Option<String>,
    /// `utm_content`.
    pub content: Option<String>,
}

/// Longest parameter name worth decoding, in bytes: `utm_campaign` written fully
/// percent-encoded is 36 bytes.
const MAX_NAME_BYTES: usize = 64;

impl Utm {
    /// Reads the campaign parameters of a query string (without the leading `?`).
    pub fn parse(querystring: &str) -> Self {
        let mut utm = Utm::default();
        let mut found = 0;
        for pair in querystring.split('&') {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            if raw_name.len() > MAX_NAME_BYTES {
                continue;
            }
            let name = if raw_name.contains(['%', '+']) {
                Cow::Owned(percent_decode(&raw_name.replace('+', " ")))
            } else {
                Cow::Borrowed(raw_name)
            };
            let slot = match &*name {
                "utm_source" => &mut utm.source,
                "utm_medium" => &mut utm.medium,
                "utm_campaign" => &mut utm.campaign,
                "utm_term" => &mut utm.term,
                "utm_content" => &mut utm.content,
                _ => continue,
            };
            if slot.is_some() {
                continue;
            }
            *slot = value(raw_value);
            if slot.is_some() {
                found += 1;
                if found == 5 {
                    break;
                }
            }
        }
        utm
    }
}

fn value(raw: &str) -> Option<String> {
    // Four bytes per escape, three per decoded character: more than this cannot matter.
    let raw = crate::agent::cut(raw, MAX_UTM_CHARS * 12);
    let decoded = percent_decode(&raw.replace('+', " "));
    let cleaned: String = decoded.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim();
    (!trimmed.is_empty()).then(|| truncate_chars(trimmed.to_owned(), MAX_UTM_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_bounds() {
        let u = Utm::parse(
            "a=1&utm_source=news+letter&utm_medium=e%2Dmail&utm_campaign=%C3%A9t%C3%A9%202026&utm_term=a%2Bb&utm_content=&utm_content=second&utm_source=ignored",
        );
        assert_eq!(u.source.as_deref(), Some("news letter"));
        assert_eq!(u.medium.as_deref(), Some("e-mail"));
        assert_eq!(u.campaign.as_deref(), Some("été 2026"));
        assert_eq!(u.term.as_deref(), Some("a+b"));
        // An empty first value counts as absent, so the next one is taken.
        assert_eq!(u.content.as_deref(), Some("second"));
    }

    #[test]
    fn hostile_values() {
        let u = Utm::parse(&format!("utm_campaign={}", "%C3%A9".repeat(10_000)));
        assert_eq!(u.campaign.map(|c| c.chars().count()), Some(MAX_UTM_CHARS));
        let u = Utm::parse("utm_source=%FF%zz&utm_medium=%0A%0D&utm%5Fterm=x&UTM_CONTENT=y");
        assert_eq!(u.source.as_deref(), Some("\u{FFFD}%zz"));
        assert_eq!(u.medium, None);
        assert_eq!(u.term.as_deref(), Some("x"));
        assert_eq!(u.content, None);
        assert_eq!(Utm::parse(""), Utm::default());
        assert_eq!(Utm::parse("&&&==&utm_source"), Utm::default());
    }
}
