//! Importing CloudFront standard logs into the local archive (`tally import cloudfront-logs`).
//!
//! Every file is read line by line ([`tally_logs`]); page views are validated against the v1
//! schema and written into the archive `tally serve` writes, under the hour partition of their
//! `occurred_at` (as if they had arrived then, so a day's partitions hold the day's views and a
//! replay of the day finds them), one object per hour at least.
//!
//! **A second import adds nothing**, across processes: before writing, the `event_id`s already
//! in the archive for the days the files cover are read, and a page view whose `event_id` is
//! among them is skipped (`already_archived`). The `event_id` is CloudFront's request id, which
//! the edge function uses too, so a request both counted live and found in a log is kept once.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Timelike, Utc};
use serde::Serialize;
use serde_json::Value;
use tally_archive::{Archive, ArchiveConfig, objects_for_days, read_object};
use tally_logs::{ImportConfig, Importer, LogReader, Outcome, skip_key};
use tally_schema::validate::PageViewValidator;

use super::DataDir;

/// Most malformed or rejected lines listed in a report (all are counted).
pub const MAX_LISTED: usize = 1000;

/// One line that was rejected, where it is and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineProblem {
    /// The file.
    pub file: PathBuf,
    /// The line's number, counted from the file's first line.
    pub line: usize,
    /// The reason's key.
    pub reason: String,
    /// What was wrong.
    pub message: String,
}

/// What an import did, per reason.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Files read.
    pub files: usize,
    /// Lines read, header lines included.
    pub lines_read: u64,
    /// Records (non-header lines).
    pub records: u64,
    /// Page views written to the archive.
    pub imported: u64,
    /// Records that are not page views (or are already archived), by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Lines that cannot be read as requests, by reason (`malformed` for a line that is not a
    /// record at all).
    pub rejected: BTreeMap<String, u64>,
    /// The rejected lines, with file and line number (at most [`MAX_LISTED`]).
    pub problems: Vec<LineProblem>,
}

impl ImportReport {
    fn problem(&mut self, file: &Path, line: usize, reason: &str, message: String) {
        *self.rejected.entry(reason.to_owned()).or_default() += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(LineProblem {
                file: file.to_owned(),
                line,
                reason: reason.to_owned(),
                message,
            });
        }
    }
}

/// Imports `paths` (gzipped or plain standard log files) into `data`'s archive. `site`
/// overrides each line's `x-host-header`; `received_at` is the events' `received_at`.
/// `progress` is called with the report after each file.
pub fn import_cloudfront_logs(
    paths: &[PathBuf],
    site: Option<String>,
    data: &DataDir,
    received_at: DateTime<Utc>,
    progress: &mut dyn FnMut(&ImportReport),
) -> anyhow::Result<ImportReport> {
    if let Some(site) = &site {
        anyhow::ensure!(
            tally_edge::config::is_site_host(site),
            "--site is not a lower-case host name: {site:?}"
        );
    }
    let validator = PageViewValidator::new().context("cannot build the page-view validator")?;
    let mut importer = Importer::new(ImportConfig::new(site));
    let mut report = ImportReport::default();
    let mut views: Vec<(DateTime<Utc>, String, Value)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();

    for path in paths {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let reader =
            tally_logs::open(file).with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines = LogReader::new(reader);
        for line in lines.by_ref() {
            let line = match line {
                Ok(line) => line,
                Err(m) => {
                    report.records += 1;
                    report.problem(path, m.line, "malformed", m.reason);
                    continue;
                }
            };
            report.records += 1;
            match importer.map(&line, received_at) {
                Outcome::PageView(envelope) => {
                    let event_id = envelope.detail.event_id.clone();
                    let at = envelope.detail.occurred_at.0;
                    let value = serde_json::to_value(&envelope)?;
                    let violations = validator.validate(&value);
                    if !violations.is_empty() {
                        let text: Vec<String> =
                            violations.iter().map(|v| format!("{v:?}")).collect();
                        report.problem(path, line.number, "invalid_event", text.join("; "));
                    } else if !seen.insert(event_id.clone()) {
                        *report
                            .skipped
                            .entry("duplicate_request_id".into())
                            .or_default() += 1;
                    } else {
                        views.push((at, event_id, value));
                    }
                }
                Outcome::Skipped(skip) => *report.skipped.entry(skip_key(&skip)).or_default() += 1,
                Outcome::Rejected { key, message } => {
                    report.problem(path, line.number, key, message);
                }
            }
        }
        report.lines_read += lines.lines_read() as u64;
        report.files += 1;
        progress(&report);
    }

    let config = ArchiveConfig::new(data.archive());
    let archived = archived_event_ids(&config, views.iter().map(|(at, _, _)| at.date_naive()))?;
    views.retain(|(_, id, _)| {
        let new = !archived.contains(id);
        if !new {
            *report.skipped.entry("already_archived".into()).or_default() += 1;
        }
        new
    });
    views.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    if !views.is_empty() {
        let (archive, _) = Archive::open(config)
            .with_context(|| format!("cannot open the archive in {}", data.archive().display()))?;
        let mut hour = None;
        for (at, _, value) in &views {
            let this = at.with_minute(0).and_then(|t| t.with_second(0));
            if hour.is_some() && hour != this {
                archive.flush().context("cannot write an archive object")?;
            }
            hour = this;
            archive
                .append(value, *at)
                .context("cannot append to the archive")?;
            report.imported += 1;
        }
        archive.flush().context("cannot write an archive object")?;
    }
    Ok(report)
}

/// The `detail.event_id`s the archive holds for events that occurred on `days`.
fn archived_event_ids(
    config: &ArchiveConfig,
    days: impl Iterator<Item = NaiveDate>,
) -> anyhow::Result<HashSet<String>> {
    let days: BTreeSet<NaiveDate> = days.collect();
    let mut keys = BTreeSet::new();
    let mut ids = HashSet::new();
    for day in &days {
        for object in objects_for_days(&config.root, &config.layout, *day, *day)? {
            if !keys.insert(object.key.clone()) {
                continue;
            }
            for event in read_object(&object.path)? {
                if let Some(id) = event.pointer("/detail/event_id").and_then(Value::as_str) {
                    ids.insert(id.to_owned());
                }
            }
        }
    }
    Ok(ids)
}
