//! The journal's state and its operations; [`crate::Journal`] is the handle users hold.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::acks::Acks;
use crate::frame::{self, HEADER, MAX_RECORD, Read};
use crate::journal::{Opened, Record};
use crate::ledger::Ledger;
use crate::lock::DirLock;
use crate::{BatchError, Durability, JournalConfig, JournalError, io_err, segment, tail};

/// A durable append-only log in one directory. Safe to share between threads.
#[derive(Debug)]
pub(crate) struct Core {
    config: JournalConfig,
    _lock: DirLock,
    writer: Mutex<Writer>,
    reader: Mutex<Reader>,
    acks: Mutex<Acks>,
    /// Segment bases, oldest first; the last is the writer's.
    segments: Mutex<VecDeque<u64>>,
    /// Records below this sequence number are whole in their segment and may be read.
    committed: AtomicU64,
    ledger: Ledger,
    /// Rolled segments whose last appends are not yet fsynced (interval durability).
    unsynced: Mutex<Vec<Arc<File>>>,
    /// Records below this sequence number were fsynced (interval durability).
    synced: AtomicU64,
    /// The position last written to the position file.
    written: AtomicU64,
    /// Set when a background fsync failed; the error is returned by the next append.
    failed: AtomicBool,
    sync_error: Mutex<Option<JournalError>>,
}

#[derive(Debug)]
struct Writer {
    file: Arc<File>,
    base: u64,
    next: u64,
    bytes: u64,
    frame: Vec<u8>,
}

#[derive(Debug)]
struct Reader {
    file: Arc<File>,
    base: u64,
    offset: u64,
    next: u64,
    /// Damage found after records were handed out: reported by the next read.
    damage: Option<JournalError>,
}

impl Core {
    /// Opens (or creates) the journal, locking its directory: cuts a torn tail and puts the
    /// reader at the persisted position.
    pub(crate) fn open(config: JournalConfig) -> Result<(Core, Opened), JournalError> {
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let lock = DirLock::acquire(&dir)?;
        let mut bases: VecDeque<u64> = segment::list(&dir)?.into();
        let tail = tail::open(&dir, &mut bases)?;
        let (file, last, valid, next) = (tail.file, tail.base, tail.bytes, tail.next);
        let (ledger, persisted) = Ledger::open(&dir)?;
        let first = *bases.front().unwrap_or(&0);
        let position = persisted.unwrap_or(first).clamp(first, next);
        let writer = Writer {
            file: Arc::new(file),
            base: last,
            next,
            bytes: valid,
            frame: Vec::new(),
        };
        let reader = Self::reader_at(&dir, &bases, position)?;
        let opened = Opened {
            pending: next - position,
            torn_bytes: tail.torn_bytes,
            damaged: tail.damaged,
        };
        let journal = Core {
            config,
            _lock: lock,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            acks: Mutex::new(Acks::new(position)),
            segments: Mutex::new(bases),
            committed: AtomicU64::new(next),
            ledger,
            unsynced: Mutex::new(Vec::new()),
            synced: AtomicU64::new(next),
            written: AtomicU64::new(persisted.unwrap_or(u64::MAX)),
            failed: AtomicBool::new(false),
            sync_error: Mutex::new(None),
        };
        journal.drop_acknowledged_segments(position)?;
        Ok((journal, opened))
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// Records appended and not yet handed out by [`crate::Journal::read`].
    pub(crate) fn unread(&self) -> u64 {
        let committed = self.committed.load(Ordering::Acquire);
        committed.saturating_sub(lock(&self.reader).next)
    }

    /// Records appended and not yet acknowledged.
    pub(crate) fn unacknowledged(&self) -> u64 {
        let committed = self.committed.load(Ordering::Acquire);
        committed.saturating_sub(lock(&self.acks).position())
    }

    /// Appends one record; returns its sequence number. It is in the segment file (one `write`)
    /// when this returns, and fsynced as the [`Durability`] says.
    pub(crate) fn append(&self, payload: &[u8]) -> Result<u64, JournalError> {
        self.append_with(|buf| {
            buf.extend_from_slice(payload);
            Ok(())
        })
    }

    /// Appends the record `write` puts into the buffer it is given (so a caller can serialise
    /// straight into it). An error from `write` appends nothing.
    pub(crate) fn append_with(
        &self,
        write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
    ) -> Result<u64, JournalError> {
        self.take_sync_error()?;
        let mut w = lock(&self.writer);
        let w = &mut *w;
        w.frame.clear();
        w.frame.resize(HEADER, 0);
        write(&mut w.frame).map_err(|e| {
            w.frame.clear();
            io_err(
                "serialise a record for",
                segment::path(&self.config.dir, w.base),
            )(e)
        })?;
        let size = w.frame.len() - HEADER;
        if size == 0 || size > MAX_RECORD {
            w.frame.clear();
            return Err(too_small_or_large(size));
        }
        frame::finish(&mut w.frame);
        if w.bytes > 0 && w.bytes + w.frame.len() as u64 > self.config.segment_bytes {
            self.roll(w)?;
        }
        self.flush(w, 1)?;
        Ok(w.next - 1)
    }

    /// Appends `payloads` in order with as few writes as the segment size allows (one, mostly);
    /// returns the first one's sequence number. On an error, the payloads before the
    /// [`BatchError::appended`]th are in the journal and the rest are not.
    pub(crate) fn append_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<u64, BatchError> {
        let fail = |appended| move |error| BatchError { appended, error };
        self.take_sync_error().map_err(fail(0))?;
        let mut w = lock(&self.writer);
        let w = &mut *w;
        let first = w.next;
        w.frame.clear();
        let mut framed = 0;
        for (i, payload) in payloads.iter().enumerate() {
            let payload = payload.as_ref();
            if payload.is_empty() || payload.len() > MAX_RECORD {
                self.flush(w, framed).map_err(fail(i - framed))?;
                return Err(fail(i)(too_small_or_large(payload.len())));
            }
            let end = w.bytes + (w.frame.len() + HEADER + payload.len()) as u64;
            if end > self.config.segment_bytes && w.bytes + w.frame.len() as u64 > 0 {
                self.flush(w, framed).map_err(fail(i - framed))?;
                framed = 0;
                self.roll(w).map_err(fail(i))?;
            }
            let start = w.frame.len();
            w.frame.resize(start + HEADER, 0);
            w.frame.extend_from_slice(payload);
            frame::finish(&mut w.frame[start..]);
            framed += 1;
        }
        self.flush(w, framed)
            .map_err(fail(payloads.len() - framed))?;
        Ok(first)
    }

    /// Writes the `records` frames in the writer's buffer to its segment (one `write`), fsyncs
    /// them as the durability says, and commits them; the buffer is empty afterwards.
    fn flush(&self, w: &mut Writer, records: usize) -> Result<(), JournalError> {
        if w.frame.is_empty() {
            return Ok(());
        }
        let path = || segment::path(&self.config.dir, w.base);
        let written = write_all(&w.file, &w.frame);
        let len = w.frame.len() as u64;
        w.frame.clear();
        if let Err(e) = written {
            // Cut what a partial write left, so it cannot become damage before later records.
            w.file.set_len(w.bytes).ok();
            return Err(io_err("append to", path())(e));
        }
        if self.config.durability == Durability::EveryRecord {
            w.file.sync_data().map_err(|e| io_err("fsync", path())(e))?;
        }
        w.bytes += len;
        w.next += records as u64;
        self.committed.store(w.next, Ordering::Release);
        Ok(())
    }

    /// An error from a background fsync since the last append, returned once.
    fn take_sync_error(&self) -> Result<(), JournalError> {
        if self.failed.load(Ordering::Acquire)
            && let Some(e) = lock(&self.sync_error).take()
        {
            self.failed.store(false, Ordering::Release);
            return Err(e);
        }
        Ok(())
    }

    /// Hands out up to `max` records from the reader's position, in order (fewer, or none, when
    /// fewer are committed). Each must be acknowledged with [`crate::Journal::ack`] once done.
    pub(crate) fn read(&self, max: usize) -> Result<Vec<Record>, JournalError> {
        let mut out = Vec::new();
        let mut r = lock(&self.reader);
        if let Some(damage) = r.damage.take() {
            return Err(damage);
        }
        // The segment's length, read once and again only at its apparent end (not per record).
        let mut len = None;
        while out.len() < max && r.next < self.committed.load(Ordering::Acquire) {
            let path = self.reader_path(&r);
            let known = match len {
                Some(l) => l,
                None => r.file.metadata().map_err(io_err("read", &path))?.len(),
            };
            len = Some(known);
            match frame::read_at(&r.file, r.offset, known).map_err(io_err("read", &path))? {
                Read::Record(payload, end) => {
                    out.push(Record {
                        seq: r.next,
                        payload,
                    });
                    r.offset = end;
                    r.next += 1;
                }
                Read::End | Read::Torn | Read::Bad if known_is_stale(&r, known, &path)? => {
                    len = None
                }
                Read::End | Read::Torn | Read::Bad => {
                    len = None;
                    if let Some(damage) = self.next_segment(&mut r)? {
                        if out.is_empty() {
                            return Err(damage);
                        }
                        r.damage = Some(damage);
                        break;
                    }
                }
            }
        }
        drop(r);
        Ok(out)
    }

    /// Acknowledges the record `seq`: once every record before it is acknowledged too, the
    /// persisted position moves past it.
    pub(crate) fn ack(&self, seq: u64) -> Result<(), JournalError> {
        self.ack_range(seq..seq + 1)
    }

    /// Acknowledges every record of `seqs`, persisting the position once.
    pub(crate) fn ack_range(&self, seqs: std::ops::Range<u64>) -> Result<(), JournalError> {
        let mut acks = lock(&self.acks);
        let mut moved = false;
        for seq in seqs {
            moved |= acks.ack(seq);
        }
        if moved {
            self.persist(&mut acks)?;
        }
        Ok(())
    }

    /// Retention: acknowledges every record of the oldest segments last written before
    /// `cutoff` (a run from the oldest, so the position moves over them), which deletes them;
    /// the writer's segment is rolled first when it is that old. Returns how many records
    /// expired. The reader skips them too.
    pub(crate) fn expire_before(&self, cutoff: SystemTime) -> Result<u64, JournalError> {
        let dir = &self.config.dir;
        {
            let mut w = lock(&self.writer);
            if w.next > w.base && modified(&segment::path(dir, w.base))? < cutoff {
                self.roll(&mut w)?;
            }
        }
        let bases: Vec<u64> = lock(&self.segments).iter().copied().collect();
        let mut end = None;
        for pair in bases.windows(2) {
            if modified(&segment::path(dir, pair[0]))? >= cutoff {
                break;
            }
            end = Some(pair[1]);
        }
        let start = lock(&self.acks).position();
        let Some(end) = end.filter(|&end| end > start) else {
            return Ok(0);
        };
        let mut reader = lock(&self.reader);
        self.ack_range(start..end)?;
        if reader.next < end {
            let segments = lock(&self.segments).clone();
            *reader = Self::reader_at(dir, &segments, end)?;
        }
        Ok(end - start)
    }

    /// Fsyncs every segment appended to and writes and fsyncs the position, now.
    pub(crate) fn sync(&self) -> Result<(), JournalError> {
        let dir = &self.config.dir;
        let (file, committed) = {
            let w = lock(&self.writer);
            (Arc::clone(&w.file), w.next)
        };
        let rolled = std::mem::take(&mut *lock(&self.unsynced));
        for old in &rolled {
            old.sync_data().map_err(io_err("fsync a segment in", dir))?;
        }
        file.sync_data()
            .map_err(io_err("fsync a segment in", dir))?;
        if !rolled.is_empty() {
            segment::sync_dir(dir)?;
        }
        let position = lock(&self.acks).position();
        let path = dir.join("position");
        self.ledger
            .write(position)
            .map_err(io_err("write", &path))?;
        self.ledger.sync().map_err(io_err("fsync", &path))?;
        self.written.store(position, Ordering::Release);
        self.synced.fetch_max(committed, Ordering::AcqRel);
        Ok(())
    }

    /// [`Core::sync`] if anything was appended or acknowledged since the last one (the interval
    /// syncer's tick). A failure is kept and returned by the next append.
    pub(crate) fn sync_if_dirty(&self) {
        let appended = self.committed.load(Ordering::Acquire) > self.synced.load(Ordering::Acquire);
        let acked = lock(&self.acks).position() != self.written.load(Ordering::Acquire);
        if !(appended || acked) {
            return;
        }
        if let Err(e) = self.sync() {
            *lock(&self.sync_error) = Some(e);
            self.failed.store(true, Ordering::Release);
        }
    }

    /// Writes the position as the durability says: at once (and fsynced, for every-record), or
    /// by the interval syncer.
    fn persist(&self, acks: &mut MutexGuard<'_, Acks>) -> Result<(), JournalError> {
        let position = acks.position();
        if !matches!(self.config.durability, Durability::Interval(_)) {
            let path = self.config.dir.join("position");
            self.ledger
                .write(position)
                .map_err(io_err("write", &path))?;
            if self.config.durability == Durability::EveryRecord {
                self.ledger.sync().map_err(io_err("fsync", &path))?;
            }
            self.written.store(position, Ordering::Release);
        }
        self.drop_acknowledged_segments(position)
    }

    /// Removes every segment whose records are all below `position` (never the writer's).
    fn drop_acknowledged_segments(&self, position: u64) -> Result<(), JournalError> {
        let mut segments = lock(&self.segments);
        let mut removed = false;
        while segments.len() > 1 && segments[1] <= position {
            let base = segments.pop_front().unwrap_or_default();
            let path = segment::path(&self.config.dir, base);
            std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
            removed = true;
        }
        if removed && self.config.durability != Durability::PageCache {
            segment::sync_dir(&self.config.dir)?;
        }
        Ok(())
    }

    /// Starts a new segment. With interval durability the old one and the directory are
    /// fsynced by the syncer, not here: an append never waits on the disk.
    fn roll(&self, w: &mut Writer) -> Result<(), JournalError> {
        let file = segment::open(&self.config.dir, w.next, true)?;
        match self.config.durability {
            Durability::Interval(_) => lock(&self.unsynced).push(Arc::clone(&w.file)),
            _ => segment::sync_dir(&self.config.dir)?,
        }
        lock(&self.segments).push_back(w.next);
        w.file = Arc::new(file);
        w.base = w.next;
        w.bytes = 0;
        Ok(())
    }

    fn reader_at(dir: &Path, bases: &VecDeque<u64>, position: u64) -> Result<Reader, JournalError> {
        let base = bases
            .iter()
            .rev()
            .find(|&&b| b <= position)
            .copied()
            .unwrap_or(0);
        let file = Arc::new(segment::open(dir, base, false)?);
        let mut reader = Reader {
            file,
            base,
            offset: 0,
            next: base,
            damage: None,
        };
        let path = segment::path(dir, base);
        let len = reader.file.metadata().map_err(io_err("read", &path))?.len();
        while reader.next < position {
            match frame::read_at(&reader.file, reader.offset, len).map_err(io_err("read", &path))? {
                Read::Record(_, end) => {
                    reader.offset = end;
                    reader.next += 1;
                }
                Read::End | Read::Torn | Read::Bad => break,
            }
        }
        Ok(reader)
    }

    fn reader_path(&self, r: &Reader) -> PathBuf {
        segment::path(&self.config.dir, r.base)
    }

    /// The reader's segment ends (or is damaged) before the committed records do: moves it to
    /// the next segment. Records that could not be read in between are acknowledged as lost and
    /// reported.
    fn next_segment(&self, r: &mut Reader) -> Result<Option<JournalError>, JournalError> {
        let next = lock(&self.segments).iter().copied().find(|&b| b > r.base);
        let end = next.unwrap_or_else(|| self.committed.load(Ordering::Acquire));
        let damage = (end > r.next).then(|| JournalError::Damaged {
            path: self.reader_path(r),
            offset: r.offset,
            skipped: end - r.next,
        });
        if damage.is_some() {
            let mut acks = lock(&self.acks);
            for seq in r.next..end {
                acks.ack(seq);
            }
            self.persist(&mut acks)?;
        }
        if let Some(base) = next {
            r.file = Arc::new(segment::open(&self.config.dir, base, false)?);
            r.base = base;
            r.offset = 0;
        }
        r.next = end;
        Ok(damage)
    }
}

/// Whether the segment grew past `known` since its length was read (the writer appended).
fn known_is_stale(r: &Reader, known: u64, path: &Path) -> Result<bool, JournalError> {
    let now = r.file.metadata().map_err(io_err("read", path))?;
    Ok(now.len() > known)
}

/// When the file at `path` was last written.
fn modified(path: &Path) -> Result<SystemTime, JournalError> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(io_err("read", path))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn write_all(file: &File, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = file;
    f.write_all(bytes)
}

/// The error for a record of `size` bytes outside 1..=[`MAX_RECORD`].
fn too_small_or_large(size: usize) -> JournalError {
    if size == 0 {
        JournalError::Empty
    } else {
        JournalError::TooLarge(size)
    }
}
