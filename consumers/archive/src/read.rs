//! Reading the archive back: its objects by partition, and its events in event-time order.
//!
//! A replay reads a range of days. Objects are partitioned by *arrival* hour (Firehose's
//! approximate arrival time of the object's oldest record), which is at or a little after each
//! event's `occurred_at`; an EventBridge target may retry for up to a day. So the objects of the
//! days `from - 1` to `to + 2` are read, and the events are filtered by the UTC day of their
//! `detail.occurred_at`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use serde_json::Value;

use crate::writer::collect_objects;
use crate::{ArchiveError, Layout, read_object};

/// One archive object, with its partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArchiveObject {
    /// The partition's hour: `year=…/month=…/day=…/hour=…`.
    pub hour: DateTime<Utc>,
    /// Its key under the root, `/`-separated (`events/year=…/…/name.gz`).
    pub key: String,
    /// Its file.
    pub path: PathBuf,
}

/// Every object under `root` whose key follows `layout`, sorted by key (hour, then name).
/// Files that are not objects of the layout (temporary files, other prefixes) are left out.
pub fn list_objects(root: &Path, layout: &Layout) -> Result<Vec<ArchiveObject>, ArchiveError> {
    let mut paths = Vec::new();
    collect_objects(&root.join(&layout.prefix), &mut paths)?;
    let mut out: Vec<ArchiveObject> = paths
        .into_iter()
        .filter_map(|path| {
            let key = path
                .strip_prefix(root)
                .ok()?
                .components()
                .map(|c| c.as_os_str().to_str())
                .collect::<Option<Vec<_>>>()?
                .join("/");
            let hour = partition_hour(key.strip_prefix(&layout.prefix)?)?;
            Some(ArchiveObject { hour, key, path })
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The objects that can hold events that occurred on the UTC days `from..=to` (see the module
/// documentation), sorted by key.
pub fn objects_for_days(
    root: &Path,
    layout: &Layout,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ArchiveObject>, ArchiveError> {
    let start = from.checked_sub_days(Days::new(1)).unwrap_or(from);
    let end = to.checked_add_days(Days::new(2)).unwrap_or(to);
    Ok(list_objects(root, layout)?
        .into_iter()
        .filter(|o| {
            let day = o.hour.date_naive();
            start <= day && day <= end
        })
        .collect())
}

/// `year=YYYY/month=MM/day=DD/hour=HH/…` → that hour.
fn partition_hour(key: &str) -> Option<DateTime<Utc>> {
    let mut parts = key.split('/');
    let mut next = |name: &str| -> Option<u32> { parts.next()?.strip_prefix(name)?.parse().ok() };
    let (y, m, d, h) = (
        next("year=")?,
        next("month=")?,
        next("day=")?,
        next("hour=")?,
    );
    Utc.with_ymd_and_hms(i32::try_from(y).ok()?, m, d, h, 0, 0)
        .single()
}

/// When an event happened: `detail.occurred_at`, else the envelope's `time`.
pub fn event_time(event: &Value) -> Option<DateTime<Utc>> {
    let text = event
        .pointer("/detail/occurred_at")
        .or_else(|| event.get("time"))
        .and_then(Value::as_str)?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The events of `objects` in event-time order (ties by envelope id, then as read), each with
/// the index of the object it came from.
pub fn read_in_event_order(objects: &[ArchiveObject]) -> Result<Vec<(usize, Value)>, ArchiveError> {
    let mut events = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        for event in read_object(&object.path)? {
            events.push((event_time(&event), i, event));
        }
    }
    events.sort_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            let id = |e: &Value| e.get("id").and_then(Value::as_str).map(str::to_owned);
            id(&a.2).cmp(&id(&b.2))
        })
    });
    Ok(events.into_iter().map(|(_, i, e)| (i, e)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions() {
        let t = partition_hour("year=2026/month=03/day=07/hour=05/x.gz");
        assert_eq!(
            t,
            Utc.with_ymd_and_hms(2026, 3, 7, 5, 0, 0).single(),
            "the partition's hour"
        );
        assert_eq!(
            partition_hour("year=2026/month=13/day=07/hour=05/x.gz"),
            None
        );
        assert_eq!(partition_hour("other/x.gz"), None);
    }

    #[test]
    fn event_times() {
        let e = serde_json::json!({"time": "2026-01-01T00:00:00Z", "detail": {"occurred_at": "2025-12-31T23:59:59.500Z"}});
        assert_eq!(
            event_time(&e).map(|t| t.to_rfc3339()),
            Some("2025-12-31T23:59:59.500+00:00".into())
        );
        let e = serde_json::json!({"time": "2026-01-01T00:00:00Z"});
        assert!(event_time(&e).is_some());
    }
}
