//! Retention: the archive's objects older than a cut-off, deleted.
//!
//! Objects are partitioned by arrival hour; an object goes once its whole hour is before the
//! cut-off. Partition directories left empty go with it. Records still in the buffer are never
//! touched: they are the newest.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use crate::writer::io_err;
use crate::{ArchiveError, ArchiveObject, Layout, list_objects};

/// Deletes every object under `root` whose partition hour ended at or before `cutoff`, and the
/// partition directories that leaves empty; returns the objects deleted, oldest first.
pub fn prune_before(
    root: &Path,
    layout: &Layout,
    cutoff: DateTime<Utc>,
) -> Result<Vec<ArchiveObject>, ArchiveError> {
    let old: Vec<ArchiveObject> = list_objects(root, layout)?
        .into_iter()
        .filter(|o| o.hour + Duration::hours(1) <= cutoff)
        .collect();
    for object in &old {
        std::fs::remove_file(&object.path).map_err(io_err("delete", &object.path))?;
        remove_empty_parents(&object.path, &root.join(&layout.prefix))?;
    }
    Ok(old)
}

/// Removes the directories above `file` up to (not including) `top` while they are empty.
fn remove_empty_parents(file: &Path, top: &Path) -> Result<(), ArchiveError> {
    let mut dir = file.parent();
    while let Some(d) = dir.filter(|d| d.starts_with(top) && *d != top) {
        match std::fs::remove_dir(d) {
            Ok(()) => dir = d.parent(),
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => dir = d.parent(),
            Err(e) => return Err(io_err("delete", d)(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::{Archive, ArchiveConfig};

    #[test]
    fn objects_of_hours_before_the_cutoff_go_with_their_empty_partitions() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = ArchiveConfig::new(dir.path());
        let (archive, _) = Archive::open(config.clone()).expect("open");
        let at = |d, h| {
            Utc.with_ymd_and_hms(2026, 1, d, h, 10, 0)
                .single()
                .expect("a time")
        };
        for (i, (d, h)) in [(1, 5), (1, 23), (2, 0), (3, 12)].into_iter().enumerate() {
            archive
                .append(&json!({"id": format!("e{i}"), "detail": {}}), at(d, h))
                .expect("append");
            archive.flush().expect("flush");
        }
        drop(archive);
        let cutoff = Utc
            .with_ymd_and_hms(2026, 1, 2, 0, 0, 0)
            .single()
            .expect("a time");
        let gone = prune_before(&config.root, &config.layout, cutoff).expect("prune");
        let hours: Vec<_> = gone.iter().map(|o| o.hour).collect();
        assert_eq!(
            hours,
            [
                Utc.with_ymd_and_hms(2026, 1, 1, 5, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 1, 1, 23, 0, 0).unwrap()
            ]
        );
        let left: Vec<_> = list_objects(&config.root, &config.layout)
            .expect("list")
            .into_iter()
            .map(|o| o.hour)
            .collect();
        assert_eq!(
            left,
            [
                Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 1, 3, 12, 0, 0).unwrap()
            ]
        );
        let day_one = config
            .root
            .join(&config.layout.prefix)
            .join("year=2026/month=01/day=01");
        assert!(!day_one.exists(), "its empty partition is left");
        assert!(
            config
                .root
                .join(&config.layout.prefix)
                .join("year=2026/month=01")
                .exists()
        );
        assert!(
            prune_before(&config.root, &config.layout, cutoff)
                .expect("again")
                .is_empty()
        );
    }
}
