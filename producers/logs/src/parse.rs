//! Reading log files of the three CloudFront formats line by line, with line numbers.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::json;
use crate::realtime::RealtimeFields;
use crate::record::{Columns, Field, LogLine, Malformed, tab_spans};

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

/// Which of CloudFront's log formats a file is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    /// Standard logs in the W3C format (legacy, and v2's W3C output): `#Fields` header lines,
    /// tab-separated records.
    Standard,
    /// Standard logging v2's JSON output: one JSON object a line.
    V2Json,
    /// Real-time log records (as a Kinesis consumer writes them out, one a line), read by the
    /// configuration's field list.
    Realtime(RealtimeFields),
}

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

/// Reads the records of one log file, in order. Empty lines are skipped; in the standard format
/// header lines (`#Version`, `#Fields`) are read, not returned, and a `#Fields` line applies to
/// the records after it. A line that cannot be a record is returned as [`Malformed`] with its
/// number, and reading goes on.
pub struct LogReader<R> {
    reader: R,
    format: LogFormat,
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
    /// A reader of a standard (W3C) log over `reader` (plain text; see [`open`] for gzip).
    /// Until a `#Fields` line says otherwise, records are read with [`DEFAULT_FIELDS`].
    pub fn new(reader: R) -> Self {
        LogReader::with_format(reader, LogFormat::Standard)
    }

    /// A reader of a log in `format` over `reader`.
    pub fn with_format(reader: R, format: LogFormat) -> Self {
        LogReader {
            reader,
            format,
            number: 0,
            columns: Arc::new(Columns::new(DEFAULT_FIELDS, Field::standard)),
            buf: Vec::with_capacity(1024),
            done: false,
        }
    }

    /// Lines read so far, header lines included.
    pub fn lines_read(&self) -> usize {
        self.number
    }

    /// The next line as text, without its line break; `None` at the end of the file.
    fn next_line(&mut self) -> Option<Result<(), Malformed>> {
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
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        Some(Ok(()))
    }

    /// A standard-log line: a header line (`None`, the layout updated) or a record.
    fn standard(&mut self, text: &str, line: usize) -> Option<Result<LogLine, Malformed>> {
        if let Some(header) = text.strip_prefix('#') {
            let names = header.strip_prefix("Fields:")?;
            let columns = Columns::new(names.split_whitespace(), Field::standard);
            if columns.count == 0 {
                return Some(Err(Malformed {
                    line,
                    reason: "a #Fields line with no field names".into(),
                }));
            }
            self.columns = Arc::new(columns);
            return None;
        }
        let spans = tab_spans(text, self.columns.count);
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
        Some(Ok(LogLine::new(
            line,
            text.to_owned(),
            spans,
            Arc::clone(&self.columns),
        )))
    }
}

impl<R: BufRead> Iterator for LogReader<R> {
    type Item = Result<LogLine, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if let Err(m) = self.next_line()? {
                return Some(Err(m));
            }
            let line = self.number;
            if self.buf.is_empty() {
                continue;
            }
            let buf = std::mem::take(&mut self.buf);
            let item = match std::str::from_utf8(&buf) {
                Err(e) => Some(Err(Malformed {
                    line,
                    reason: format!("not utf-8 text ({e})"),
                })),
                Ok(text) => match &self.format {
                    LogFormat::Standard => self.standard(text, line),
                    LogFormat::V2Json => Some(json::parse_line(text, line)),
                    LogFormat::Realtime(fields) => Some(fields.parse_text(text, line)),
                },
            };
            self.buf = buf;
            if item.is_some() {
                return item;
            }
        }
        None
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
    fn json_and_realtime_files_are_read_line_by_line() {
        let text = "{\"cs-method\":\"GET\"}\n\nnot json\n";
        let out: Vec<_> = LogReader::with_format(text.as_bytes(), LogFormat::V2Json).collect();
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].as_ref().map(|l| l.get(Field::Method)),
            Ok(Some("GET"))
        );
        assert_eq!(out[1].as_ref().map_err(|m| m.line), Err(3));

        let fields =
            RealtimeFields::parse("timestamp,sc-status,cs-method,cs-uri-stem,x-edge-request-id")
                .expect("fields");
        let text = "1.0\t200\tGET\t/\tid\n#not a header\n";
        let out: Vec<_> =
            LogReader::with_format(text.as_bytes(), LogFormat::Realtime(fields)).collect();
        assert_eq!(out.len(), 2);
        assert!(out[0].is_ok());
        assert!(
            out[1].as_ref().is_err_and(|m| m.line == 2),
            "no header lines in real-time logs"
        );
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
