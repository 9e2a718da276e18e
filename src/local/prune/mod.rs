//! Retention in the data directory: one setting, in days, for everything that holds page views.
//!
//! [`prune`] deletes, for a retention of `N` days at `now` (cut-off `now − N days`):
//! - the archive's objects of the hours before the cut-off (by arrival, as they are partitioned);
//! - the counters' day counts of the days before the cut-off's day (dedupe records, visitor
//!   markers and minutes also go when they expire, as on every open);
//! - the dead letters, the last resort and the failed events written before the cut-off (each a
//!   `tally-journal`: whole segments go, so a record may stay a little longer while a newer one
//!   shares its segment);
//! - the visitor salts past their window (`super::salts`).
//!
//! `tally prune` runs it under the data directory's lock; `tally serve` runs it on start, and
//! [`prune_history`] (the archive and the counters, the bulk) each day while it runs. The dead
//! letters and failed events of a server that stays up are pruned at its next start.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tally_archive::{ArchiveConfig, prune_before};
use tally_counters::LocalCounters;
use tally_journal::{Durability, Journal, JournalConfig};

use super::DataDir;

/// The default retention, in days: a year and a month, so a year-on-year comparison still
/// finds last year's month.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

/// What a prune removed.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct PruneReport {
    /// Everything older than this went.
    pub cutoff: DateTime<Utc>,
    /// Archive objects deleted.
    pub archive_objects: usize,
    /// Counter rows deleted (day counts, and expired dedupe records, markers and minutes).
    pub counter_rows: u64,
    /// Dead letters, last-resort messages and failed events expired.
    pub dead_letters: u64,
    /// Visitor salts deleted.
    pub salts: usize,
}

/// Deletes what is older than `retention_days` at `now` from `data` (see the module
/// documentation). The caller holds the data directory's lock.
pub fn prune(
    data: &DataDir,
    retention_days: u32,
    now: DateTime<Utc>,
) -> anyhow::Result<PruneReport> {
    anyhow::ensure!(retention_days > 0, "the retention must be at least one day");
    let cutoff = now - Duration::days(i64::from(retention_days));
    let mut report = PruneReport {
        cutoff,
        ..PruneReport::default()
    };
    if data.counters().exists() {
        let counters = LocalCounters::open(data.counters()).context("cannot open the counters")?;
        (report.archive_objects, report.counter_rows) =
            prune_history(data, &counters, cutoff, now)?;
    } else {
        report.archive_objects = prune_archive(data, cutoff)?;
    }
    for dir in journals(data)? {
        let (journal, _) = Journal::open(JournalConfig::new(&dir, Durability::EveryRecord))
            .with_context(|| format!("cannot open {}", dir.display()))?;
        report.dead_letters += journal
            .expire_before(SystemTime::from(cutoff))
            .with_context(|| format!("cannot prune {}", dir.display()))?;
    }
    if data.root().join("salts").exists() {
        report.salts = data.salts(now)?.prune(now)?.len();
    }
    Ok(report)
}

/// The history part of [`prune`], through a counters handle the caller holds (a running server
/// prunes with its own each day): archive objects before `cutoff`, the counters' day counts of
/// earlier days and their expired records. Returns the objects and the rows deleted.
pub fn prune_history(
    data: &DataDir,
    counters: &LocalCounters,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, u64)> {
    let objects = prune_archive(data, cutoff)?;
    let rows = counters.prune_days_before(cutoff.date_naive())? + counters.purge_expired(now)?;
    Ok((objects, rows))
}

/// Archive objects before `cutoff` deleted, when there is an archive.
fn prune_archive(data: &DataDir, cutoff: DateTime<Utc>) -> anyhow::Result<usize> {
    let archive = ArchiveConfig::new(data.archive());
    if !archive.root.exists() {
        return Ok(0);
    }
    let gone =
        prune_before(&archive.root, &archive.layout, cutoff).context("cannot prune the archive")?;
    Ok(gone.len())
}

/// The journals that keep page views beyond their delivery: `DATA/failed/` and every
/// `DATA/dead-letters/*/`.
fn journals(data: &DataDir) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs = vec![data.root().join(tally_failures::LOCAL_DIR)];
    let dead = data.dead_letters();
    if dead.exists() {
        for entry in
            std::fs::read_dir(&dead).with_context(|| format!("cannot read {}", dead.display()))?
        {
            let entry = entry.with_context(|| format!("cannot read {}", dead.display()))?;
            dirs.push(entry.path());
        }
    }
    dirs.retain(|d| d.is_dir());
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests;
