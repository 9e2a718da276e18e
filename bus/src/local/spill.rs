//! A target's overflow: events that found its queue full wait in a journal on disk
//! ([`tally_journal`]) instead of blocking the put, and are delivered when the queue is empty.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tally_journal::{Durability, Journal, JournalConfig, JournalError};

use super::worker::Job;

/// How often the overflow journal is fsynced, at most: what power loss can take of it.
pub const SPILL_SYNC: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Serialize, Deserialize)]
struct Spilled {
    ingestion_time: String,
    event: Value,
}

/// The overflow journal of one target.
#[derive(Debug)]
pub(crate) struct Spill {
    journal: Journal,
}

impl Spill {
    /// Opens the journal in `dir` (locked while the bus runs); what a previous process left in
    /// it is delivered first.
    pub(crate) fn open(dir: &Path) -> Result<Spill, JournalError> {
        let config = JournalConfig::new(dir, Durability::Interval(SPILL_SYNC));
        let (journal, _) = Journal::open(config)?;
        Ok(Spill { journal })
    }

    /// Appends `job`'s event; once this returns, the job's ticket may be released.
    pub(crate) fn push(&self, job: &Job) -> Result<(), JournalError> {
        let record = Spilled {
            ingestion_time: job.ingestion_time.to_string(),
            event: (*job.event).clone(),
        };
        self.journal
            .append_with(|buf| serde_json::to_writer(buf, &record).map_err(std::io::Error::other))
            .map(|_| ())
    }

    /// Whether anything waits.
    pub(crate) fn pending(&self) -> bool {
        self.journal.unread() > 0
    }

    /// Up to `max` waiting jobs; what cannot be read is passed to `unreadable` with the reason.
    pub(crate) fn take(&self, max: usize, unreadable: &mut dyn FnMut(String)) -> Vec<Job> {
        let records = match self.journal.read(max) {
            Ok(r) => r,
            Err(e) => {
                unreadable(format!("the overflow journal: {e}"));
                return Vec::new();
            }
        };
        let mut jobs = Vec::with_capacity(records.len());
        for r in records {
            match serde_json::from_slice::<Spilled>(&r.payload) {
                Ok(s) => jobs.push(Job {
                    event: Arc::new(s.event),
                    ingestion_time: s.ingestion_time.into(),
                    accepted: Instant::now(),
                    _ticket: None,
                    spilled: Some(r.seq),
                }),
                Err(e) => {
                    unreadable(format!("overflow record {} is not an event: {e}", r.seq));
                    self.ack(r.seq);
                }
            }
        }
        jobs
    }

    /// The job from record `seq` ended.
    pub(crate) fn ack(&self, seq: u64) {
        if let Err(e) = self.journal.ack(seq) {
            // The record is delivered again after a restart: at least once.
            eprintln!("tally-bus: cannot acknowledge overflow record {seq}: {e}");
        }
    }
}
