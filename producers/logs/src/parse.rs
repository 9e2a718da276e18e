//! Reading CloudFront standard log files: header lines, tab-separated records, line numbers.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

/// The fields of a legacy standard log, in order, for a file that has no `#Fields` line.
pub const DEFAULT_FIELDS: [&str; 33] = [
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
];

/// Opens a log file's contents: gzipped (by its magic bytes, whatever the file is called) or
/// plain text.
pub fn open<R: Read + 'static>(reader: R) -> io::Result<Box<dyn BufRead>> {
    let mut reader = BufReader::new(reader);
    let gzipped = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzipped {
        Box::new(BufReader::new(MultiGzDecoder::new(reader)))
    } else {
        Box::new(reader)
    })
}

/// A line that is not a record: its 1-based number in the file (header lines count) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct Malformed {
    /// The line's number, counted from the file's first line.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Where the fields the importer reads are, by the file's `#Fields` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Columns {
    pub count: usize,
    pub date: Option<usize>,
    pub time: Option<usize>,
    pub c_ip: Option<usize>,
    pub method: Option<usize>,
    pub uri_stem: Option<usize>,
    pub status: Option<usize>,
    pub referer: Option<usize>,
    pub user_agent: Option<usize>,
    pub query: Option<usize>,
    pub request_id: Option<usize>,
    pub host_header: Option<usize>,
    pub country: Option<usize>,
}

impl Columns {
    fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<&str> = names.into_iter().collect();
        let at = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        Columns {
            count: names.len(),
            date: at("date"),
            time: at("time"),
            c_ip: at("c-ip"),
            method: at("cs-method"),
            uri_stem: at("cs-uri-stem"),
            status: at("sc-status"),
            referer: at("cs(Referer)"),
            user_agent: at("cs(User-Agent)"),
            query: at("cs-uri-query"),
            request_id: at("x-edge-request-id"),
            host_header: at("x-host-header"),
            country: at("c-country"),
        }
    }
}

/// One record of a log file.
#[derive(Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its 1-based line number in the file.
    pub number: usize,
    text: String,
    spans: Vec<(usize, usize)>,
    pub(crate) columns: Arc<Columns>,
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
    /// The value of the column at `index`, `None` for a missing column or CloudFront's `-`.
    pub(crate) fn at(&self, index: Option<usize>) -> Option<&str> {
        let (start, end) = *self.spans.get(index?)?;
        let value = &self.text[start..end];
        (value != "-" && !value.is_empty()).then_some(value)
    }

    /// The value of a field by its `#Fields` name (`-` reads as `None`).
    pub fn field(&self, name: &str) -> Option<&str> {
        let index = match name {
            "date" => self.columns.date,
            "time" => self.columns.time,
            "c-ip" => self.columns.c_ip,
            "cs-method" => self.columns.method,
            "cs-uri-stem" => self.columns.uri_stem,
            "sc-status" => self.columns.status,
            "cs(Referer)" => self.columns.referer,
            "cs(User-Agent)" => self.columns.user_agent,
            "cs-uri-query" => self.columns.query,
            "x-edge-request-id" => self.columns.request_id,
            "x-host-header" => self.columns.host_header,
            "c-country" => self.columns.country,
            _ => None,
        };
        self.at(index)
    }
}

/// Reads the records of one log file, in order. Header lines (`#Version`, `#Fields`) are read,
/// not returned; a `#Fields` line applies to the records after it. A line that cannot be a
/// record is returned as [`Malformed`] with its number, and reading goes on.
pub struct LogReader<R> {
    reader: R,
    number: usize,
    columns: Arc<Columns>,
    buf: Vec<u8>,
    done: bool,
}

impl<R> fmt::Debug for LogReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogReader")
            .field("line", &self.number)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> LogReader<R> {
    /// A reader over `reader` (plain text; see [`open`] for gzip). Until a `#Fields` line says
    /// otherwise, records are read with [`DEFAULT_FIELDS`].
    pub fn new(reader: R) -> Self {
        LogReader {
            reader,
            number: 0,
            columns: Arc::new(Columns::new(DEFAULT_FIELDS)),
            buf: Vec::with_capacity(1024),
            done: false,
        }
    }

    /// Lines read so far, header lines included.
    pub fn lines_read(&self) -> usize {
        self.number
    }
}

impl<R: BufRead> Iterator for LogReader<R> {
    type Item = Result<LogLine, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    // The rest of the file cannot be read (a truncated gzip stream, say).
                    self.done = true;
                    return Some(Err(Malformed {
                        line: self.number + 1,
                        reason: format!("cannot read the rest of the file: {e}"),
                    }));
                }
            }
            self.number += 1;
            let line = self.number;
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if self.buf.is_empty() {
                continue;
            }
            let text = match std::str::from_utf8(&self.buf) {
                Ok(t) => t,
                Err(e) => {
                    return Some(Err(Malformed {
                        line,
                        reason: format!("not utf-8 text ({e})"),
                    }));
                }
            };
            if let Some(header) = text.strip_prefix('#') {
                if let Some(names) = header.strip_prefix("Fields:") {
                    let columns = Columns::new(names.split_whitespace());
                    if columns.count == 0 {
                        return Some(Err(Malformed {
                            line,
                            reason: "a #Fields line with no field names".into(),
                        }));
                    }
                    self.columns = Arc::new(columns);
                }
                continue;
            }
            let mut spans = Vec::with_capacity(self.columns.count);
            let mut start = 0;
            for (i, b) in text.bytes().enumerate() {
                if b == b'\t' {
                    spans.push((start, i));
                    start = i + 1;
                }
            }
            spans.push((start, text.len()));
            if spans.len() != self.columns.count {
                return Some(Err(Malformed {
                    line,
                    reason: format!(
                        "{} tab-separated fields where the #Fields line names {}",
                        spans.len(),
                        self.columns.count
                    ),
                }));
            }
            return Some(Ok(LogLine {
                number: line,
                text: text.to_owned(),
                spans,
                columns: Arc::clone(&self.columns),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_records_and_line_numbers() {
        let text = "#Version: 1.0\n#Fields: date time cs-method\n2026-01-02\t03:04:05\tGET\n\nbroken\n2026-01-02\t03:04:06\t-\n";
        let out: Vec<_> = LogReader::new(text.as_bytes()).collect();
        assert_eq!(out.len(), 3);
        let first = out[0].as_ref().expect("a record");
        assert_eq!(first.number, 3);
        assert_eq!(first.field("cs-method"), Some("GET"));
        assert_eq!(
            out[1].as_ref().err().map(|m| m.line),
            Some(5),
            "the empty line counts"
        );
        let last = out[2].as_ref().expect("a record");
        assert_eq!(last.field("cs-method"), None, "- is absent");
        assert_eq!(last.field("date"), Some("2026-01-02"));
    }

    #[test]
    fn gzip_is_detected_by_content() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"#Fields: date\n2026-01-01\n").expect("write");
        let bytes = gz.finish().expect("gzip");
        let reader = open(io::Cursor::new(bytes)).expect("open");
        let lines: Vec<_> = LogReader::new(reader).collect();
        assert_eq!(lines.len(), 1);
        let plain = open(io::Cursor::new(b"#Fields: date\n2026-01-01\n".to_vec())).expect("open");
        assert_eq!(LogReader::new(plain).count(), 1);
    }
}
