//! The archive's buffer: a `tally-journal` in `ROOT/_buffer/` holding the records accepted and
//! not yet in an object.
//!
//! A batch (the records of one object to be) is a header record, `batch ID MILLIS` (the batch
//! id the object is named by, and its oldest record's arrival in milliseconds), followed by its
//! records, one envelope (JSON) each. Batches never interleave (appends hold the archive's
//! lock), and one is acknowledged, header and records, once its object is renamed into place:
//! what [`Buffer::pending`] reads back on open is the batches a killed process left.

use std::ops::Range;
use std::path::Path;

use chrono::{DateTime, Utc};
use tally_journal::{Durability, Journal, JournalConfig, JournalError, Opened, Record};

use crate::writer::ArchiveError;

/// The header record's first bytes (an envelope starts with `{`).
const HEADER: &str = "batch ";

/// The batch a header record names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// The id the object is named by.
    pub(crate) id: String,
    /// The arrival of its oldest record: the object's partition.
    pub(crate) oldest: DateTime<Utc>,
}

impl Header {
    fn encode(&self) -> String {
        format!("{HEADER}{} {}", self.id, self.oldest.timestamp_millis())
    }

    fn decode(payload: &[u8]) -> Option<Header> {
        let text = std::str::from_utf8(payload).ok()?.strip_prefix(HEADER)?;
        let (id, millis) = text.rsplit_once(' ')?;
        let oldest = DateTime::from_timestamp_millis(millis.parse().ok()?)?;
        Some(Header {
            id: id.to_owned(),
            oldest,
        })
    }
}

/// A batch read back on open.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Its header (`None` if damage took it).
    pub(crate) header: Option<Header>,
    /// Its records' sequence numbers, header included.
    pub(crate) seqs: Range<u64>,
    /// Its records, one JSON line each.
    pub(crate) ndjson: Vec<u8>,
    /// How many.
    pub(crate) records: usize,
}

/// What [`Buffer::pending`] found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub(crate) batches: Vec<Pending>,
    /// Records lost to damage (at least).
    pub(crate) lost: u64,
}

/// The buffer journal.
#[derive(Debug)]
pub(crate) struct Buffer {
    journal: Journal,
}

impl Buffer {
    /// Opens the buffer in `dir` (locking it): a torn tail is cut.
    pub(crate) fn open(
        dir: &Path,
        durability: Durability,
    ) -> Result<(Buffer, Opened), ArchiveError> {
        let (journal, opened) = Journal::open(JournalConfig::new(dir, durability))?;
        Ok((Buffer { journal }, opened))
    }

    /// Starts a batch with its first record; returns the header's sequence number.
    pub(crate) fn start(&self, header: &Header, line: &[u8]) -> Result<u64, ArchiveError> {
        let header = header.encode();
        let payloads: [&[u8]; 2] = [header.as_bytes(), line];
        self.journal
            .append_batch(&payloads)
            .map_err(|e| ArchiveError::Journal(e.error))
    }

    /// Appends a record to the batch under way.
    pub(crate) fn append(&self, line: &[u8]) -> Result<u64, ArchiveError> {
        Ok(self.journal.append(line)?)
    }

    /// Acknowledges a batch whose object is in place.
    pub(crate) fn done(&self, seqs: Range<u64>) -> Result<(), ArchiveError> {
        Ok(self.journal.ack_range(seqs)?)
    }

    /// Every batch not acknowledged, in order (call once, on open).
    pub(crate) fn pending(&self) -> Result<Found, ArchiveError> {
        let mut found = Found::default();
        loop {
            match self.journal.read(1024) {
                Ok(records) if records.is_empty() => return Ok(found),
                Ok(records) => records.into_iter().for_each(|r| found.push(r)),
                Err(JournalError::Damaged { skipped, .. }) => {
                    found.lost += skipped;
                    // What follows the damage is not of the batch before it.
                    found.batches.push(Pending::default());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Found {
    fn push(&mut self, record: Record) {
        if let Some(header) = Header::decode(&record.payload) {
            self.batches.push(Pending {
                header: Some(header),
                seqs: record.seq..record.seq + 1,
                ..Pending::default()
            });
            return;
        }
        if self.batches.is_empty() {
            self.batches.push(Pending::default());
        }
        let Some(batch) = self.batches.last_mut() else {
            return;
        };
        if batch.header.is_none() && batch.records == 0 {
            batch.seqs = record.seq..record.seq;
        }
        batch.seqs.end = record.seq + 1;
        batch.ndjson.extend_from_slice(&record.payload);
        batch.ndjson.push(b'\n');
        batch.records += 1;
    }
}

/// The arrival of the oldest record of each batch in the buffer `dir` (the journal's, read
/// without its lock, and an older tally's buffer files').
pub(crate) fn buffered_arrivals(dir: &Path) -> Result<Vec<DateTime<Utc>>, ArchiveError> {
    let scan = tally_journal::scan(dir)?;
    let batches = scan
        .records
        .iter()
        .filter_map(|r| Header::decode(&r.payload));
    let mut out: Vec<DateTime<Utc>> = batches.map(|h| h.oldest).collect();
    out.extend(crate::legacy::files(dir)?.into_iter().map(|(_, _, t)| t));
    Ok(out)
}
