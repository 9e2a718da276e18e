//! Where imported page views go: straight into the archive, one at a time, after the
//! "already archived" check.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Timelike, Utc};
use serde_json::Value;
use tally_archive::{Archive, ArchiveConfig, objects_for_days, read_object};

/// What became of a page view handed to [`ArchiveSink::accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Appended to the archive.
    Written,
    /// Its `event_id` came earlier in this import.
    Duplicate,
    /// Its `event_id` is in the archive already.
    AlreadyArchived,
}

/// Writes page views into the archive as they are read (nothing is held but `event_id`s), each
/// under the hour partition of its `occurred_at`, one object per hour at least.
///
/// The archive's partitions are by arrival time, and a live view can arrive any time after it
/// occurred, so a view is checked against every partition from its day up to `until` (the import's
/// day): those partitions' `event_id`s are read the first time a view of an earlier day than any
/// before comes, and never twice.
pub struct ArchiveSink {
    config: ArchiveConfig,
    until: NaiveDate,
    archive: Option<Archive>,
    hour: Option<DateTime<Utc>>,
    known_from: Option<NaiveDate>,
    read: HashSet<PathBuf>,
    archived: HashSet<String>,
    seen: HashSet<String>,
}

impl std::fmt::Debug for ArchiveSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveSink")
            .field("root", &self.config.root)
            .finish_non_exhaustive()
    }
}

impl ArchiveSink {
    /// A sink into the archive `config` describes, checking partitions up to the day of `until`.
    pub fn new(config: ArchiveConfig, until: DateTime<Utc>) -> Self {
        ArchiveSink {
            config,
            until: until.date_naive(),
            archive: None,
            hour: None,
            known_from: None,
            read: HashSet::new(),
            archived: HashSet::new(),
            seen: HashSet::new(),
        }
    }

    /// Writes the envelope `value` of the view `event_id` that occurred `at`, unless it came
    /// earlier in this import or is archived already.
    pub fn accept(
        &mut self,
        event_id: &str,
        at: DateTime<Utc>,
        value: &Value,
    ) -> anyhow::Result<Accepted> {
        if self.seen.contains(event_id) {
            return Ok(Accepted::Duplicate);
        }
        self.know_from(at.date_naive())?;
        self.seen.insert(event_id.to_owned());
        if self.archived.contains(event_id) {
            return Ok(Accepted::AlreadyArchived);
        }
        let hour = at.with_minute(0).and_then(|t| t.with_second(0));
        if self.hour.is_some() && self.hour != hour {
            self.flush()?;
        }
        self.hour = hour;
        self.archive()?
            .append(value, at)
            .context("cannot append to the archive")?;
        Ok(Accepted::Written)
    }

    /// Writes out what is buffered as an object (at the end of each file, and of each hour).
    pub fn flush(&mut self) -> anyhow::Result<()> {
        if let Some(archive) = &self.archive
            && let Some(path) = archive.flush().context("cannot write an archive object")?
        {
            // Our own object: its ids are in `seen` already.
            self.read.insert(path);
        }
        Ok(())
    }

    fn archive(&mut self) -> anyhow::Result<&Archive> {
        if self.archive.is_none() {
            let root = self.config.root.clone();
            let (archive, _) = Archive::open(self.config.clone())
                .with_context(|| format!("cannot open the archive in {}", root.display()))?;
            self.archive = Some(archive);
        }
        self.archive.as_ref().context("the archive is open")
    }

    /// Makes sure the `event_id`s of every partition from `day` up to `until` are known.
    fn know_from(&mut self, day: NaiveDate) -> anyhow::Result<()> {
        if self.known_from.is_some_and(|from| from <= day) {
            return Ok(());
        }
        let to = self.until.max(day);
        for object in objects_for_days(&self.config.root, &self.config.layout, day, to)? {
            if !self.read.insert(object.path.clone()) {
                continue;
            }
            for event in read_object(&object.path)? {
                if let Some(id) = event.pointer("/detail/event_id").and_then(Value::as_str) {
                    self.archived.insert(id.to_owned());
                }
            }
        }
        self.known_from = Some(day);
        Ok(())
    }
}
