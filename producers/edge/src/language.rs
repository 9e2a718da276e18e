//! The viewer's language: the first tag of `Accept-Language`.
//!
//! The first comma-separated entry, without its `;q=` weight, is kept when it matches the
//! schema's pattern (`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`, 2–35 characters); `*` and anything
//! malformed give no language. The tag is put in BCP 47's conventional case (`en-gb` → `en-GB`,
//! `zh-hant-tw` → `zh-Hant-TW`) so that one language counts once.

/// Longest language tag kept (the schema's bound).
pub const MAX_TAG_CHARS: usize = 35;

/// The first language of an `Accept-Language` value.
pub fn first_language(accept_language: &str) -> Option<String> {
    let first = accept_language.split(',').next()?;
    let tag = first.split(';').next()?.trim();
    if tag.len() < 2 || tag.len() > MAX_TAG_CHARS {
        return None;
    }
    let mut out = String::with_capacity(tag.len());
    for (i, sub) in tag.split('-').enumerate() {
        let b = sub.as_bytes();
        if i == 0 {
            if !(2..=8).contains(&b.len()) || !b.iter().all(u8::is_ascii_alphabetic) {
                return None;
            }
            out.push_str(&sub.to_ascii_lowercase());
            continue;
        }
        if !(1..=8).contains(&b.len()) || !b.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        out.push('-');
        let alpha = b.iter().all(u8::is_ascii_alphabetic);
        match b.len() {
            2 if alpha => out.push_str(&sub.to_ascii_uppercase()),
            4 if alpha => {
                out.push_str(&sub[..1].to_ascii_uppercase());
                out.push_str(&sub[1..].to_ascii_lowercase());
            }
            _ => out.push_str(&sub.to_ascii_lowercase()),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_tag() {
        let cases = [
            ("fr-FR,fr;q=0.9,en;q=0.8", Some("fr-FR")),
            ("en-gb", Some("en-GB")),
            ("ja", Some("ja")),
            (" de-CH ;q=1", Some("de-CH")),
            ("zh-hant-tw", Some("zh-Hant-TW")),
            ("es-419", Some("es-419")),
            ("*", None),
            ("", None),
            ("e", None),
            ("en_US", None),
            ("en-", None),
            ("1a", None),
            ("français", None),
            ("en-abcdefghi", None),
        ];
        for (header, want) in cases {
            assert_eq!(first_language(header).as_deref(), want, "{header:?}");
        }
        assert_eq!(first_language(&"a".repeat(100_000)), None);
    }
}
