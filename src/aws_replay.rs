//! `tally replay --aws`: the two ways back onto an EventBridge bus.
//!
//! - [`put_archived`]: archived envelopes (the S3 archive's objects, read from a local copy of the
//!   bucket laid out as Firehose writes it, e.g. after `aws s3 sync s3://BUCKET/events/
//!   DATA/archive/events/`) re-put with PutEvents, in requests of at most 10 entries and 256 KB,
//!   retrying with backoff only the entries a response reports failed with a transient error,
//!   dead-lettering the others with their error. PutEvents cannot set `replay-name`, so the
//!   entries carry the source `tally.replay` ([`tally_consumer::REPLAY_SOURCE`]): the counters'
//!   rule takes it, the archive's does not, so the replay does not archive its events again.
//! - [`start_replay`]: the bus's own EventBridge archive replayed onto the bus with StartReplay;
//!   EventBridge adds `replay-name`, which the archive consumer's rule excludes.

use std::time::Duration;

use anyhow::Context;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::{
    PutEventsRequestEntry as SdkEntry, ReplayDestination, ReplayState,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use tally_bus::local::{
    DeadLetter, DeadLetterCondition, DeadLetterRecord, JsonJournal, MAX_ENTRIES, MAX_REQUEST_SIZE,
    PutEventsRequestEntry, entry_size,
};

/// Error codes of a PutEvents result entry worth retrying.
const TRANSIENT: [&str; 4] = [
    "ThrottlingException",
    "InternalFailure",
    "InternalException",
    "ServiceUnavailable",
];

/// One archived envelope as a PutEvents entry onto `bus`: the source `tally.replay` (a re-put
/// replay, which the archive's rule does not take), its detail-type, detail, time and resources;
/// EventBridge gives the event a new id, the detail keeps its `event_id`.
pub fn entry_of(envelope: &Value, bus: &str) -> PutEventsRequestEntry {
    let text = |k: &str| envelope.get(k).and_then(Value::as_str).map(str::to_owned);
    PutEventsRequestEntry {
        source: Some(tally_consumer::REPLAY_SOURCE.to_owned()),
        detail_type: text("detail-type"),
        detail: envelope.get("detail").map(Value::to_string),
        resources: envelope
            .get("resources")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            }),
        time: text("time").map(tally_bus::local::EventTime::Text),
        event_bus_name: Some(bus.to_owned()),
        trace_header: None,
    }
}

/// An entry with its index in the input.
pub type Indexed = (usize, PutEventsRequestEntry);

/// Splits entries into PutEvents requests of at most [`MAX_ENTRIES`] entries and
/// [`MAX_REQUEST_SIZE`] bytes (as EventBridge counts them), in order. An entry too large for any
/// request is returned apart, with its index.
pub fn batches(entries: Vec<PutEventsRequestEntry>) -> (Vec<Vec<Indexed>>, Vec<Indexed>) {
    let mut out: Vec<Vec<Indexed>> = Vec::new();
    let mut too_large = Vec::new();
    let mut size = 0;
    for (i, entry) in entries.into_iter().enumerate() {
        let n = entry_size(&entry);
        if n > MAX_REQUEST_SIZE {
            too_large.push((i, entry));
            continue;
        }
        let full = out
            .last()
            .is_none_or(|b| b.len() == MAX_ENTRIES || size + n > MAX_REQUEST_SIZE);
        if full {
            out.push(Vec::new());
            size = 0;
        }
        size += n;
        if let Some(b) = out.last_mut() {
            b.push((i, entry));
        }
    }
    (out, too_large)
}

/// What [`put_archived`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PutReport {
    /// Entries EventBridge accepted.
    pub put: u64,
    /// PutEvents requests made.
    pub requests: u64,
    /// Entries sent again after a transient failure.
    pub retried: u64,
    /// Entries dead-lettered (permanent failure, retries spent, or too large).
    pub dead_lettered: u64,
}

/// Re-puts `envelopes` onto `bus`: batched, failed entries retried (transient errors, up to
/// `max_attempts` sends each, exponential backoff from 100 ms), the rest written to
/// `dead_letters` with their error code and message.
pub async fn put_archived(
    client: &Client,
    bus: &str,
    envelopes: &[Value],
    max_attempts: u32,
    dead_letters: &JsonJournal,
) -> anyhow::Result<PutReport> {
    let mut report = PutReport::default();
    let entries = envelopes.iter().map(|e| entry_of(e, bus)).collect();
    let (batches, too_large) = batches(entries);
    for (i, _) in too_large {
        dead_letter(dead_letters, &envelopes[i], "EntryTooLarge", 1, bus)?;
        report.dead_lettered += 1;
    }
    for batch in batches {
        let mut pending = batch;
        let mut attempt = 1;
        loop {
            let sdk: Vec<SdkEntry> = pending.iter().map(|(_, e)| to_sdk(e)).collect();
            report.requests += 1;
            let failed: Vec<(Indexed, String)> =
                match client.put_events().set_entries(Some(sdk)).send().await {
                    Ok(out) => pending
                        .into_iter()
                        .zip(out.entries().iter())
                        .filter_map(|(entry, result)| {
                            result.error_code().map(|code| {
                                let message = result.error_message().unwrap_or_default();
                                (entry, format!("{code}: {message}"))
                            })
                        })
                        .collect(),
                    // The whole request failed (throttled, network): every entry again.
                    Err(e) => {
                        let reason = format!(
                            "ThrottlingException: the request failed: {}",
                            aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                        );
                        pending.into_iter().map(|p| (p, reason.clone())).collect()
                    }
                };
            let mut again = Vec::new();
            for ((i, entry), reason) in failed {
                let transient = TRANSIENT.iter().any(|c| reason.starts_with(c));
                if transient && attempt < max_attempts {
                    again.push((i, entry));
                } else {
                    dead_letter(dead_letters, &envelopes[i], &reason, attempt, bus)?;
                    report.dead_lettered += 1;
                }
            }
            if again.is_empty() {
                break;
            }
            report.retried += again.len() as u64;
            tokio::time::sleep(Duration::from_millis(100 << (attempt - 1).min(6))).await;
            attempt += 1;
            pending = again;
        }
    }
    report.put = envelopes.len() as u64 - report.dead_lettered;
    Ok(report)
}

pub(crate) fn to_sdk(entry: &PutEventsRequestEntry) -> SdkEntry {
    let time = match &entry.time {
        Some(tally_bus::local::EventTime::Text(t)) => DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| aws_smithy_types::DateTime::from_secs(t.timestamp())),
        Some(tally_bus::local::EventTime::EpochSeconds(s)) => {
            Some(aws_smithy_types::DateTime::from_secs_f64(*s))
        }
        None => None,
    };
    SdkEntry::builder()
        .set_source(entry.source.clone())
        .set_detail_type(entry.detail_type.clone())
        .set_detail(entry.detail.clone())
        .set_resources(entry.resources.clone())
        .set_time(time)
        .set_event_bus_name(entry.event_bus_name.clone())
        .build()
}

fn dead_letter(
    file: &JsonJournal,
    envelope: &Value,
    reason: &str,
    attempts: u32,
    bus: &str,
) -> anyhow::Result<()> {
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    file.write(&DeadLetterRecord {
        time: now.clone(),
        bus: bus.to_owned(),
        rule: "replay-put-events".into(),
        rule_arn: String::new(),
        target: "PutEvents".into(),
        attempts,
        condition: if attempts > 1 {
            DeadLetterCondition::MaximumRetryAttempts
        } else {
            DeadLetterCondition::PermanentFailure
        },
        reason: reason.to_owned(),
        ingestion_time: now,
        event: envelope.clone(),
        input: None,
    })
    .context("cannot write a dead letter")
}

/// Replays the EventBridge archive `archive_arn` onto the bus `bus_arn` for the UTC days
/// `from..=to` (optionally only to the rules `filter_arns`), and waits until it has finished.
/// Returns the replay's final state.
pub async fn start_replay(
    client: &Client,
    name: &str,
    archive_arn: &str,
    bus_arn: &str,
    filter_arns: &[String],
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<ReplayState> {
    let start = from.and_hms_opt(0, 0, 0).context("from")?.and_utc();
    let end = to
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .context("to")?
        .and_utc();
    let destination = ReplayDestination::builder()
        .arn(bus_arn)
        .set_filter_arns((!filter_arns.is_empty()).then(|| filter_arns.to_vec()))
        .build()
        .context("replay destination")?;
    client
        .start_replay()
        .replay_name(name)
        .event_source_arn(archive_arn)
        .event_start_time(aws_smithy_types::DateTime::from_secs(start.timestamp()))
        .event_end_time(aws_smithy_types::DateTime::from_secs(end.timestamp()))
        .destination(destination)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_eventbridge::error::DisplayErrorContext(&e)))
        .context("StartReplay failed")?;
    loop {
        let out = client
            .describe_replay()
            .replay_name(name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_eventbridge::error::DisplayErrorContext(&e)))
            .context("DescribeReplay failed")?;
        match out.state() {
            Some(s @ (ReplayState::Completed | ReplayState::Failed | ReplayState::Cancelled)) => {
                if *s == ReplayState::Failed {
                    anyhow::bail!(
                        "replay {name} failed: {}",
                        out.state_reason().unwrap_or("no reason given")
                    );
                }
                return Ok(s.clone());
            }
            _ => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
}

/// `tally replay --aws` without `--archive-arn`: the replay engine's sink that re-puts each
/// partition's events onto an EventBridge bus ([`put_archived`]). A partition is checkpointed
/// once every entry was accepted or dead-lettered.
#[derive(Debug)]
pub struct PutEventsSink {
    runtime: tokio::runtime::Runtime,
    client: Client,
    bus: String,
    dead_letters: JsonJournal,
    max_attempts: u32,
    report: PutReport,
}

impl PutEventsSink {
    /// A sink onto `bus` through `client`; dead letters in `dead_letters`.
    pub fn new(
        runtime: tokio::runtime::Runtime,
        client: Client,
        bus: &str,
        dead_letters: JsonJournal,
    ) -> Self {
        PutEventsSink {
            runtime,
            client,
            bus: bus.to_owned(),
            dead_letters,
            max_attempts: 5,
            report: PutReport::default(),
        }
    }

    /// What it did so far.
    pub fn report(&self) -> &PutReport {
        &self.report
    }
}

impl crate::local::replay::ReplaySink for PutEventsSink {
    fn deliver(&mut self, events: Vec<Value>) -> anyhow::Result<crate::local::replay::Delivered> {
        let report = self.runtime.block_on(put_archived(
            &self.client,
            &self.bus,
            &events,
            self.max_attempts,
            &self.dead_letters,
        ))?;
        self.report.put += report.put;
        self.report.requests += report.requests;
        self.report.retried += report.retried;
        self.report.dead_lettered += report.dead_lettered;
        Ok(crate::local::replay::Delivered {
            delivered: report.put,
            dead_lettered: report.dead_lettered,
            ..Default::default()
        })
    }

    fn commit(&mut self) -> anyhow::Result<()> {
        // An entry PutEvents accepted is on the bus; dead letters are written as they happen.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(detail_bytes: usize) -> PutEventsRequestEntry {
        entry_of(
            &serde_json::json!({"source": "tally", "detail-type": "PageView", "time": "2026-03-07T08:00:00Z",
                "resources": [], "detail": {"pad": "x".repeat(detail_bytes)}}),
            "tally",
        )
    }

    #[test]
    fn at_most_ten_entries_and_256_kb_a_request() {
        let (b, big) = batches((0..25).map(|_| entry(100)).collect());
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
        assert!(big.is_empty());
        let (b, _) = batches((0..5).map(|_| entry(100_000)).collect());
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
        for request in &b {
            let size: usize = request.iter().map(|(_, e)| entry_size(e)).sum();
            assert!(size <= MAX_REQUEST_SIZE, "{size}");
        }
        let (b, big) = batches(vec![entry(10), entry(300_000), entry(10)]);
        assert_eq!(big.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
        assert_eq!(
            b.iter().flatten().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 2],
            "order kept"
        );
    }

    #[test]
    fn entries_keep_the_archived_fields() {
        let e = entry_of(
            &serde_json::json!({"id": "x", "source": "tally", "detail-type": "PageView",
                "time": "2026-03-07T08:00:00Z", "resources": ["arn:r"], "detail": {"event_id": "e1"},
                "replay-name": "r"}),
            "bus",
        );
        assert_eq!(e.source.as_deref(), Some("tally.replay"));
        assert_eq!(e.detail.as_deref(), Some(r#"{"event_id":"e1"}"#));
        assert_eq!(e.resources, Some(vec!["arn:r".to_owned()]));
        assert_eq!(e.event_bus_name.as_deref(), Some("bus"));
        let sdk = to_sdk(&e);
        assert_eq!(
            sdk.time().map(|t| t.secs()),
            Some(1_772_870_400),
            "the archived time"
        );
    }

    /// A re-put replay reaches the counters, not the archive: the event EventBridge would build
    /// from the entry, against both declared rules.
    #[test]
    fn a_re_put_replay_reaches_the_counters_and_not_the_archive() {
        let archived = serde_json::json!({"id": "x", "source": "tally", "detail-type": "PageView",
            "time": "2026-03-07T08:00:00Z", "resources": [],
            "detail": {"event_id": "e1", "schema_version": "1-0-0"}});
        let e = entry_of(&archived, "bus");
        let put = serde_json::json!({"version": "0", "id": "new", "source": e.source,
            "detail-type": e.detail_type, "time": "2026-03-07T08:00:00Z", "region": "local",
            "account": "000000000000", "resources": [], "detail": archived["detail"]});
        let matches = |d: tally_consumer::Declaration| {
            let pattern = tally_bus::Pattern::from_value(&d.rules[0].pattern).expect("pattern");
            (pattern.matches(&put), pattern.matches(&archived))
        };
        assert_eq!(
            matches(tally_archive::ArchiveConsumer::declaration()),
            (false, true),
            "the archive takes the live event, not its re-put replay"
        );
        assert_eq!(matches(tally_counters::declaration()), (true, true));
    }
}
