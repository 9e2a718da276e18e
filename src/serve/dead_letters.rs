//! The feed's dead-letter file, `DATA/dead-letters/serve-feed.jsonl`: one JSON object per line,
//! each with its reason, fsynced before the write returns (it is rare, and it is all that is
//! left of a view).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::Context;
use chrono::Utc;
use serde_json::{Value, json};
use tally_edge::EdgeView;

/// Appends to the feed's dead-letter file.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    file: Mutex<File>,
}

impl DeadLetters {
    /// Opens (creating it and its directory) the file at `path`.
    pub fn open(path: &Path) -> anyhow::Result<DeadLetters> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(DeadLetters {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// A view that cannot be run, and why.
    pub fn view(&self, reason: &str, view: &EdgeView) {
        self.write(json!({"reason": reason, "at": Utc::now(), "view": view}));
    }

    /// A view already serialised (as the journal would have held it), and why.
    pub fn payload(&self, reason: &str, payload: &[u8]) {
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
        let mut line = value.to_string();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = file
            .write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
        {
            // The last resort: the record on stderr, so it is not gone without a trace.
            tracing::error!(path = %self.path.display(), error = %e, record = %line.trim_end(), "cannot write the feed's dead-letter file");
        }
    }
}
