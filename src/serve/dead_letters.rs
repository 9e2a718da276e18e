//! The feed's dead letters, `DATA/dead-letters/serve-feed/`: one JSON record each, with its
//! reason, fsynced before the write returns (it is rare, and it is all that is left of a view),
//! in the bus's own dead-letter journal ([`JsonJournal`]).

use std::path::Path;

use chrono::Utc;
use serde_json::{Value, json};
use tally_bus::local::JsonJournal;
use tally_edge::EdgeView;

/// The most of a view's bytes a dead letter keeps (a view is a few hundred bytes).
pub const HEAD: usize = 64 << 10;

/// Appends to the feed's dead-letter journal.
#[derive(Debug)]
pub struct DeadLetters {
    journal: JsonJournal,
}

impl DeadLetters {
    /// Opens (creating it and its parents) the journal in `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<DeadLetters> {
        Ok(DeadLetters {
            journal: JsonJournal::open(dir)?,
        })
    }

    /// A view that cannot be run, and why.
    pub fn view(&self, reason: &str, view: &EdgeView) {
        self.write(json!({"reason": reason, "at": Utc::now(), "view": view}));
    }

    /// A view already serialised (as the journal would have held it), and why. One too large
    /// for any journal record (which only a bug could make) is kept as its size and its first
    /// [`HEAD`] bytes.
    pub fn payload(&self, reason: &str, payload: &[u8]) {
        if payload.len() > HEAD {
            let head = String::from_utf8_lossy(&payload[..HEAD]);
            let at = Utc::now();
            self.write(json!({"reason": reason, "at": at, "bytes": payload.len(), "head": head}));
            return;
        }
        match serde_json::from_slice::<Value>(payload) {
            Ok(view) => self.write(json!({"reason": reason, "at": Utc::now(), "view": view})),
            Err(_) => self.raw(reason, &String::from_utf8_lossy(payload)),
        }
    }

    /// A journal record that is not a view, and why.
    pub fn raw(&self, reason: &str, line: &str) {
        self.write(json!({"reason": reason, "at": Utc::now(), "line": line}));
    }

    /// Something lost that is no single record (damage in the journal), and what.
    pub fn note(&self, reason: &str) {
        self.write(json!({"reason": reason, "at": Utc::now()}));
    }

    fn write(&self, value: Value) {
        if let Err(e) = self.journal.append(&value) {
            // The last resort: the record on stderr, so it is not gone without a trace.
            tracing::error!(path = %self.journal.dir().display(), error = %e, record = %value, "cannot write the feed's dead letters");
        }
    }
}
