//! Where objects go: the S3 key layout Firehose produces with our prefix.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The key layout of archive objects.
///
/// ```text
/// {prefix}year=YYYY/month=MM/day=DD/hour=HH/{stream}-1-YYYY-MM-DD-HH-MM-SS-{batch}.gz
/// ```
///
/// which is what the Firehose extended S3 destination writes with the prefix
/// `{prefix}year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/`
/// and GZIP compression: the timestamp is the approximate arrival time of the oldest record in
/// the object, in UTC, and the object name is the stream name, its version, that time and a
/// random part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The key prefix before the partitions, e.g. `events/`.
    pub prefix: String,
    /// The delivery stream's name, which starts every object name.
    pub stream: String,
}

/// One object's key, split into its partition directory and its file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    /// `{prefix}year=…/month=…/day=…/hour=…/`
    pub partition: String,
    /// `{stream}-1-…-{batch}.gz`
    pub name: String,
}

impl ObjectKey {
    /// The whole key.
    pub fn key(&self) -> String {
        format!("{}{}", self.partition, self.name)
    }
}

impl Layout {
    /// The Firehose prefix expression that produces this layout.
    pub fn firehose_prefix(&self) -> String {
        format!(
            "{}year=!{{timestamp:yyyy}}/month=!{{timestamp:MM}}/day=!{{timestamp:dd}}/hour=!{{timestamp:HH}}/",
            self.prefix
        )
    }

    /// The key of the object holding a batch whose oldest record arrived at `oldest`.
    pub fn object_key(&self, oldest: DateTime<Utc>, batch: &str) -> ObjectKey {
        let t = oldest;
        ObjectKey {
            partition: format!(
                "{}year={:04}/month={:02}/day={:02}/hour={:02}/",
                self.prefix,
                t.year(),
                t.month(),
                t.day(),
                t.hour()
            ),
            name: format!(
                "{}-1-{:04}-{:02}-{:02}-{:02}-{:02}-{:02}-{batch}.gz",
                self.stream,
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_follow_the_firehose_layout() {
        let layout = Layout {
            prefix: "events/".into(),
            stream: "tally-archive".into(),
        };
        let t = Utc
            .with_ymd_and_hms(2026, 3, 7, 5, 4, 9)
            .single()
            .expect("valid time");
        let key = layout.object_key(t, "abc");
        assert_eq!(key.partition, "events/year=2026/month=03/day=07/hour=05/");
        assert_eq!(key.name, "tally-archive-1-2026-03-07-05-04-09-abc.gz");
        assert_eq!(
            layout.firehose_prefix(),
            "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
        );
    }
}
