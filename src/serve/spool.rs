//! The feed's overflow spool: page views the in-memory queue had no room for, kept on disk
//! until the pipeline workers catch up (`DATA/spool/serve-feed.jsonl`, one `EdgeView` per line).
//!
//! The request path appends; the workers take from the front when the queue is empty, and the
//! file is truncated once everything in it has been taken. A spool left by a killed server is
//! picked up by the next one. What is in it has been through the edge core: no raw address.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tally_edge::EdgeView;

/// Bytes buffered in memory before they are written to the file.
const WRITE_BUFFER: usize = 64 * 1024;

/// Bytes read from the file at a time; a line never comes close (URLs and headers are capped).
const READ_CHUNK: usize = 128 * 1024;

/// Where a line lies in the bytes read: `Err` for one this server never wrote (unterminated, or
/// longer than a read).
type RawLine = Result<Range<usize>, Range<usize>>;

/// One line taken from the spool.
#[derive(Debug)]
pub enum Spooled {
    /// A page view.
    View(Box<EdgeView>),
    /// A line that is not one (cut off by a crash, or damaged), and why.
    Unreadable {
        /// The line, as far as it is text.
        line: String,
        /// What was wrong.
        reason: String,
    },
}

/// The spool file and its read position.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    inner: Mutex<Inner>,
    /// Lines in the file and the buffer not yet taken. Changed only under `inner`'s lock; read
    /// without it, so the workers' "anything spooled?" never waits on the request path.
    pending: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    file: File,
    /// Lines appended, not yet written to the file.
    buffer: Vec<u8>,
    /// Where the next unread line starts.
    read_offset: u64,
}

impl Spool {
    /// Opens (or creates) the spool at `path`; returns it with the number of lines a previous
    /// process left in it.
    pub fn open(path: &Path) -> io::Result<(Spool, u64)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let (pending, torn) = count_lines(&file)?;
        if torn {
            // A process died mid-write: end its last line, so what comes next is a line of its own.
            (&file).write_all(b"\n")?;
        }
        let spool = Spool {
            path: path.to_owned(),
            inner: Mutex::new(Inner {
                file,
                buffer: Vec::new(),
                read_offset: 0,
            }),
            pending: AtomicU64::new(pending),
        };
        Ok((spool, pending))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines waiting to be taken.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Acquire)
    }

    /// Appends `view` (buffered: [`Spool::take`], a full buffer and dropping the spool write it).
    pub fn push(&self, view: &EdgeView) -> io::Result<()> {
        let mut inner = self.lock();
        // Straight into the buffer (a few hundred nanoseconds under the lock): no line of its own
        // to allocate, grow and copy on the request path.
        let start = inner.buffer.len();
        if let Err(e) = serde_json::to_writer(&mut inner.buffer, view) {
            inner.buffer.truncate(start);
            return Err(io::Error::other(e));
        }
        inner.buffer.push(b'\n');
        self.pending.fetch_add(1, Ordering::AcqRel);
        if inner.buffer.len() >= WRITE_BUFFER {
            inner.write_buffer()?;
        }
        Ok(())
    }

    /// Takes up to `max` lines from the front; empty when nothing is pending. Once everything
    /// has been taken, the file is emptied. Only the read happens under the lock the request
    /// path appends through; the parsing does not.
    pub fn take(&self, max: usize) -> io::Result<Vec<Spooled>> {
        let (chunk, lines) = self.take_raw(max)?;
        Ok(lines
            .into_iter()
            .map(|line| match line {
                Ok(range) => parse(&chunk[range]),
                Err(range) => Spooled::Unreadable {
                    line: String::from_utf8_lossy(&chunk[range]).into_owned(),
                    reason: format!(
                        "not a page view: an unterminated line or longer than {READ_CHUNK} bytes"
                    ),
                },
            })
            .collect())
    }

    /// Reads up to `max` lines from the front, under the lock: the bytes read, and each line's
    /// range in them (`Err`: not a line this server wrote).
    fn take_raw(&self, max: usize) -> io::Result<(Vec<u8>, Vec<RawLine>)> {
        let mut inner = self.lock();
        if self.pending() == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        inner.write_buffer()?;
        let mut chunk = vec![0; READ_CHUNK];
        let read = read_at_most(&inner.file, &mut chunk, inner.read_offset)?;
        chunk.truncate(read);
        let mut lines = Vec::new();
        let mut consumed = 0;
        while lines.len() < max && consumed < chunk.len() {
            match chunk[consumed..].iter().position(|&b| b == b'\n') {
                Some(len) => {
                    lines.push(Ok(consumed..consumed + len));
                    consumed += len + 1;
                }
                // The line goes on past the chunk: read it next time.
                None if consumed > 0 && read == READ_CHUNK => break,
                // Longer than a chunk, or unterminated: never a line this server wrote.
                None => {
                    lines.push(Err(consumed..chunk.len()));
                    consumed = chunk.len();
                }
            }
        }
        inner.read_offset += consumed as u64;
        if read < READ_CHUNK && consumed == read {
            // Everything written has been taken (the buffer was written first).
            inner.file.set_len(0)?;
            inner.read_offset = 0;
            self.pending.store(0, Ordering::Release);
        } else {
            // More to read, however the lines were counted.
            let left = self.pending().saturating_sub(lines.len() as u64).max(1);
            self.pending.store(left, Ordering::Release);
        }
        Ok((chunk, lines))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    fn write_buffer(&mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            self.file.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(e) = self.lock().write_buffer() {
            tracing::error!(path = %self.path.display(), error = %e, "cannot write the spool");
        }
    }
}

fn parse(line: &[u8]) -> Spooled {
    match serde_json::from_slice::<EdgeView>(line) {
        Ok(view) => Spooled::View(Box::new(view)),
        Err(e) => Spooled::Unreadable {
            line: String::from_utf8_lossy(line).into_owned(),
            reason: format!("not a page view (cut off when a server was killed?): {e}"),
        },
    }
}

/// Reads from `offset` until `buf` is full or the file ends; returns the bytes read.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Lines in `file`, a cut-off last line included, and whether there is one.
fn count_lines(file: &File) -> io::Result<(u64, bool)> {
    let mut buf = vec![0; READ_CHUNK];
    let (mut offset, mut lines, mut last) = (0u64, 0u64, b'\n');
    loop {
        let n = read_at_most(file, &mut buf, offset)?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buf[n - 1];
        offset += n as u64;
    }
    let torn = last != b'\n';
    Ok((lines + u64::from(torn), torn))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::serve::viewer::{ViewerRules, page_view};
    use hyper::HeaderMap;
    use tally_edge::EdgeConfig;

    fn view(n: usize) -> EdgeView {
        let mut headers = HeaderMap::new();
        headers.insert(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
                .parse()
                .unwrap(),
        );
        let rules = ViewerRules {
            trust_proxy: false,
            country_header: String::new(),
        };
        let peer = "127.0.0.1:5000".parse().unwrap();
        page_view(
            &rules,
            &EdgeConfig::new("localhost"),
            format!("req-{n}"),
            "GET",
            200,
            &format!("/page-{n}/"),
            "",
            &headers,
            peer,
            chrono::Utc::now(),
        )
        .unwrap()
    }

    fn paths(taken: &[Spooled]) -> Vec<String> {
        taken
            .iter()
            .map(|s| match s {
                Spooled::View(v) => v.path.clone(),
                Spooled::Unreadable { reason, .. } => format!("unreadable: {reason}"),
            })
            .collect()
    }

    #[test]
    fn takes_in_order_and_empties_the_file_once_all_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool/feed.jsonl");
        let (spool, left) = Spool::open(&path).unwrap();
        assert_eq!(left, 0);
        for n in 0..5 {
            spool.push(&view(n)).unwrap();
        }
        assert_eq!(spool.pending(), 5);
        assert_eq!(paths(&spool.take(2).unwrap()), ["/page-0/", "/page-1/"]);
        spool.push(&view(5)).unwrap();
        assert_eq!(spool.pending(), 4);
        let rest = spool.take(100).unwrap();
        assert_eq!(
            paths(&rest),
            ["/page-2/", "/page-3/", "/page-4/", "/page-5/"]
        );
        assert_eq!(spool.pending(), 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "emptied");
        assert!(spool.take(10).unwrap().is_empty());
        // Written again from the start of the file.
        spool.push(&view(6)).unwrap();
        assert_eq!(paths(&spool.take(10).unwrap()), ["/page-6/"]);
    }

    #[test]
    fn a_spool_left_behind_is_taken_by_the_next_process_and_a_torn_line_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.jsonl");
        {
            let (spool, _) = Spool::open(&path).unwrap();
            for n in 0..3 {
                spool.push(&view(n)).unwrap();
            }
            // Dropped: the buffer is written.
        }
        // A process killed mid-write leaves half a line.
        let mut bytes = std::fs::read(&path).unwrap();
        let first_line = bytes.iter().position(|&b| b == b'\n').unwrap();
        let half_a_line = bytes[..first_line / 2].to_vec();
        bytes.extend_from_slice(&half_a_line);
        std::fs::write(&path, &bytes).unwrap();

        let (spool, left) = Spool::open(&path).unwrap();
        assert_eq!(left, 4);
        spool.push(&view(3)).unwrap();
        let taken = paths(&spool.take(100).unwrap());
        assert_eq!(taken.len(), 5, "{taken:?}");
        assert_eq!(taken[..3], ["/page-0/", "/page-1/", "/page-2/"]);
        assert!(
            taken[3].starts_with("unreadable: not a page view"),
            "{}",
            taken[3]
        );
        assert_eq!(taken[4], "/page-3/", "the next line is whole");
        assert_eq!(spool.pending(), 0);
    }

    #[test]
    fn a_large_backlog_is_read_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, _) = Spool::open(&dir.path().join("feed.jsonl")).unwrap();
        let n = 3000; // several READ_CHUNKs of lines
        for i in 0..n {
            spool.push(&view(i)).unwrap();
        }
        let mut seen = Vec::new();
        loop {
            let taken = spool.take(64).unwrap();
            if taken.is_empty() {
                break;
            }
            seen.extend(paths(&taken));
        }
        let expected: Vec<String> = (0..n).map(|i| format!("/page-{i}/")).collect();
        assert_eq!(seen, expected);
    }
}
