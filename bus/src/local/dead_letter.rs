//! Dead-letter destinations: the crate's file I/O, with the overflow journals (`spill.rs`), both
//! through `tally-journal`.
//!
//! A record is written when a target's retry budget is spent, when the target
//! reports a permanent failure, when the input transformation fails, or when
//! a time-limited shutdown gives up on an event. If the destination itself
//! fails, the worker logs the record to stderr and counts it
//! (`dead_letter_failed`), so no event disappears without a trace.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tally_journal::{Durability, Journal, JournalConfig, JournalError};

/// Why an event was dead-lettered (EventBridge's "exhausted retry condition",
/// extended with the local cases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeadLetterCondition {
    /// Every retry allowed by `MaximumRetryAttempts` failed.
    MaximumRetryAttempts,
    /// The next retry would have started after `MaximumEventAgeInSeconds`.
    MaximumEventAge,
    /// The target reported a failure that retrying cannot fix.
    PermanentFailure,
    /// The input transformation produced invalid JSON; nothing was delivered.
    InvalidInput,
    /// `shutdown_within` ran out of time before the event was delivered.
    Shutdown,
}

/// One record of a dead-letter journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// When the event was dead-lettered (RFC 3339).
    pub time: String,
    /// The bus name.
    pub bus: String,
    /// The rule name.
    pub rule: String,
    /// The rule ARN.
    pub rule_arn: String,
    /// The target id.
    pub target: String,
    /// Delivery attempts made (0 if none was possible).
    pub attempts: u32,
    /// Why the event was given up.
    pub condition: DeadLetterCondition,
    /// The last error message.
    pub reason: String,
    /// When the bus accepted the event (RFC 3339).
    pub ingestion_time: String,
    /// The original event envelope.
    pub event: Value,
    /// The transformed input, if it could be produced; a string for text inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
}

/// Somewhere to put events that could not be delivered.
pub trait DeadLetter: Send + Sync + 'static {
    /// Stores one record durably, or says why not.
    fn write(&self, record: &DeadLetterRecord) -> io::Result<()>;
}

/// A journal of JSON records (`tally-journal`, each fsynced before [`JsonJournal::append`]
/// returns): the dead-letter files, and whatever else is all that is left of an event (the local
/// last-resort queue, the serve feed's dead letters). Dead letters are rare, so an fsync each
/// costs nothing that matters.
///
/// Several targets may share one: each record is one frame, appended under the journal's lock.
/// Opening it moves in the JSON-lines file an older tally kept at `DIR.jsonl`
/// ([`tally_journal::import_lines`]).
#[derive(Debug)]
pub struct JsonJournal {
    journal: Journal,
}

impl JsonJournal {
    /// Opens (creating it and its parents) the journal in `dir`, locking it for this process.
    pub fn open(dir: impl AsRef<Path>) -> Result<JsonJournal, JournalError> {
        let dir = dir.as_ref();
        tally_journal::import_lines(dir, &[legacy_file(dir)])?;
        let config = JournalConfig::new(dir, Durability::EveryRecord);
        let (journal, _) = Journal::open(config)?;
        Ok(JsonJournal { journal })
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        self.journal.dir()
    }

    /// Appends `record` as one JSON record, fsynced before it returns.
    pub fn append<T: Serialize + ?Sized>(&self, record: &T) -> Result<(), JournalError> {
        self.journal
            .append_with(|buf| serde_json::to_writer(buf, record).map_err(io::Error::from))
            .map(drop)
    }
}

impl DeadLetter for JsonJournal {
    fn write(&self, record: &DeadLetterRecord) -> io::Result<()> {
        self.append(record).map_err(io::Error::other)
    }
}

/// Where an older tally kept the JSON-lines file of the journal in `dir`: `DIR.jsonl`.
fn legacy_file(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(".jsonl");
    PathBuf::from(name)
}

/// Every record of the JSON journal in `dir`, in the order appended, read without its lock
/// (beside a process appending to it); none when `dir` does not exist. Damage is an error
/// naming the records it cost.
pub fn read_json<T: DeserializeOwned>(dir: impl AsRef<Path>) -> io::Result<Vec<T>> {
    let scan = tally_journal::scan(dir.as_ref()).map_err(io::Error::other)?;
    if let Some(damage) = scan.damage.into_iter().next() {
        return Err(io::Error::other(damage));
    }
    scan.records
        .iter()
        .map(|r| serde_json::from_slice(&r.payload).map_err(io::Error::from))
        .collect()
}

/// Writes each record as a JSON line to stderr: the default destination, so
/// a target without a dead-letter file still never drops an event silently.
#[derive(Debug, Default, Clone, Copy)]
pub struct StderrDeadLetter;

impl DeadLetter for StderrDeadLetter {
    fn write(&self, record: &DeadLetterRecord) -> io::Result<()> {
        let line = serde_json::to_string(record)?;
        let mut err = io::stderr().lock();
        writeln!(err, "tally-bus dead letter: {line}")
    }
}

/// Every record of a dead-letter journal ([`read_json`]).
pub fn read_dead_letters(dir: impl AsRef<Path>) -> io::Result<Vec<DeadLetterRecord>> {
    read_json(dir)
}
