//! The journal: append, read in order, acknowledge.

use std::path::Path;
use std::sync::Arc;

use crate::inner::Core;
use crate::syncer::Syncer;
use crate::{BatchError, Durability, JournalConfig, JournalError};

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
    /// Records lost to a damaged frame in the last segment (at least: that frame, and the whole
    /// frames after it), left in place and reported by [`Journal::read`] as
    /// [`JournalError::Damaged`] too; appends go on in a new segment.
    pub damaged: u64,
}

/// A durable append-only log in one directory. Safe to share between threads.
#[derive(Debug)]
pub struct Journal {
    core: Arc<Core>,
    /// With interval durability: the thread that fsyncs (stopped first on drop).
    syncer: Option<Syncer>,
}

impl Journal {
    /// Opens (or creates) the journal, locking its directory: cuts a torn tail and puts the
    /// reader at the persisted position. With [`Durability::Interval`] a thread
    /// (`tally-journal-sync`) fsyncs once per interval while there is something new.
    pub fn open(config: JournalConfig) -> Result<(Journal, Opened), JournalError> {
        let durability = config.durability;
        let (core, opened) = Core::open(config)?;
        let core = Arc::new(core);
        let syncer = match durability {
            Durability::Interval(every) => Some(
                Syncer::start(&core, every)
                    .map_err(crate::io_err("start the syncer of", core.dir()))?,
            ),
            Durability::PageCache | Durability::EveryRecord => None,
        };
        Ok((Journal { core, syncer }, opened))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.core.dir()
    }

    /// Records appended and not yet handed out by [`Journal::read`].
    pub fn unread(&self) -> u64 {
        self.core.unread()
    }

    /// Records appended and not yet acknowledged.
    pub fn unacknowledged(&self) -> u64 {
        self.core.unacknowledged()
    }

    /// Appends one record; returns its sequence number. It is in the segment file (one `write`)
    /// when this returns, and fsynced as the [`Durability`] says. An error from a background
    /// fsync since the last append is returned instead (once), and nothing is appended.
    pub fn append(&self, payload: &[u8]) -> Result<u64, JournalError> {
        self.core.append(payload)
    }

    /// Appends the record `write` puts into the buffer it is given (so a caller can serialise
    /// straight into it). An error from `write` appends nothing.
    pub fn append_with(
        &self,
        write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
    ) -> Result<u64, JournalError> {
        self.core.append_with(write)
    }

    /// Appends `payloads` in order, as few `write`s as the segment size allows (one, unless a
    /// segment fills up), fsynced as the [`Durability`] says: group commit for callers that
    /// gather records from several requests. Returns the first one's sequence number (the
    /// others follow it). On an error, the first [`BatchError::appended`] payloads are in the
    /// journal and the rest are not.
    pub fn append_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<u64, BatchError> {
        self.core.append_batch(payloads)
    }

    /// Hands out up to `max` records from the reader's position, in order (fewer, or none, when
    /// fewer are committed). Each must be acknowledged with [`Journal::ack`] once done.
    pub fn read(&self, max: usize) -> Result<Vec<Record>, JournalError> {
        self.core.read(max)
    }

    /// Acknowledges the record `seq`: once every record before it is acknowledged too, the
    /// position moves past it (written at once, or by the syncer with interval durability).
    pub fn ack(&self, seq: u64) -> Result<(), JournalError> {
        self.core.ack(seq)
    }

    /// Acknowledges every record of `seqs` at once (the position is written once).
    pub fn ack_range(&self, seqs: std::ops::Range<u64>) -> Result<(), JournalError> {
        self.core.ack_range(seqs)
    }

    /// Retention: the records of every segment last written before `cutoff` (from the oldest,
    /// stopping at the first newer one) are acknowledged and their segments deleted, unread or
    /// not; the segment being written is closed first when it is that old. Returns how many
    /// records expired. Whole segments go: a record may outlive `cutoff` while a newer record
    /// shares its segment.
    pub fn expire_before(&self, cutoff: std::time::SystemTime) -> Result<u64, JournalError> {
        self.core.expire_before(cutoff)
    }

    /// Fsyncs every segment appended to, and writes and fsyncs the position, now.
    pub fn sync(&self) -> Result<(), JournalError> {
        self.core.sync()
    }
}

impl Drop for Journal {
    /// Stops the syncer, then syncs once more (best effort: call [`Journal::sync`] to see
    /// errors).
    fn drop(&mut self) {
        if self.syncer.take().is_some() {
            self.core.sync_if_dirty();
        }
    }
}
