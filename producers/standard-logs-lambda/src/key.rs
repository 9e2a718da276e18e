//! The object key of an S3 notification, which S3 sends URL-encoded (`+` for a space).

/// The key S3 stores for the notification's `encoded` key: `+` is a space, `%XX` a byte; the
/// result must be UTF-8.
pub fn object_key(encoded: &str) -> Result<String, String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = encoded
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent-encoding at byte {i} of the object key"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "the object key is not utf-8 once decoded".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded_as_s3_encodes_them() {
        assert_eq!(
            object_key("logs/E2X.2026-11-29-10.ab.gz").as_deref(),
            Ok("logs/E2X.2026-11-29-10.ab.gz")
        );
        assert_eq!(object_key("a+b%2Bc%3D").as_deref(), Ok("a b+c="));
        assert_eq!(object_key("%E2%9C%93").as_deref(), Ok("✓"));
        assert!(object_key("bad%2").is_err());
        assert!(object_key("%ff").is_err());
    }
}
