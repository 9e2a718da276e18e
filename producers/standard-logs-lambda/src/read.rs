//! An object's bytes → its log lines, in the format it is in.

use std::io::{BufRead, Cursor};

use tally_logs::{LogFormat, LogReader, Malformed, open};

use crate::config::FormatChoice;

/// The format of a log whose (gunzipped) text starts with `start`: JSON when its first
/// non-blank byte is `{`, W3C otherwise.
pub fn detect(start: &[u8]) -> LogFormat {
    match start.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => LogFormat::V2Json,
        _ => LogFormat::Standard,
    }
}

/// The lines of an object's `bytes` (gzip detected by its magic bytes), read in `choice`'s
/// format. An object that is not even readable as gzip yields one [`Malformed`] for line 1.
pub fn lines(
    bytes: Vec<u8>,
    choice: FormatChoice,
) -> Result<LogReader<Box<dyn BufRead>>, Malformed> {
    let unreadable = |e: std::io::Error| Malformed {
        line: 1,
        reason: format!("cannot read the object: {e}"),
    };
    let mut reader = open(Cursor::new(bytes)).map_err(unreadable)?;
    let format = match choice {
        FormatChoice::Standard => LogFormat::Standard,
        FormatChoice::V2Json => LogFormat::V2Json,
        FormatChoice::Auto => detect(reader.fill_buf().map_err(unreadable)?),
    };
    Ok(LogReader::with_format(reader, format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tally_logs::LogLine;

    #[test]
    fn the_format_is_detected_after_gunzip() {
        let json = b"\n{\"cs-method\":\"GET\"}\n".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&json).expect("gzip");
        let zipped = gz.finish().expect("gzip");
        for bytes in [json, zipped] {
            let mut reader = lines(bytes, FormatChoice::Auto).expect("readable");
            let line = reader.next().expect("a line").expect("a record");
            assert_eq!(line.get(tally_logs::Field::Method), Some("GET"));
        }
        let w3c = b"#Version: 1.0\n#Fields: date time cs-method\n2026-01-02\t03:04:05\tGET\n";
        let line = lines(w3c.to_vec(), FormatChoice::Auto)
            .expect("readable")
            .next();
        assert!(
            line.is_some_and(|l| l.is_ok_and(|l| l.get(tally_logs::Field::Method) == Some("GET")))
        );
        // Forced to JSON, a W3C file is malformed line by line, not silently empty.
        let forced: Vec<_> = lines(w3c.to_vec(), FormatChoice::V2Json)
            .expect("readable")
            .collect();
        assert_eq!(forced.iter().filter(|l| l.is_err()).count(), 3);
    }

    #[test]
    fn a_truncated_gzip_object_is_malformed_not_empty() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&b"#Fields: date\n".repeat(1000))
            .expect("gzip");
        let mut zipped = gz.finish().expect("gzip");
        zipped.truncate(zipped.len() / 2);
        let out: Vec<Result<LogLine, Malformed>> = match lines(zipped, FormatChoice::Standard) {
            Ok(reader) => reader.collect(),
            Err(m) => vec![Err(m)],
        };
        assert!(
            out.iter()
                .any(|l| l.as_ref().is_err_and(|m| m.reason.contains("cannot read"))),
            "{out:?}"
        );
    }
}
