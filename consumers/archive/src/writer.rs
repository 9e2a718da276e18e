//! The local archive writer: buffering, atomic objects, crash recovery.

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde_json::Value;

use tally_journal::{DirLock, Durability, JournalError};

use crate::buffer::{Buffer, Header};
use crate::layout::Layout;

/// Where the buffer journal lives, under the root.
pub(crate) const BUFFER_DIR: &str = "_buffer";

/// How long an accepted record may wait in the page cache before the buffer is fsynced (the
/// default [`ArchiveConfig::durability`]): the most power loss can take.
pub const BUFFER_SYNC: Duration = Duration::from_secs(1);

/// How the archive buffers and where it writes.
#[derive(Debug, Clone)]
pub struct ArchiveConfig {
    /// The directory standing in for the bucket.
    pub root: PathBuf,
    /// Key prefix and stream name.
    pub layout: Layout,
    /// Write an object once the buffered records reach this many bytes (uncompressed), like
    /// Firehose's `SizeInMBs` buffering hint.
    pub buffer_bytes: usize,
    /// Write an object once the oldest buffered record is this old, like `IntervalInSeconds`;
    /// checked by [`Archive::flush_due`].
    pub buffer_interval: Duration,
    /// How far the buffer journal makes each accepted record durable before `append` returns
    /// (an object is always fsynced before its rename, its directory after).
    pub durability: Durability,
    /// How many recent event ids are remembered to drop redeliveries: those of the newest
    /// objects and buffer files when the archive opens, then of every record accepted.
    pub dedupe_window: usize,
}

impl ArchiveConfig {
    /// Local defaults: 1 MiB or 60 s, prefix `events/`, stream `tally-archive`, the buffer
    /// fsynced at most a second after an append ([`BUFFER_SYNC`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ArchiveConfig {
            root: root.into(),
            layout: Layout {
                prefix: "events/".into(),
                stream: "tally-archive".into(),
            },
            buffer_bytes: 1 << 20,
            buffer_interval: Duration::from_secs(60),
            durability: Durability::Interval(BUFFER_SYNC),
            dedupe_window: 100_000,
        }
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// To which file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The buffer journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The record is not an EventBridge event with an `id`.
    #[error("not an event: {0}")]
    NotAnEvent(String),
    /// An operation was refused, nothing changed: why.
    #[error("{0}")]
    Refused(String),
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ArchiveError + 'a {
    move |source| ArchiveError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// What [`Archive::append`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// It was accepted into the buffer.
    Written,
    /// An event with the same id was accepted recently: a redelivery, dropped.
    Duplicate,
}

/// What [`Archive::open`] found in the buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Objects written from buffer files a previous process left.
    pub objects_written: usize,
    /// Records recovered into them.
    pub records: usize,
    /// Batches whose object already existed (the process died after writing it).
    pub already_written: usize,
    /// Bytes of a torn last record discarded: an `append` that never returned.
    pub torn_bytes: u64,
    /// Records lost to damage in the buffer (at least).
    pub lost: u64,
}

struct Batch {
    header: Header,
    /// The buffer records of the batch, header included.
    seqs: Range<u64>,
    bytes: Vec<u8>,
    opened: Instant,
}

pub(crate) struct State {
    batch: Option<Batch>,
    seen: HashSet<String>,
    order: VecDeque<String>,
    seq: u64,
}

/// The local archive. Safe to share between threads.
pub struct Archive {
    config: ArchiveConfig,
    run: String,
    state: Mutex<State>,
    buffer: Buffer,
    /// The archive directory's lock: one writer of its objects.
    _lock: DirLock,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("root", &self.config.root)
            .finish_non_exhaustive()
    }
}

impl Archive {
    /// Opens the archive under `config.root`, locking it against other processes (an error
    /// naming the holder's pid), first writing out whatever a previous process left in the
    /// buffer.
    pub fn open(config: ArchiveConfig) -> Result<(Archive, Recovery), ArchiveError> {
        fs::create_dir_all(&config.root).map_err(io_err("create", &config.root))?;
        let lock = DirLock::acquire(&config.root).map_err(|e| match e {
            JournalError::Locked { .. } => ArchiveError::Refused(format!(
                "the archive {}: {e}: stop that process first",
                config.root.display()
            )),
            e => ArchiveError::Refused(e.to_string()),
        })?;
        let (buffer, opened) = Buffer::open(&config.root.join(BUFFER_DIR), config.durability)?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let run = format!("{:x}{:x}", nanos, std::process::id());
        let archive = Archive {
            config,
            run,
            state: Mutex::new(State {
                batch: None,
                seen: HashSet::new(),
                order: VecDeque::new(),
                seq: 0,
            }),
            buffer,
            _lock: lock,
        };
        let mut recovery = archive.recover()?;
        recovery.torn_bytes += opened.torn_bytes;
        Ok((archive, recovery))
    }

    /// The configuration.
    pub fn config(&self) -> &ArchiveConfig {
        &self.config
    }

    /// Accepts one event (the whole EventBridge envelope), arrived at `arrival`. When this returns
    /// `Written`, the record is in the buffer journal and will reach an object even if the process
    /// dies now (and, power lost, if the [`ArchiveConfig::durability`] had fsynced it).
    pub fn append(&self, event: &Value, arrival: DateTime<Utc>) -> Result<Appended, ArchiveError> {
        let id = match dedupe_key(event) {
            Some(id) if event.is_object() => id.to_owned(),
            _ => return Err(ArchiveError::NotAnEvent("no string \"id\"".into())),
        };
        let line =
            serde_json::to_vec(event).map_err(|e| ArchiveError::NotAnEvent(e.to_string()))?;

        let mut state = self.lock();
        if state.seen.contains(&id) {
            return Ok(Appended::Duplicate);
        }
        match state.batch.as_mut() {
            Some(batch) => batch.seqs.end = self.buffer.append(&line)? + 1,
            None => {
                state.seq += 1;
                let header = Header {
                    id: format!("{}{:06}", self.run, state.seq),
                    oldest: arrival,
                };
                let first = self.buffer.start(&header, &line)?;
                state.batch = Some(Batch {
                    header,
                    seqs: first..first + 2,
                    bytes: Vec::new(),
                    opened: Instant::now(),
                });
            }
        }
        if let Some(b) = state.batch.as_mut() {
            b.bytes.extend_from_slice(&line);
            b.bytes.push(b'\n');
        }
        self.remember(&mut state, id);
        if state
            .batch
            .as_ref()
            .is_some_and(|b| b.bytes.len() >= self.config.buffer_bytes)
        {
            self.flush_locked(&mut state)?;
        }
        Ok(Appended::Written)
    }

    /// Writes the buffered records out if the oldest has waited `buffer_interval`.
    pub fn flush_due(&self) -> Result<Option<PathBuf>, ArchiveError> {
        let mut state = self.lock();
        if state
            .batch
            .as_ref()
            .is_some_and(|b| b.opened.elapsed() >= self.config.buffer_interval)
        {
            return self.flush_locked(&mut state);
        }
        Ok(None)
    }

    /// Writes the buffered records out now (on shutdown); returns the object written, if any.
    pub fn flush(&self) -> Result<Option<PathBuf>, ArchiveError> {
        let mut state = self.lock();
        self.flush_locked(&mut state)
    }

    /// Every archive object under the root, sorted by key.
    pub fn objects(&self) -> Result<Vec<PathBuf>, ArchiveError> {
        let mut out = Vec::new();
        collect_objects(&self.config.root.join(&self.config.layout.prefix), &mut out)?;
        out.sort();
        Ok(out)
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent in a way that loses
        // accepted records (they are in the buffer file), so a poisoned lock is used as it is.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn remember(&self, state: &mut State, id: String) {
        if state.seen.insert(id.clone()) {
            state.order.push_back(id);
        }
        while state.order.len() > self.config.dedupe_window {
            if let Some(old) = state.order.pop_front() {
                state.seen.remove(&old);
            }
        }
    }

    fn flush_locked(&self, state: &mut State) -> Result<Option<PathBuf>, ArchiveError> {
        let Some(batch) = state.batch.take() else {
            return Ok(None);
        };
        let path = self.write_object(batch.header.oldest, &batch.header.id, &batch.bytes)?;
        self.buffer.done(batch.seqs)?;
        Ok(Some(path))
    }

    /// Writes one object atomically: temporary file, fsync, rename, fsync of the directory.
    pub(crate) fn write_object(
        &self,
        oldest: DateTime<Utc>,
        batch: &str,
        ndjson: &[u8],
    ) -> Result<PathBuf, ArchiveError> {
        let key = self.config.layout.object_key(oldest, batch);
        let dir = self.config.root.join(&key.partition);
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let path = write_gzip_object(&dir, &key.name, ndjson)?;
        sync_dir(&dir)?;
        Ok(path)
    }

    pub(crate) fn object_exists(&self, oldest: DateTime<Utc>, batch: &str) -> bool {
        let key = self.config.layout.object_key(oldest, batch);
        self.config.root.join(key.key()).exists()
    }

    /// Remembers the ids of the newest objects, up to the dedupe window, oldest first (so the
    /// window keeps evicting the oldest).
    fn remember_newest_objects(&self) -> Result<(), ArchiveError> {
        let mut newest: Vec<Vec<String>> = Vec::new();
        let mut total = 0;
        for path in self.objects()?.iter().rev() {
            if total >= self.config.dedupe_window {
                break;
            }
            let ids: Vec<String> = read_object(path)?
                .iter()
                .filter_map(|e| dedupe_key(e).map(str::to_owned))
                .collect();
            total += ids.len();
            newest.push(ids);
        }
        let mut state = self.lock();
        for id in newest.into_iter().rev().flatten() {
            self.remember(&mut state, id);
        }
        Ok(())
    }

    /// Writes out the batches a killed process left in the buffer (and the buffer files of an
    /// older tally), remembering their ids.
    fn recover(&self) -> Result<Recovery, ArchiveError> {
        self.remember_newest_objects()?;
        let mut recovery = Recovery::default();
        let found = self.buffer.pending()?;
        recovery.lost = found.lost;
        let mut state = self.lock();
        for (n, batch) in found.batches.into_iter().enumerate() {
            for line in batch
                .ndjson
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
            {
                if let Some(id) = serde_json::from_slice::<Value>(line)
                    .ok()
                    .and_then(|v| dedupe_key(&v).map(str::to_owned))
                {
                    self.remember(&mut state, id);
                }
            }
            // A batch whose header damage took gets a name of its own, partitioned by now.
            let header = batch.header.unwrap_or_else(|| Header {
                id: format!("{}r{n:05}", self.run),
                oldest: Utc::now(),
            });
            if self.object_exists(header.oldest, &header.id) {
                recovery.already_written += 1;
            } else if batch.records > 0 {
                self.write_object(header.oldest, &header.id, &batch.ndjson)?;
                recovery.objects_written += 1;
                recovery.records += batch.records;
            }
            self.buffer.done(batch.seqs)?;
        }
        drop(state);
        crate::legacy::recover(self, &mut recovery)?;
        Ok(recovery)
    }
}

impl Drop for Archive {
    fn drop(&mut self) {
        // Best effort: what is not flushed stays in the buffer file and is recovered on open.
        let _ = self.flush();
    }
}

/// What makes two records the same event: the page view's `detail.event_id` (the same whether
/// the event is redelivered or its view run through the enrichment again, with a new envelope
/// id), else the envelope's `id`.
pub(crate) fn dedupe_key(event: &Value) -> Option<&str> {
    event
        .pointer("/detail/event_id")
        .and_then(Value::as_str)
        .or_else(|| event.get("id").and_then(Value::as_str))
}

/// Writes `ndjson` gzipped as `dir/name`, atomically: a temp file, fsync, rename (the caller
/// syncs the directory when the rename must be durable).
pub(crate) fn write_gzip_object(
    dir: &Path,
    name: &str,
    ndjson: &[u8],
) -> Result<PathBuf, ArchiveError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    let mut gz = GzEncoder::new(file, Compression::default());
    gz.write_all(ndjson).map_err(io_err("write", &tmp))?;
    let file = gz.finish().map_err(io_err("write", &tmp))?;
    file.sync_all().map_err(io_err("fsync", &tmp))?;
    fs::rename(&tmp, &path).map_err(io_err("rename", &tmp))?;
    Ok(path)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))
}

pub(crate) fn collect_objects(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ArchiveError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(ArchiveError::Io {
                op: "read",
                path: dir.to_owned(),
                source: e,
            });
        }
    };
    for entry in entries {
        let path = entry.map_err(io_err("read", dir))?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if path.is_dir() {
            collect_objects(&path, out)?;
        } else if !hidden && path.extension().is_some_and(|e| e == "gz") {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads one archive object: gzipped NDJSON, one event per line.
pub fn read_object(path: &Path) -> Result<Vec<Value>, ArchiveError> {
    let file = File::open(path).map_err(io_err("open", path))?;
    let mut text = String::new();
    MultiGzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(io_err("read", path))?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| ArchiveError::NotAnEvent(format!("{}: {e}", path.display())))
        })
        .collect()
}
