//! The local store: one JSON-lines file per UTC day, appended and fsynced.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tally_bus::local::{DeliveryError, TargetInput};
use tally_consumer::compliance::Probe;
use tally_consumer::{Declaration, LocalConsumer};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum FailuresError {
    /// A file could not be read, written or synced.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A line of a day file is not a JSON event with an `id`.
    #[error("{path}:{line}: not a failed event: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// What was delivered is not an event.
    #[error("not an event: {0}")]
    NotAnEvent(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FailuresError + '_ {
    move |source| FailuresError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What opening the store found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Failed events already stored.
    pub events: usize,
    /// Bytes of a torn last line (a write a killed process did not finish, hence never
    /// acknowledged) cut off the end of a day file.
    pub torn_bytes: u64,
}

/// What [`FailedEvents::append`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// The event was written and synced to this day file.
    Written(PathBuf),
    /// An event with the same `id` is stored already: nothing was written.
    Duplicate,
}

/// The failed events of a local data directory, and the failures consumer of the local bus.
///
/// Each event is one line, the whole envelope as delivered (its `detail` holds `error`, `cause`,
/// `execution_id` and the original `input`), in `DIR/YYYY-MM-DD.jsonl` by the UTC day of its
/// `time` (the day of arrival when `time` is missing or not RFC 3339). A line is written with one
/// `write_all` and the file is fsynced before [`FailedEvents::append`] returns, so an
/// acknowledged event survives a crash; a torn last line is cut off when the store is opened.
/// Appends are idempotent per envelope `id`: the ids of every stored event are kept in memory
/// (failed events are rare; a day's worth of them fits easily).
#[derive(Debug)]
pub struct FailedEvents {
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    ids: HashSet<String>,
    files: BTreeMap<String, File>,
}

impl FailedEvents {
    /// Opens (creating) the store in `dir`, reading the ids of the events already there and
    /// cutting off torn last lines.
    pub fn open(dir: impl Into<PathBuf>) -> Result<(FailedEvents, Recovery), FailuresError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut recovery = Recovery::default();
        let mut ids = HashSet::new();
        for path in day_files(&dir)? {
            let mut text = fs::read(&path).map_err(io_err(&path))?;
            let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if keep < text.len() {
                recovery.torn_bytes += (text.len() - keep) as u64;
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                file.set_len(keep as u64).map_err(io_err(&path))?;
                file.sync_all().map_err(io_err(&path))?;
                text.truncate(keep);
            }
            for event in parse_lines(&path, &text)? {
                if let Some(id) = event["id"].as_str() {
                    ids.insert(id.to_owned());
                }
                recovery.events += 1;
            }
        }
        let state = State {
            ids,
            files: BTreeMap::new(),
        };
        Ok((
            FailedEvents {
                dir,
                state: Mutex::new(state),
            },
            recovery,
        ))
    }

    /// The directory of the day files.
    pub fn dir(&self) -> &Path {
        &self.dir
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
        let day = event
            .get("time")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
            .format("%Y-%m-%d")
            .to_string();
        let mut line = serde_json::to_vec(event)
            .map_err(|e| FailuresError::NotAnEvent(format!("cannot serialise it: {e}")))?;
        line.push(b'\n');

        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State { ids, files } = &mut *state;
        if ids.contains(&id) {
            return Ok(Appended::Duplicate);
        }
        let path = self.dir.join(format!("{day}.jsonl"));
        let file = match files.entry(day) {
            Entry::Occupied(open) => open.into_mut(),
            Entry::Vacant(slot) => {
                let created = !path.exists();
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                if created {
                    // The new file's directory entry must survive a crash too.
                    File::open(&self.dir)
                        .and_then(|d| d.sync_all())
                        .map_err(io_err(&self.dir))?;
                }
                slot.insert(file)
            }
        };
        file.write_all(&line).map_err(io_err(&path))?;
        file.sync_data().map_err(io_err(&path))?;
        ids.insert(id);
        Ok(Appended::Written(path))
    }

    /// Syncs every open day file (each append is synced already; this is the belt to its braces,
    /// and what [`LocalConsumer::flush`] calls).
    pub fn sync(&self) -> Result<(), FailuresError> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for (day, file) in &state.files {
            file.sync_all()
                .map_err(io_err(&self.dir.join(format!("{day}.jsonl"))))?;
        }
        Ok(())
    }

    /// How many failed events are stored.
    pub fn len(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.ids.len()
    }

    /// Whether no failed event is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every failed event stored in `dir`, oldest day first, in arrival order within a day; an empty
/// list when `dir` does not exist. A torn last line is skipped, not an error.
pub fn read_failed(dir: &Path) -> Result<Vec<Value>, FailuresError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for path in day_files(dir)? {
        let text = fs::read(&path).map_err(io_err(&path))?;
        let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        out.extend(parse_lines(&path, &text[..keep])?);
    }
    Ok(out)
}

/// The `YYYY-MM-DD.jsonl` files of `dir`, sorted.
fn day_files(dir: &Path) -> Result<Vec<PathBuf>, FailuresError> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

fn parse_lines(path: &Path, text: &[u8]) -> Result<Vec<Value>, FailuresError> {
    let mut out = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let corrupt = |reason: String| FailuresError::Corrupt {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let event: Value = serde_json::from_slice(line).map_err(|e| corrupt(e.to_string()))?;
        if !event["id"].is_string() {
            return Err(corrupt("no string \"id\"".into()));
        }
        out.push(event);
    }
    Ok(out)
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

    fn flush(&self) -> Result<(), String> {
        self.sync().map_err(|e| e.to_string())
    }
}

impl Probe for FailedEvents {
    /// The stored events' ids, sorted, with the number of lines on disk (a duplicate line would
    /// show as more lines than ids).
    fn snapshot(&self) -> Value {
        let events = read_failed(&self.dir).unwrap_or_default();
        let mut ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
        ids.sort_unstable();
        json!({"lines": events.len(), "ids": ids})
    }
}
