//! Importing CloudFront logs into the local archive (`tally import cloudfront-logs`).
//!
//! Every file is read line by line ([`tally_logs`], in any of CloudFront's three formats); page
//! views are validated against the v1 schema and written into the archive `tally serve` writes
//! as they are read (nothing but `event_id`s is held), under the hour partition of their
//! `occurred_at` (as if they had arrived then, so a day's partitions hold the day's views and a
//! replay of the day finds them), one object per hour and file at least.
//!
//! **A second import adds nothing**, across processes: a page view whose `event_id` is in the
//! archive already is skipped (`already_archived`). Archive partitions are by arrival time and a
//! live view may arrive any time after it happened, so every partition from the earliest day the
//! files cover up to the import's day is checked ([`sink::ArchiveSink`]). The `event_id` is
//! CloudFront's request id, which the edge function uses too, so a request both counted live and
//! found in a log is kept once.

mod sink;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tally_archive::ArchiveConfig;
use tally_logs::{ImportConfig, Importer, LogFormat, LogLine, LogReader, Outcome, skip_key};
use tally_schema::validate::PageViewValidator;

use super::DataDir;
use sink::{Accepted, ArchiveSink};

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

/// Imports `paths` (log files in `format`, gzipped or plain) into `data`'s archive. `site`
/// overrides each line's host; `received_at` is the events' `received_at` and the last day whose
/// archive partitions are checked. `progress` is called with the report after each file, when
/// that file's page views are in the archive.
pub fn import_cloudfront_logs(
    paths: &[PathBuf],
    format: &LogFormat,
    config: ImportConfig,
    data: &DataDir,
    received_at: DateTime<Utc>,
    progress: &mut dyn FnMut(&ImportReport),
) -> anyhow::Result<ImportReport> {
    if let Some(site) = &config.site {
        anyhow::ensure!(
            tally_edge::config::is_site_host(site),
            "--site is not a lower-case host name: {site:?}"
        );
    }
    let mut config = config;
    config.edge.event_id_key = Some(data.event_id_key()?);
    let salts = Arc::new(data.salts(received_at)?);
    let salt_of = move |at| match salts.salt(at, received_at) {
        Ok(salt) => Some(salt),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "no visitor hash: cannot read the day's salt");
            None
        }
    };
    let mut import = Import {
        validator: PageViewValidator::new().context("cannot build the page-view validator")?,
        importer: Importer::new(config).with_daily_salts(Box::new(salt_of)),
        sink: ArchiveSink::new(ArchiveConfig::new(data.archive()), received_at),
        report: ImportReport::default(),
        received_at,
    };
    for path in paths {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let reader =
            tally_logs::open(file).with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines = LogReader::with_format(reader, format.clone());
        for line in lines.by_ref() {
            import.report.records += 1;
            match line {
                Ok(line) => import.line(path, &line)?,
                Err(m) => import.report.problem(path, m.line, "malformed", m.reason),
            }
        }
        import.sink.flush()?;
        import.report.lines_read += lines.lines_read() as u64;
        import.report.files += 1;
        progress(&import.report);
    }
    Ok(import.report)
}

/// One import under way.
struct Import {
    validator: PageViewValidator,
    importer: Importer,
    sink: ArchiveSink,
    report: ImportReport,
    received_at: DateTime<Utc>,
}

impl Import {
    /// Maps, validates and writes one record.
    fn line(&mut self, path: &Path, line: &LogLine) -> anyhow::Result<()> {
        let report = &mut self.report;
        match self.importer.map(line, self.received_at) {
            Outcome::PageView(envelope) => {
                let value = serde_json::to_value(&envelope)?;
                let violations = self.validator.validate(&value);
                if !violations.is_empty() {
                    let text: Vec<String> = violations.iter().map(|v| format!("{v:?}")).collect();
                    report.problem(path, line.number, "invalid_event", text.join("; "));
                    return Ok(());
                }
                let detail = &envelope.detail;
                let key = match self
                    .sink
                    .accept(&detail.event_id, detail.occurred_at.0, &value)?
                {
                    Accepted::Written => {
                        report.imported += 1;
                        return Ok(());
                    }
                    Accepted::Duplicate => "duplicate_request_id",
                    Accepted::AlreadyArchived => "already_archived",
                };
                *report.skipped.entry(key.into()).or_default() += 1;
            }
            Outcome::Skipped(skip) => *report.skipped.entry(skip_key(&skip)).or_default() += 1,
            Outcome::Rejected { key, message } => report.problem(path, line.number, key, message),
        }
        Ok(())
    }
}
