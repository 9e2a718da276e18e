//! One durable append-only log for Tally's local stores (the serve event log, the bus's
//! per-target overflow and dead letters, the last resort, the failed events, the archive's
//! buffer, the replay checkpoints).
//!
//! A journal is a directory of segment files holding checksummed, length-prefixed records
//! (`[len u32][crc32 u32][payload]`), numbered by a sequence that only grows; a small position
//! file (`position`) holds the first sequence not yet acknowledged; a lock file keeps a second
//! process out ([`DirLock`]).
//!
//! - Every [`Journal::append`] is one `write` to the segment file before it returns, so a killed
//!   process loses nothing it appended; what power loss can take depends on the [`Durability`]
//!   the user chose, and is bounded by it.
//! - [`Journal::read`] hands out records in order from the reader's position;
//!   [`Journal::ack`] marks one done. The persisted position moves only over a contiguous run of
//!   acknowledged records, so after a crash everything not acknowledged is read again (at least
//!   once). A segment is deleted once every record in it is acknowledged.
//! - [`Journal::open`] cuts a torn tail (a record whose `append` never returned, or zeros a
//!   crash left at the end: no record is empty) and starts the
//!   reader at the persisted position.
//! - [`scan`] reads what is not acknowledged without the lock, for read-only commands beside a
//!   running writer; [`import_lines`] moves a store's pre-journal line files in, once.

mod acks;
mod frame;
mod import;
mod inner;
mod journal;
pub mod kill_test;
mod ledger;
mod lock;
mod scan;
mod segment;
mod syncer;
mod tail;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

pub use frame::MAX_RECORD;
pub use import::{Imported, import_lines};
pub use journal::{Journal, Opened, Record};
pub use lock::DirLock;
pub use scan::{Scan, scan};

/// How far each append is made durable before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The page cache only: survives the process being killed, not the machine losing power.
    PageCache,
    /// The page cache, and an fsync at most this long after an append, by a background thread
    /// (no append waits on the disk); the position is written and fsynced by the same thread,
    /// so a killed process reads at most the last interval's acknowledged records again. Power
    /// loss takes at most the interval.
    Interval(Duration),
    /// An fsync before each append returns: nothing acknowledged to the caller is ever lost.
    EveryRecord,
}

/// How a journal is laid out and made durable.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// The journal's directory (created if missing).
    pub dir: PathBuf,
    /// Durability of appends and of the position.
    pub durability: Durability,
    /// A segment file is closed and a new one started once it holds this many bytes.
    pub segment_bytes: u64,
}

impl JournalConfig {
    /// A journal in `dir`: `durability`, 8 MiB segments.
    pub fn new(dir: impl Into<PathBuf>, durability: Durability) -> Self {
        JournalConfig {
            dir: dir.into(),
            durability,
            segment_bytes: 8 << 20,
        }
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// To which file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Another process holds the directory's lock.
    #[error("{path} is locked by another process{}", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The holder's pid, as it wrote it.
        pid: Option<u32>,
    },
    /// A record has no bytes: it could not be told from space a crash left zeroed.
    #[error("a record must not be empty")]
    Empty,
    /// A record is larger than [`MAX_RECORD`].
    #[error("a record of {0} bytes is larger than the journal's limit of {MAX_RECORD}")]
    TooLarge(usize),
    /// Damage in the middle of a segment (not a torn tail): the records after it in that
    /// segment cannot be read and were skipped.
    #[error(
        "segment {path} is damaged at byte {offset}: its {skipped} later record(s) were skipped"
    )]
    Damaged {
        /// The segment file.
        path: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// Records skipped (from the sequence numbers).
        skipped: u64,
    },
}

/// What [`Journal::append_batch`] could not do.
#[derive(Debug, thiserror::Error)]
#[error("{error} (after {appended} record(s) of the batch were appended)")]
pub struct BatchError {
    /// The batch's first this many payloads are in the journal; the others are not.
    pub appended: usize,
    /// What stopped the rest.
    pub error: JournalError,
}

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> JournalError {
    let path = path.into();
    move |source| JournalError::Io { op, path, source }
}
