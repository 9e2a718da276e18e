//! The journal: append, read in order, acknowledge.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::acks::Acks;
use crate::frame::{self, HEADER, MAX_RECORD, Read};
use crate::ledger::Ledger;
use crate::lock::DirLock;
use crate::{Durability, JournalConfig, JournalError, io_err, segment};

/// One record handed out by [`Journal::read`]: acknowledge it with its `seq` when done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number.
    pub seq: u64,
    /// What was appended.
    pub payload: Vec<u8>,
}

/// What [`Journal::open`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opened {
    /// Records appended and not acknowledged by a previous process: they are read again.
    pub pending: u64,
    /// Bytes of a torn last record cut off (its `append` never returned).
    pub torn_bytes: u64,
}

/// A durable append-only log in one directory. Safe to share between threads.
#[derive(Debug)]
pub struct Journal {
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
    last_sync: Mutex<Instant>,
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

impl Journal {
    /// Opens (or creates) the journal, locking its directory: cuts a torn tail and puts the
    /// reader at the persisted position.
    pub fn open(config: JournalConfig) -> Result<(Journal, Opened), JournalError> {
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let lock = DirLock::acquire(&dir)?;
        let mut bases: VecDeque<u64> = segment::list(&dir)?.into();
        if bases.is_empty() {
            segment::open(&dir, 0, true)?;
            segment::sync_dir(&dir)?;
            bases.push_back(0);
        }
        let last = *bases.back().unwrap_or(&0);
        let file = segment::open(&dir, last, false)?;
        let seg_path = segment::path(&dir, last);
        let (records, valid, torn) = frame::scan(&file).map_err(io_err("read", &seg_path))?;
        let len = file.metadata().map_err(io_err("read", &seg_path))?.len();
        if torn {
            file.set_len(valid).map_err(io_err("truncate", &seg_path))?;
            file.sync_data().map_err(io_err("fsync", &seg_path))?;
        }
        let next = last + records;
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
            torn_bytes: len - valid,
        };
        let journal = Journal {
            config,
            _lock: lock,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            acks: Mutex::new(Acks::new(position)),
            segments: Mutex::new(bases),
            committed: AtomicU64::new(next),
            ledger,
            last_sync: Mutex::new(Instant::now()),
        };
        journal.drop_acknowledged_segments(position)?;
        Ok((journal, opened))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// Records appended and not yet handed out by [`Journal::read`].
    pub fn unread(&self) -> u64 {
        let committed = self.committed.load(Ordering::Acquire);
        committed.saturating_sub(lock(&self.reader).next)
    }

    /// Records appended and not yet acknowledged.
    pub fn unacknowledged(&self) -> u64 {
        let committed = self.committed.load(Ordering::Acquire);
        committed.saturating_sub(lock(&self.acks).position())
    }

    /// Appends one record; returns its sequence number. It is in the segment file (one `write`)
    /// when this returns, and fsynced as the [`Durability`] says.
    pub fn append(&self, payload: &[u8]) -> Result<u64, JournalError> {
        self.append_with(|buf| {
            buf.extend_from_slice(payload);
            Ok(())
        })
    }

    /// Appends the record `write` puts into the buffer it is given (so a caller can serialise
    /// straight into it). An error from `write` appends nothing.
    pub fn append_with(
        &self,
        write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
    ) -> Result<u64, JournalError> {
        let seq = {
            let mut w = lock(&self.writer);
            let w = &mut *w;
            w.frame.clear();
            w.frame.resize(HEADER, 0);
            let path = || segment::path(&self.config.dir, w.next);
            write(&mut w.frame).map_err(io_err("serialise a record for", path()))?;
            let size = w.frame.len() - HEADER;
            if size > MAX_RECORD {
                return Err(JournalError::TooLarge(size));
            }
            frame::finish(&mut w.frame);
            if w.bytes > 0 && w.bytes + w.frame.len() as u64 > self.config.segment_bytes {
                self.roll(w)?;
            }
            let at = segment::path(&self.config.dir, w.base);
            write_all(&w.file, &w.frame).map_err(io_err("append to", &at))?;
            if self.config.durability == Durability::EveryRecord {
                w.file.sync_data().map_err(io_err("fsync", &at))?;
            }
            w.bytes += w.frame.len() as u64;
            w.next += 1;
            self.committed.store(w.next, Ordering::Release);
            w.next - 1
        };
        self.sync_if_due()?;
        Ok(seq)
    }

    /// Hands out up to `max` records from the reader's position, in order (fewer, or none, when
    /// fewer are committed). Each must be acknowledged with [`Journal::ack`] once done.
    pub fn read(&self, max: usize) -> Result<Vec<Record>, JournalError> {
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
                Read::End | Read::Torn if known_is_stale(&r, known, &path)? => len = None,
                Read::End | Read::Torn => {
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
        self.sync_if_due()?;
        Ok(out)
    }

    /// Acknowledges the record `seq`: once every record before it is acknowledged too, the
    /// persisted position moves past it.
    pub fn ack(&self, seq: u64) -> Result<(), JournalError> {
        let mut acks = lock(&self.acks);
        if acks.ack(seq) {
            self.persist(&mut acks)?;
        }
        Ok(())
    }

    /// Fsyncs the current segment and the position now.
    pub fn sync(&self) -> Result<(), JournalError> {
        let file = Arc::clone(&lock(&self.writer).file);
        let dir = &self.config.dir;
        file.sync_data().map_err(io_err("fsync", dir.clone()))?;
        self.ledger
            .sync()
            .map_err(io_err("fsync", dir.join("position")))?;
        *lock(&self.last_sync) = Instant::now();
        Ok(())
    }

    fn sync_if_due(&self) -> Result<(), JournalError> {
        let Durability::Interval(every) = self.config.durability else {
            return Ok(());
        };
        let due = match self.last_sync.try_lock() {
            Ok(last) => last.elapsed() >= every,
            Err(_) => false,
        };
        if due { self.sync() } else { Ok(()) }
    }

    fn persist(&self, acks: &mut MutexGuard<'_, Acks>) -> Result<(), JournalError> {
        let position = acks.position();
        let path = self.config.dir.join("position");
        self.ledger
            .write(position)
            .map_err(io_err("write", &path))?;
        if self.config.durability == Durability::EveryRecord {
            self.ledger.sync().map_err(io_err("fsync", &path))?;
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

    fn roll(&self, w: &mut Writer) -> Result<(), JournalError> {
        let file = segment::open(&self.config.dir, w.next, true)?;
        segment::sync_dir(&self.config.dir)?;
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
                Read::End | Read::Torn => break,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn write_all(file: &File, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = file;
    f.write_all(bytes)
}
