//! The local store: one `tally-journal` record per failed event, fsynced before the append
//! returns.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};
use tally_bus::local::{DeliveryError, TargetInput};
use tally_consumer::compliance::Probe;
use tally_consumer::{Declaration, FlushError, LocalConsumer};
use tally_journal::{Durability, Journal, JournalConfig, JournalError, Record};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum FailuresError {
    /// The journal could not be opened, read, written or synced.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A record is not a JSON event with an `id`.
    #[error("{dir}: record {seq}: not a failed event: {reason}")]
    Corrupt {
        /// The journal's directory.
        dir: PathBuf,
        /// The record's sequence number.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// What was delivered is not an event.
    #[error("not an event: {0}")]
    NotAnEvent(String),
}

/// What opening the store found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Failed events already stored.
    pub events: usize,
    /// Bytes of a torn last record (a write a killed process did not finish, hence never
    /// acknowledged) cut off.
    pub torn_bytes: u64,
    /// Records lost to damage (at least), each reported as a [`JournalError::Damaged`] by
    /// [`read_failed`] too.
    pub lost: u64,
    /// Events moved in from the day files (`YYYY-MM-DD.jsonl`) of an older tally.
    pub imported: u64,
}

/// What [`FailedEvents::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The event was written and synced, as the record with this sequence number.
    Written(u64),
    /// An event with the same `id` is stored already: nothing was written.
    Duplicate,
}

/// The failed events of a local data directory, and the failures consumer of the local bus.
///
/// Each event is one record of a journal in `DIR` (`tally-journal`, fsync per record: failed
/// events are rare, and each is all that is left of a page view), the whole envelope as
/// delivered (its `detail` holds `error`, `cause`, `execution_id` and the original `input`), in
/// the order they arrived. A torn last record is cut off when the store is opened. Appends are
/// idempotent per envelope `id`: the ids of every stored event are kept in memory (failed
/// events are rare).
#[derive(Debug)]
pub struct FailedEvents {
    journal: Journal,
    ids: Mutex<HashSet<String>>,
    recovery: Recovery,
}

impl FailedEvents {
    /// Opens (creating) the store in `dir`, moving in the day files of an older tally and
    /// reading the ids of the events already there.
    pub fn open(dir: impl Into<PathBuf>) -> Result<(FailedEvents, Recovery), FailuresError> {
        let dir = dir.into();
        let imported = tally_journal::import_lines(&dir, &day_files(&dir)?)?;
        let config = JournalConfig::new(&dir, Durability::EveryRecord);
        let (journal, opened) = Journal::open(config)?;
        let mut recovery = Recovery {
            torn_bytes: opened.torn_bytes,
            imported: imported.records,
            ..Recovery::default()
        };
        let mut ids = HashSet::new();
        loop {
            let records = match journal.read(1024) {
                Ok(records) if records.is_empty() => break,
                Ok(records) => records,
                Err(JournalError::Damaged { skipped, .. }) => {
                    recovery.lost += skipped;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for record in &records {
                ids.insert(parse(&dir, record)?.1);
            }
            recovery.events += records.len();
        }
        let ids = Mutex::new(ids);
        let store = FailedEvents {
            journal,
            ids,
            recovery,
        };
        Ok((store, recovery))
    }

    /// What opening the store found.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        self.journal.dir()
    }

    /// Stores `event` (a whole envelope with a string `id`) once, durably.
    pub fn append(&self, event: &Value) -> Result<Appended, FailuresError> {
        let id = match event.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => {
                return Err(FailuresError::NotAnEvent(
                    "expected an object with a non-empty string \"id\"".into(),
                ));
            }
        };
        let bytes = serde_json::to_vec(event)
            .map_err(|e| FailuresError::NotAnEvent(format!("cannot serialise it: {e}")))?;
        // Held across the append: one record per id, whatever the threads.
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if ids.contains(&id) {
            return Ok(Appended::Duplicate);
        }
        let seq = self.journal.append(&bytes)?;
        ids.insert(id);
        Ok(Appended::Written(seq))
    }

    /// Syncs the journal (each append is synced already; this is the belt to its braces, and
    /// what [`LocalConsumer::flush`] calls).
    pub fn sync(&self) -> Result<(), FailuresError> {
        Ok(self.journal.sync()?)
    }

    /// How many failed events are stored.
    pub fn len(&self) -> usize {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no failed event is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What [`read_failed`] found.
#[derive(Debug, Default)]
pub struct Stored {
    /// The failed events, in the order they arrived.
    pub events: Vec<Value>,
    /// Damage met ([`JournalError::Damaged`], naming the records it cost).
    pub damage: Vec<JournalError>,
}

/// Every failed event stored in `dir`, read without the store's lock (so beside a running
/// `tally serve`); none when `dir` does not exist. A torn last record is not read.
pub fn read_failed(dir: &Path) -> Result<Stored, FailuresError> {
    let scan = tally_journal::scan(dir)?;
    let events = scan
        .records
        .iter()
        .map(|r| parse(dir, r).map(|(event, _)| event))
        .collect::<Result<_, _>>()?;
    Ok(Stored {
        events,
        damage: scan.damage,
    })
}

/// The day files of an older tally in `dir`, oldest first.
fn day_files(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(JournalError::Io {
                op: "read",
                path: dir.to_owned(),
                source: e,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

/// A record as an event, with its id.
fn parse(dir: &Path, record: &Record) -> Result<(Value, String), FailuresError> {
    let corrupt = |reason: String| FailuresError::Corrupt {
        dir: dir.to_owned(),
        seq: record.seq,
        reason,
    };
    let event: Value =
        serde_json::from_slice(&record.payload).map_err(|e| corrupt(e.to_string()))?;
    let id = event["id"]
        .as_str()
        .ok_or_else(|| corrupt("no string \"id\"".into()))?
        .to_owned();
    Ok((event, id))
}

impl LocalConsumer for FailedEvents {
    fn declaration(&self) -> Declaration {
        crate::declaration()
    }

    fn handle(&self, _rule: &str, input: &TargetInput) -> Result<(), DeliveryError> {
        let TargetInput::Json(event) = input else {
            return Err(DeliveryError::permanent(
                "the failures consumer takes whole events, not text",
            ));
        };
        match self.append(event) {
            Ok(_) => Ok(()),
            Err(e @ FailuresError::NotAnEvent(_)) => Err(DeliveryError::permanent(e.to_string())),
            Err(e) => Err(DeliveryError::new(e.to_string())),
        }
    }

    fn flush(&self) -> Result<(), FlushError> {
        self.sync().map_err(FlushError::new)
    }
}

impl Probe for FailedEvents {
    /// The stored events' ids, sorted, with the number of records on disk (a duplicate record
    /// would show as more records than ids).
    fn snapshot(&self) -> Value {
        let events = read_failed(self.dir())
            .map(|s| s.events)
            .unwrap_or_default();
        let mut ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
        ids.sort_unstable();
        json!({"lines": events.len(), "ids": ids})
    }
}
