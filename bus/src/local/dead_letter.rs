//! Dead-letter destinations. The only module of the crate that does file I/O.
//!
//! A record is written when a target's retry budget is spent, when the target
//! reports a permanent failure, when the input transformation fails, or when
//! a time-limited shutdown gives up on an event. If the destination itself
//! fails, the worker logs the record to stderr and counts it
//! (`dead_letter_failed`), so no event disappears without a trace.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// One line of a dead-letter file.
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

/// Appends records to a JSON Lines file, one object per line, each fsynced before
/// [`DeadLetter::write`] returns (dead letters are rare, and all that is left of an event).
///
/// Several targets may share one file: each record is written with a single
/// `write_all` under a lock, so lines never interleave within a process.
#[derive(Debug)]
pub struct JsonLinesFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl JsonLinesFile {
    /// Opens (creating if needed) `path` for appending. The parent directory
    /// must exist.
    pub fn open(path: impl AsRef<Path>) -> io::Result<JsonLinesFile> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(JsonLinesFile {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` as one JSON line, fsynced before it returns: the dead-letter records,
    /// and whatever else is all that is left of an event (the local last-resort queue).
    pub fn append<T: Serialize + ?Sized>(&self, record: &T) -> io::Result<()> {
        let mut line = serde_json::to_string(record)?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(line.as_bytes())?;
        file.sync_data()
    }
}

impl DeadLetter for JsonLinesFile {
    fn write(&self, record: &DeadLetterRecord) -> io::Result<()> {
        self.append(record)
    }
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

/// Reads every record of a JSON Lines dead-letter file.
pub fn read_dead_letters(path: impl AsRef<Path>) -> io::Result<Vec<DeadLetterRecord>> {
    let reader = BufReader::new(File::open(path)?);
    let mut records = Vec::new();
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        records.push(serde_json::from_str(&line)?);
    }
    Ok(records)
}
